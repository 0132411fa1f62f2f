"""API v1 of privileged access.

``/access-groups/``: read with any console role, change as an administrator (through
``privileged.services.groups``). ``/access-requests/``: any active user; a user sees their own
requests and those they approve (console roles see all), creates their own, and the actions check
who may act (the requester cancels, declares an emergency and reveals; an approver approves,
disapproves and revokes). Every change goes through ``privileged.services.flow``."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.api.views import CONFLICT, ERRORS, NOT_FOUND, ConfigViewSet, _read_schema, _write_schema
from directory.models import Account, Source, User, UserStatus
from privileged import selectors
from privileged.api import serializers as s
from privileged.models import AccessRequest, AccessStatus, ItsmInstance, RotationPolicy
from privileged.services.flow import (
    access_request_cancel,
    access_request_create,
    access_request_emergency,
    access_request_revoke,
    access_reveal,
    may_decide,
)
from privileged.services.groups import access_group_create, access_group_delete, access_group_update
from privileged.services.itsm import itsm_instance_create, itsm_instance_delete, itsm_instance_update
from privileged.services.rotation import (
    rotation_policy_create,
    rotation_policy_delete,
    rotation_policy_update,
)
from worklist.models import Task, TaskStatus
from worklist.registry import APPROVE, REJECT
from worklist.services import task_decide


def _groups(user: Any) -> QuerySet[Any]:
    return selectors.groups_all()


@extend_schema_view(
    **_read_schema("access groups", s.AccessGroupSerializer),
    **_write_schema("access groups", s.AccessGroupInputSerializer, s.AccessGroupSerializer),
)
class AccessGroupViewSet(ConfigViewSet):
    """Access groups: members (`user:`, `organization:`, `role:`) may use the credentials
    (`<resource>/<identifier>`) under the group's rule. A user in several groups of one credential
    gets the most restrictive rule (docs/privileged-access.md)."""

    selector = _groups
    serializer_class = s.AccessGroupSerializer
    input_serializer_class = s.AccessGroupInputSerializer
    create_service = access_group_create
    update_service = access_group_update
    delete_service = access_group_delete
    object_kw = "group"
    filterset_fields = ("active", "approval_required", "governance_code_required", "emergency_allowed")
    search_fields = ("code", "name", "description")
    ordering_fields = ("id", "code", "name", "max_window_minutes")


def _policies(user: Any) -> QuerySet[Any]:
    return RotationPolicy.objects.select_related("resource").order_by("name")


@extend_schema_view(
    **_read_schema("rotation policies", s.RotationPolicySerializer),
    **_write_schema("rotation policies", s.RotationPolicyInputSerializer, s.RotationPolicySerializer),
)
class RotationPolicyViewSet(ConfigViewSet):
    """When privileged passwords rotate besides the end of an access: `every_days` (by age),
    `after_checkout`, `on_member_leave` (shared accounts), for one `account_type` on one `resource`
    (empty: every resource)."""

    selector = _policies
    serializer_class = s.RotationPolicySerializer
    input_serializer_class = s.RotationPolicyInputSerializer
    create_service = rotation_policy_create
    update_service = rotation_policy_update
    delete_service = rotation_policy_delete
    object_kw = "policy"
    filterset_fields = ("active", "account_type")
    search_fields = ("name",)
    ordering_fields = ("id", "name")


def _itsm(user: Any) -> QuerySet[Any]:
    return ItsmInstance.objects.order_by("name")


@extend_schema_view(
    **_read_schema("ITSM instances", s.ItsmInstanceSerializer),
    **_write_schema("ITSM instances", s.ItsmInstanceInputSerializer, s.ItsmInstanceSerializer),
)
class ItsmInstanceViewSet(ConfigViewSet):
    """ITSM instances that check governance codes: ServiceNow (Table API) or a generic REST template.
    `secret_value` (password or token) is written to the vault and never read back."""

    selector = _itsm
    serializer_class = s.ItsmInstanceSerializer
    input_serializer_class = s.ItsmInstanceInputSerializer
    create_service = itsm_instance_create
    update_service = itsm_instance_update
    delete_service = itsm_instance_delete
    object_kw = "instance"
    filterset_fields = ("kind",)
    search_fields = ("name",)
    ordering_fields = ("id", "name")


class ActiveUser(BasePermission):
    """Any signed-in active user; the services decide who may act on which request."""

    message = "Sign in as an active user."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "status", None) == UserStatus.ACTIVE)


DECIDE = {200: s.AccessRequestSerializer, **ERRORS, **NOT_FOUND, **CONFLICT}


@extend_schema_view(**_read_schema("access requests", s.AccessRequestSerializer))
class AccessRequestViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Privileged access requests (seed 003): PENDING while the levels approve, APPROVED for the
    window, then EXPIRED, REVOKED, DISAPPROVED or CANCELED."""

    permission_classes = [ActiveUser]  # noqa: RUF012 (DRF's own attribute)
    serializer_class = s.AccessRequestSerializer
    filterset_fields = ("status", "emergency", "account")
    search_fields = ("governance_code", "reason")
    ordering_fields = ("id", "created_at", "window_start", "window_end")

    def get_queryset(self) -> QuerySet[AccessRequest]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return AccessRequest.objects.none()
        user = cast(User, self.request.user)
        return selectors.visible_requests(user, everything=can(user, "view"))

    def _out(self, req: AccessRequest, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(
            s.AccessRequestSerializer(self.get_queryset().get(pk=req.pk)).data, status=http_status
        )

    @extend_schema(
        summary="Ask to use a privileged credential",
        request=s.AccessRequestInputSerializer,
        responses={201: s.AccessRequestSerializer, **ERRORS, **CONFLICT},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.AccessRequestInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        code, __, identifier = str(data.pop("credential")).partition("/")
        account = Account.objects.filter(resource__code=code, identifier=identifier).first()
        if account is None:
            raise ValidationFailed(
                "No such credential: use <resource code>/<account identifier>.",
                fields={"credential": ["No such credential."]},
            )
        req = access_request_create(
            actor=cast(User, request.user), source=Source.API, account=account, **data
        )
        return self._out(req, status.HTTP_201_CREATED)

    def _decide(self, request: Request, decision: str) -> Response:
        req = self.get_object()
        body = s.AccessDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = cast(User, request.user)
        if req.requester_id == user.pk:
            raise NotAllowed("You cannot approve or disapprove your own access request.")
        open_tasks = Task.objects.filter(
            subject_kind="access_request", subject_id=req.pk, status=TaskStatus.OPEN
        )
        task = next((t for t in open_tasks.select_related("queue") if may_decide(user, t)), None)
        if task is None:
            if req.status != AccessStatus.PENDING:
                raise Conflict(
                    f"Access request #{req.pk} is {req.get_status_display().lower()}: it can no longer change.",
                    code="request_finished",
                )
            raise NotAllowed("Nothing of this request waits for your decision.")
        data = body.validated_data
        task_decide(
            actor=user,
            source=Source.API,
            task=task,
            decision=decision,
            comment=data["comment"],
            window_start=data["window_start"] if decision == APPROVE else None,
            window_end=data["window_end"] if decision == APPROVE else None,
        )
        return self._out(req)

    @extend_schema(
        summary="Approve your level of an access request (optionally another window)",
        request=s.AccessDecisionSerializer,
        responses=DECIDE,
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, APPROVE)

    @extend_schema(
        summary="Disapprove an access request", request=s.AccessDecisionSerializer, responses=DECIDE
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def disapprove(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, REJECT)

    @extend_schema(
        summary="Cancel your own access request", request=s.AccessReasonSerializer, responses=DECIDE
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        body = s.AccessReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        req = access_request_cancel(
            actor=cast(User, request.user),
            source=Source.API,
            request=self.get_object(),
            reason=body.validated_data["reason"],
        )
        return self._out(req)

    @extend_schema(
        summary="Revoke an approved access now (any approver): the credential is taken back and rotated",
        request=s.AccessReasonSerializer,
        responses=DECIDE,
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        body = s.AccessReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        req = access_request_revoke(
            actor=cast(User, request.user),
            source=Source.API,
            request=self.get_object(),
            reason=body.validated_data["reason"],
        )
        return self._out(req)

    @extend_schema(
        summary="Declare an emergency on your pending request: approval is skipped, every approver is told",
        request=None,
        responses=DECIDE,
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def emergency(self, request: Request, pk: str | None = None) -> Response:
        req = access_request_emergency(
            actor=cast(User, request.user), source=Source.API, request=self.get_object()
        )
        return self._out(req)

    @extend_schema(
        summary="The credential's value, for the requester during the approved window (audited)",
        request=None,
        responses={200: s.AccessRevealSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def reveal(self, request: Request, pk: str | None = None) -> Response:
        value = access_reveal(actor=cast(User, request.user), source=Source.API, request=self.get_object())
        return Response({"value": value})
