"""API v1 of requests (tasks: ``worklist.api.views``).

Who may do what (the token's user's administrative role, as everywhere in the API; a user
without a console role gets 403 — API tokens are only issued to console-role users):

* read every request: any console role (administrator, help desk, auditor);
* create a request: administrators and help desk (``manage_users``); the auditor role is
  read-only. The request's requester is the token's user and its source ``api``;
* cancel a request: any console role, then ``request_cancel`` decides (the requester or a
  console administrator / help desk);
* decide or reassign a task: ``/api/v1/tasks/`` (``worklist.api.views``).

Every change goes through a service; a refused change leaves nothing behind.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request as HttpRequest
from rest_framework.response import Response

from blazon.api.errors import ErrorSerializer
from blazon.api.permissions import ConsoleRolePermission
from directory.api.views import ERRORS, NOT_FOUND
from directory.models import Source
from requests_workflow.api import serializers as s
from requests_workflow.api.schema import REQUEST_INPUT
from requests_workflow.models import Request, RequestEvent
from requests_workflow.services.requests import request_cancel, request_create
from worklist.api.views import DECIDED
from worklist.models import Task

__all__ = ["ConsoleRolePermission", "RequestViewSet"]  # ConsoleRolePermission: blazon.api.permissions

DUPLICATE = {
    409: OpenApiResponse(
        ErrorSerializer, description="A request for the same beneficiary and object is already pending."
    )
}


class CreatedRangeFilter(BaseFilterBackend):
    """``created_after`` / ``created_before``: a date (``2025-03-01``, whole day) or an ISO date
    and time with a time zone."""

    params = (
        ("created_after", "Created at or after this date or date-time (ISO 8601)."),
        ("created_before", "Created before this date-time, or on or before this date (ISO 8601)."),
    )

    @staticmethod
    def _parse(name: str, raw: str) -> tuple[datetime, bool]:
        """(the moment, whether ``raw`` was a whole day)."""
        try:
            day = parse_date(raw)
            moment = None if day else parse_datetime(raw)
        except ValueError:
            day = moment = None
        if day is not None:
            return timezone.make_aware(datetime.combine(day, datetime.min.time())), True
        if moment is None:
            raise ValidationError(
                {
                    name: [
                        gettext("Invalid date %(value)r: use YYYY-MM-DD or an ISO 8601 date-time.")
                        % {"value": raw}
                    ]
                }
            )
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment, False

    def filter_queryset(self, request, queryset, view):
        after = request.query_params.get("created_after")
        before = request.query_params.get("created_before")
        if after:
            moment, _ = self._parse("created_after", after)
            queryset = queryset.filter(created_at__gte=moment)
        if before:
            moment, whole_day = self._parse("created_before", before)
            if whole_day:
                queryset = queryset.filter(created_at__lt=moment + timedelta(days=1))
            else:
                queryset = queryset.filter(created_at__lt=moment)
        return queryset

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": name,
                "required": False,
                "in": "query",
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in self.params
        ]


def _refreshed_request(pk: int) -> Request:
    return RequestViewSet.detail_queryset().get(pk=pk)


@extend_schema_view(
    list=extend_schema(summary="List requests", responses={200: s.RequestSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(
        summary="Get a request with its stage history and tasks",
        responses={200: s.RequestDetailSerializer, **ERRORS, **NOT_FOUND},
    ),
    create=extend_schema(
        summary="Create a request of any of the 20 types (source api; you are the requester)",
        description="Runs stage 1 (creation) and stage 2 (validation policies) at once: bad input "
        "is refused with 400 and nothing is written. A duplicate pending request is 409 "
        "(`duplicate_pending`). Answers 201 with the request (status NEW); approval, persistence "
        "and provisioning follow in the background — follow it at `/api/v1/requests/{id}/`. "
        "The body's fields and payload depend on `type`: one schema per type (the payload "
        "components `CreateUserPayload`, `UpdateUserPayload`, `CreateAccountPayload`, "
        "`UpdateAccountPayload`, `NoPayload`; docs/api.md). A payload that does not fit its type "
        "is 400, the field named (`payload.user.first_name`, …).",
        request=REQUEST_INPUT,
        responses={201: s.RequestDetailSerializer, **ERRORS, **DUPLICATE},
    ),
)
class RequestViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Requests: every manual change to users, accounts, entitlement and role memberships, carried
    through five stages. Every console role reads all of them; administrators and help desk
    create; the requester or administrators / help desk cancel."""

    permission_classes: ClassVar[list] = [ConsoleRolePermission]
    create_capability = "manage_users"
    serializer_class = s.RequestSerializer
    filter_backends: ClassVar[list] = [
        *viewsets.ReadOnlyModelViewSet.filter_backends,
        CreatedRangeFilter,
    ]
    filterset_fields = (
        "type",
        "status",
        "beneficiary",
        "requester",
        "source",
        "resource",
        "entitlement",
        "role",
    )
    search_fields = ("beneficiary__username", "requester__username", "justification")
    ordering_fields = ("id", "created_at", "updated_at", "finished_at", "status", "type")

    @staticmethod
    def list_queryset() -> models.QuerySet:
        return Request.objects.select_related(
            "requester",
            "beneficiary",
            "resource",
            "account__owner",
            "entitlement",
            "role",
            "approval_policy",
        )

    @classmethod
    def detail_queryset(cls) -> models.QuerySet:
        return cls.list_queryset().prefetch_related(
            models.Prefetch("events", queryset=RequestEvent.objects.select_related("actor").order_by("id")),
            models.Prefetch(
                "tasks",
                queryset=Task.objects.select_related(
                    "queue", "decided_by", "on_behalf_of", "request__beneficiary"
                )
                .prefetch_related("assignees")
                .order_by("id"),
            ),
        )

    def get_queryset(self) -> models.QuerySet:
        if self.action == "list":
            return self.list_queryset()
        return self.detail_queryset()

    def get_serializer_class(self):
        return s.RequestSerializer if self.action == "list" else s.RequestDetailSerializer

    def create(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        serializer = s.RequestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        req = request_create(
            actor=request.user,
            source=Source.API,
            request_type=data.pop("type"),
            **data,
        )
        # Rendered from the objects request_create holds (it attaches the two events it wrote
        # and the empty task list): the request as created, status NEW, as documented. Reading it
        # back cost three queries, one with eight joins whose planning alone took ~5-8 ms, and
        # could show a later status if the worker had already picked it up.
        body = s.RequestDetailSerializer(req).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a request (before it is applied to the directory)",
        description="The requester or an administrator / help desk; its open tasks are canceled with it. "
        "A request already applied, rejected, canceled or finished is 409.",
        request=s.CancelInputSerializer,
        responses={200: s.RequestDetailSerializer, **ERRORS, **NOT_FOUND, **DECIDED},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def cancel(self, request: HttpRequest, pk: str | None = None) -> Response:
        req = self.get_object()
        serializer = s.CancelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        request_cancel(
            actor=request.user, source=Source.API, request=req, reason=serializer.validated_data["reason"]
        )
        return Response(s.RequestDetailSerializer(_refreshed_request(req.pk)).data)
