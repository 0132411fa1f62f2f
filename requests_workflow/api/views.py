"""API v1 of requests and tasks.

Who may do what (the token's user's administrative role, as everywhere in the API; a user
without a console role gets 403 — API tokens are only issued to console-role users):

* read every request and every task: any console role (administrator, help desk, auditor);
* create a request: administrators and help desk (``manage_users``); the auditor role is
  read-only. The request's requester is the token's user and its source ``api``;
* cancel a request: any console role, then ``request_cancel`` decides (the requester or a
  console administrator / help desk);
* decide a task (approve, reject): any console role, then the approvals services decide (an
  assignee, a member of the task's queue, the out-of-office delegate of an assignee, or an
  administrator / help desk for an unassigned task; never the requester or the beneficiary);
* reassign a task: an administrator, or one of its current assignees (``task_reassign``).

Every change goes through a service; a refused change leaves nothing behind.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.permissions import BasePermission
from rest_framework.request import Request as HttpRequest
from rest_framework.response import Response

from blazon.api.errors import ErrorSerializer
from blazon.permissions import ADMINISTRATOR, can, role_of
from directory.api.views import CONFLICT, ERRORS, NOT_FOUND
from directory.models import Source
from requests_workflow.api import serializers as s
from requests_workflow.api.schema import REQUEST_INPUT
from requests_workflow.models import Request, RequestEvent
from requests_workflow.selectors import attach_delegators, decider_filter, with_delegation
from requests_workflow.services.approvals import task_approve, task_reject
from requests_workflow.services.reassign import task_reassign
from requests_workflow.services.requests import request_cancel, request_create
from worklist.models import Task, TaskKind, TaskStatus
from worklist.registry import APPROVE, REJECT
from worklist.services import task_decide

DUPLICATE = {
    409: OpenApiResponse(
        ErrorSerializer, description="A request for the same beneficiary and object is already pending."
    )
}
DECIDED = {409: OpenApiResponse(ErrorSerializer, description="The task or its request is already decided.")}


class ConsoleRolePermission(BasePermission):
    """Any console role; the view may ask for a capability on its create (``create_capability``)."""

    message = "Your administrative role does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated or not can(user, "view"):
            return False
        capability = getattr(view, "create_capability", None)
        if capability and getattr(view, "action", None) == "create":
            return can(user, capability)
        return True


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
            raise ValidationError({name: [f"Invalid date {raw!r}: use YYYY-MM-DD or an ISO 8601 date-time."]})
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


def _truthy(raw: str | None) -> bool:
    return (raw or "").lower() in ("1", "true", "yes")


@extend_schema_view(
    list=extend_schema(
        summary="My tasks: open tasks assigned to me or to a queue I belong to",
        description="Also the open tasks of colleagues I cover for as their out-of-office delegate "
        "(`on_behalf_of` names them). Administrators and help desk also see open tasks nobody was "
        "found for (they decide those). `status` lists tasks in another status instead of the open ones; `all=1` "
        "(administrators only) lists every task of everyone.",
        parameters=[
            OpenApiParameter(
                "all", bool, description="Every task of everyone, any status (administrators only)."
            )
        ],
        responses={200: s.TaskSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(summary="Get a task", responses={200: s.TaskSerializer, **ERRORS, **NOT_FOUND}),
)
class TaskViewSet(viewsets.ReadOnlyModelViewSet):
    """Tasks: approvals, SoD conflicts, manual provisioning. Decided here or in the workspace."""

    permission_classes: ClassVar[list] = [ConsoleRolePermission]
    serializer_class = s.TaskSerializer
    filterset_fields = ("kind", "status", "request", "level")
    extra_query_params = ("all",)
    search_fields = ("title",)
    ordering_fields = ("id", "created_at", "due_at", "decided_at")

    def _base(self) -> models.QuerySet:
        qs = Task.objects.select_related(
            "request__beneficiary", "queue", "decided_by", "on_behalf_of"
        ).prefetch_related("assignees")
        user = self.request.user
        if getattr(user, "pk", None) is None:  # schema generation
            return qs
        # on_behalf_of of an open task: whom the token's user covers for (out-of-office delegate)
        return with_delegation(qs, user)

    def get_queryset(self) -> models.QuerySet:
        qs = self._base()
        if self.action != "list":
            return qs  # every console role reads any task; the services decide who acts
        user = self.request.user
        if _truthy(self.request.query_params.get("all")):
            if role_of(user) != ADMINISTRATOR:
                raise PermissionDenied("Only administrators may list every task (all=1).")
            return qs
        # the same filter as "My tasks" and the decision services: assignee, queue member or
        # out-of-office delegate of an assignee, never for one's own request
        mine = decider_filter(user)
        if can(user, "manage_users"):
            through = Task.assignees.through
            unassigned = Q(queue__isnull=True) & ~Q(Exists(through.objects.filter(task_id=OuterRef("pk"))))
            mine |= unassigned
        qs = qs.filter(mine)
        if "status" not in self.request.query_params:
            qs = qs.filter(status=TaskStatus.OPEN)
        return qs

    def list(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(self.get_serializer(attach_delegators(page), many=True).data)
        return Response(self.get_serializer(attach_delegators(queryset), many=True).data)

    def _answer(self, task: Task) -> Response:
        return Response(s.TaskSerializer(self._base().get(pk=task.pk)).data)

    @extend_schema(
        summary="Approve a task",
        description="Optionally with a comment and a shorter or later access period (within the "
        "requested one). When the level is complete the next level opens, or the request is "
        "approved and applied. An SoD task's approval is an exception to its rule: `comment` (the "
        "reason) and `exception_expires_at` are required. Someone who is not an approver gets 403; a task already decided 409.",
        request=s.ApproveInputSerializer,
        responses={200: s.TaskSerializer, **ERRORS, **NOT_FOUND, **DECIDED},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def approve(self, request: HttpRequest, pk: str | None = None) -> Response:
        task = self.get_object()
        serializer = s.ApproveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if task.kind == TaskKind.SOD:  # the sod app decides (a request's conflict or a violation)
            task_decide(
                actor=request.user,
                source=Source.API,
                task=task,
                decision=APPROVE,
                comment=data["comment"],
                start_at=data.get("start_at"),
                end_at=data.get("end_at"),
                exception_expires_at=data.get("exception_expires_at"),
            )
            return self._answer(task)
        task_approve(
            actor=request.user,
            source=Source.API,
            task=task,
            comment=data["comment"],
            start_at=data.get("start_at"),
            end_at=data.get("end_at"),
        )
        return self._answer(task)

    @extend_schema(
        summary="Reject a task (a reason is required)",
        description="The request is REJECTED and its other open tasks are canceled.",
        request=s.RejectInputSerializer,
        responses={200: s.TaskSerializer, **ERRORS, **NOT_FOUND, **DECIDED},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def reject(self, request: HttpRequest, pk: str | None = None) -> Response:
        task = self.get_object()
        serializer = s.RejectInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if task.kind == TaskKind.SOD:
            reason = serializer.validated_data["reason"]
            task_decide(actor=request.user, source=Source.API, task=task, decision=REJECT, comment=reason)
            return self._answer(task)
        task_reject(
            actor=request.user, source=Source.API, task=task, reason=serializer.validated_data["reason"]
        )
        return self._answer(task)

    @extend_schema(
        summary="Reassign a task to another user",
        description="An administrator replaces every assignee (and the queue); a current assignee "
        "hands over their own part. The new assignee must be able to sign in and may not be the "
        "requester or the beneficiary.",
        request=s.ReassignInputSerializer,
        responses={200: s.TaskSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def reassign(self, request: HttpRequest, pk: str | None = None) -> Response:
        task = self.get_object()
        serializer = s.ReassignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        task_reassign(
            actor=request.user, source=Source.API, task=task, to_user=data["to_user"], comment=data["comment"]
        )
        return self._answer(task)
