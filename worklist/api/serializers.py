"""API v1 serializers of tasks.

The output serializer describes a task; what it says of the task's subject beyond its id
(``request_type``, ``request_status``, ``beneficiary``) is contributed by the app that owns the
subject (``worklist.registry.register_task_api_fields``), so this module imports no app above the
worklist. Input serializers only check the shape of a body and hand the values to the worklist
services, which hand the decision to the kind's app."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from blazon.api.fields import EnumField
from directory.api.fields import UserLookupField
from directory.api.serializers import UserRefSerializer
from directory.models import User
from worklist.models import ApprovalMode, Task, TaskKind, TaskStatus
from worklist.registry import task_api_fields


class TaskRefQueueSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class TaskSerializer(serializers.ModelSerializer):
    """A task: what to decide, who may decide it (assignees and/or a queue), and the decision."""

    kind = EnumField(TaskKind, "TaskKindEnum", read_only=True)
    status = EnumField(TaskStatus, "TaskStatusEnum", read_only=True)
    mode = EnumField(ApprovalMode, "ApprovalModeEnum", read_only=True)
    request = serializers.IntegerField(source="request_id", read_only=True, allow_null=True)
    assignees = UserRefSerializer(many=True, read_only=True)
    queue = TaskRefQueueSerializer(read_only=True, allow_null=True)
    decided_by = UserRefSerializer(read_only=True, allow_null=True)
    on_behalf_of = serializers.SerializerMethodField(
        help_text="A decided task: the assignee the decision was made for by their out-of-office "
        "delegate (``decided_by``). An open task in your list: the assignee you cover for. "
        "Null otherwise."
    )
    overdue = serializers.BooleanField(
        read_only=True, help_text="Open and past its due date (due_at, set by its task definition's SLA)."
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "kind",
            "status",
            "title",
            "request",
            "level",
            "mode",
            "assignees",
            "queue",
            "decided_by",
            "on_behalf_of",
            "comment",
            "created_at",
            "decided_at",
            "due_at",
            "overdue",
        ]
        read_only_fields = fields

    def get_fields(self) -> dict[str, serializers.Field]:
        """The task's fields, with the subject fields the owning apps registered after
        ``request``."""
        fields = super().get_fields()
        extra: dict[str, Any] = {}
        for contribution in task_api_fields():
            extra.update(contribution.fields())
        if not extra:
            return fields
        ordered: dict[str, serializers.Field] = {}
        for name, field in fields.items():
            ordered[name] = field
            if name == "request":
                ordered.update(extra)
        return ordered

    @extend_schema_field(UserRefSerializer(allow_null=True))
    def get_on_behalf_of(self, obj: Task) -> dict[str, Any] | None:
        if obj.on_behalf_of_id:
            user = obj.on_behalf_of
        elif getattr(obj, "delegated_from_id", None):
            # attach_delegators() fills this for a whole list at once; one task may look it up
            user = (
                getattr(obj, "delegated_from", None) or User.objects.filter(pk=obj.delegated_from_id).first()
            )
        else:
            user = None
        return UserRefSerializer(user).data if user is not None else None


def task_related() -> tuple[str, ...]:
    """What the registered subject fields read, for ``select_related``."""
    return tuple(name for contribution in task_api_fields() for name in contribution.related)


class ApproveInputSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    start_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Move the access start (not before the requested one)."
    )
    end_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Shorten the access (not after the requested end)."
    )
    exception_expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="SoD tasks: when the exception granted by this approval ends (required there).",
    )


class RejectInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why: required, told to the requester.")


class ReassignInputSerializer(serializers.Serializer):
    to_user = UserLookupField(help_text="The new assignee: a user id or username.")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
