"""API v1 of out-of-office delegations: ``/api/v1/delegations/``.

Any console role lists the delegations they gave or received (``all=1``: everyone's; like
requests and tasks, every console role reads any delegation), delegates their own tasks and
revokes their own delegations. Administrators and help desk (``manage_users``) also set and revoke
delegations for anyone. The rules (who may, delegate able to sign in, period, overlaps, loops and
chains) are ``delegation_create``'s / ``delegation_revoke``'s; a refused one changes nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request as HttpRequest
from rest_framework.response import Response

from blazon.api.errors import ErrorSerializer
from blazon.api.permissions import ConsoleRolePermission
from directory.api.views import ERRORS, NOT_FOUND
from directory.models import Source
from requests_workflow.api import serializers as s
from requests_workflow.models import Delegation, DelegationState
from requests_workflow.services.delegation import delegation_create, delegation_revoke

CONFLICTS = {
    409: OpenApiResponse(
        ErrorSerializer,
        description="Overlaps another delegation of the delegator, or would make a loop or chain "
        "(the delegate is away too, or the delegator covers for someone); revoking one already "
        "revoked or ended.",
    )
}


def _by_state(qs: models.QuerySet, state: str) -> models.QuerySet:
    now = timezone.now()
    live = qs.filter(revoked_at__isnull=True)
    return {
        DelegationState.ACTIVE: live.filter(start_at__lte=now, end_at__gt=now),
        DelegationState.UPCOMING: live.filter(start_at__gt=now),
        DelegationState.ENDED: live.filter(end_at__lte=now),
        DelegationState.REVOKED: qs.filter(revoked_at__isnull=False),
    }[state]


@extend_schema_view(
    list=extend_schema(
        summary="My delegations: the ones I gave and the ones given to me",
        description="Newest first. `all=1` lists everyone's.",
        parameters=[
            OpenApiParameter("all", bool, description="Every delegation of everyone, not only mine."),
            OpenApiParameter(
                "state", str, enum=DelegationState.values, description="Only delegations in this state now."
            ),
        ],
        responses={200: s.DelegationSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="Get a delegation", responses={200: s.DelegationSerializer, **ERRORS, **NOT_FOUND}
    ),
    create=extend_schema(
        summary="Delegate tasks while out of office",
        description="While the delegation is active the delegate sees and decides the delegator's "
        "tasks (all, or approval tasks only), recorded as theirs on behalf of the delegator. "
        "`delegator` defaults to you; someone else needs an administrator or help desk role (403). "
        "The period ends after it starts and lasts at most 90 days; the delegate is someone else, "
        "active, able to sign in (400). Overlapping delegations of the delegator, loops and chains "
        "are 409.",
        request=s.DelegationInputSerializer,
        responses={201: s.DelegationSerializer, **ERRORS, **CONFLICTS},
    ),
)
class DelegationViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Out-of-office delegations."""

    permission_classes: ClassVar[list] = [ConsoleRolePermission]
    serializer_class = s.DelegationSerializer
    queryset = Delegation.objects.none()  # for the schema; get_queryset is the real one
    filterset_fields = ("delegator", "delegate", "scope")
    extra_query_params = ("all", "state")
    search_fields = ("delegator__username", "delegate__username", "reason")
    ordering_fields = ("id", "start_at", "end_at", "created_at")

    def get_queryset(self) -> models.QuerySet:
        qs = Delegation.objects.select_related("delegator", "delegate", "created_by", "revoked_by").order_by(
            "-start_at", "-id"
        )
        user = self.request.user
        if getattr(user, "pk", None) is None:  # schema generation
            return qs.none()
        everyone = (self.request.query_params.get("all") or "").lower() in ("1", "true", "yes")
        if self.action == "list" and not everyone:
            qs = qs.filter(Q(delegator=user) | Q(delegate=user))
        state = self.request.query_params.get("state") if self.action == "list" else None
        if state:
            if state not in DelegationState.values:
                raise ValidationError(
                    {
                        "state": [
                            gettext("Unknown state %(state)r; expected one of %(values)s.")
                            % {"state": state, "values": ", ".join(DelegationState.values)}
                        ]
                    }
                )
            qs = _by_state(qs, state)
        return qs

    def create(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        serializer = s.DelegationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        delegation = delegation_create(
            actor=request.user,
            source=Source.API,
            delegator=data.pop("delegator", None) or request.user,
            **data,
        )
        body = s.DelegationSerializer(self.get_queryset().model.objects.get(pk=delegation.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Revoke a delegation (end it now)",
        description="The delegator, or an administrator / help desk (otherwise 403). From then on "
        "the delegate no longer sees or decides the delegator's undecided tasks; decisions already "
        "made stand. A delegation already revoked or ended is 409.",
        request=s.DelegationRevokeInputSerializer,
        responses={200: s.DelegationSerializer, **ERRORS, **NOT_FOUND, **CONFLICTS},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def revoke(self, request: HttpRequest, pk: str | None = None) -> Response:
        delegation = self.get_object()
        serializer = s.DelegationRevokeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        delegation_revoke(
            actor=request.user,
            source=Source.API,
            delegation=delegation,
            reason=serializer.validated_data["reason"],
        )
        delegation.refresh_from_db()
        return Response(s.DelegationSerializer(delegation).data)
