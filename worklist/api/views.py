"""API v1 of tasks (``/api/v1/tasks/``).

Who may do what (the token's user's administrative role, as everywhere in the API; a user
without a console role gets 403 — API tokens are only issued to console-role users):

* read every task: any console role (administrator, help desk, auditor); the list shows "my
  tasks" (``all=1``: every task, administrators only);
* decide a task (approve, reject): any console role, then the app that owns the task's kind
  decides (for approvals: an assignee, a member of the task's queue, the out-of-office delegate of
  an assignee, or an administrator / help desk for an unassigned task; never the requester or the
  beneficiary) — ``worklist.services.task_decide``;
* reassign a task: an administrator, or one of its current assignees (the registered reassigner).

Every change goes through a service; a refused change leaves nothing behind.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request as HttpRequest
from rest_framework.response import Response

from blazon.api.errors import ErrorSerializer
from blazon.api.permissions import ConsoleRolePermission
from blazon.permissions import ADMINISTRATOR, can, role_of
from directory.api.views import CONFLICT, ERRORS, NOT_FOUND
from directory.models import Source
from worklist.api import serializers as s
from worklist.models import Task, TaskStatus
from worklist.registry import APPROVE, REJECT
from worklist.selectors import attach_delegators, decider_filter, with_delegation
from worklist.services import task_decide, task_reassign

DECIDED = {409: OpenApiResponse(ErrorSerializer, description="The task or its request is already decided.")}


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
            "queue", "decided_by", "on_behalf_of", *s.task_related()
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
                raise PermissionDenied(gettext("Only administrators may list every task (all=1)."))
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
        "approved and applied. Someone who is not an approver gets 403; a task already decided 409.",
        request=s.ApproveInputSerializer,
        responses={200: s.TaskSerializer, **ERRORS, **NOT_FOUND, **DECIDED},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def approve(self, request: HttpRequest, pk: str | None = None) -> Response:
        task = self.get_object()
        serializer = s.ApproveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        task_decide(
            actor=request.user,
            source=Source.API,
            task=task,
            decision=APPROVE,
            comment=data["comment"],
            start_at=data.get("start_at"),
            end_at=data.get("end_at"),
            **(
                {"exception_expires_at": data["exception_expires_at"]}
                if data.get("exception_expires_at") is not None
                else {}
            ),
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
        task_decide(
            actor=request.user,
            source=Source.API,
            task=task,
            decision=REJECT,
            comment=serializer.validated_data["reason"],
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
