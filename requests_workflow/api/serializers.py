"""API v1 serializers of requests and tasks.

Output serializers describe a request (with its stage history and tasks in the detail) and a
task; input serializers only check the shape of the body and hand the values to the services of
``requests_workflow.services``, which hold the rules (validation policies, who may approve).

The choice fields (request type and status, task kind, status and mode) are named enum
components of the OpenAPI schema (``RequestTypeEnum``, …) through ``EnumField``, so clients get
the 20 type codes as an enum and the names never collide with the directory's ``status`` enums.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from directory.api.serializers import (
    AccountRefSerializer,
    EntitlementRefSerializer,
    ResourceRefSerializer,
    RoleRefSerializer,
    UserRefSerializer,
)
from directory.models import Account, Entitlement, Resource, Role, User
from requests_workflow.models import (
    Delegation,
    DelegationScope,
    DelegationState,
    Request,
    RequestEvent,
    RequestStatus,
    RequestType,
)
from worklist.models import ApprovalMode, Task, TaskKind, TaskStatus

# ---------------------------------------------------------------------------------------------
# enums as named schema components


class EnumField(serializers.ChoiceField):
    """A choice field documented as the schema component ``component`` (one per choice set)."""

    def __init__(self, choices_class: type[models.TextChoices], component: str, **kwargs: Any):
        self.choices_class = choices_class
        self.component = component
        super().__init__(choices=choices_class.choices, **kwargs)


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField

    def map_serializer_field(self, auto_schema, direction):
        field: EnumField = self.target
        lines = "\n".join(f"* `{value}` - {label}" for value, label in field.choices_class.choices)
        component = ResolvedComponent(
            name=field.component,
            type=ResolvedComponent.SCHEMA,
            object=field.component,
            schema={"type": "string", "enum": list(field.choices_class.values), "description": lines},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def request_type_field(**kwargs: Any) -> EnumField:
    return EnumField(RequestType, "RequestTypeEnum", **kwargs)


def request_status_field(**kwargs: Any) -> EnumField:
    return EnumField(RequestStatus, "RequestStatusEnum", **kwargs)


# ---------------------------------------------------------------------------------------------
# output


class TaskRefQueueSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class TaskSerializer(serializers.ModelSerializer):
    """A task: what to decide, who may decide it (assignees and/or a queue), and the decision."""

    kind = EnumField(TaskKind, "TaskKindEnum", read_only=True)
    status = EnumField(TaskStatus, "TaskStatusEnum", read_only=True)
    mode = EnumField(ApprovalMode, "ApprovalModeEnum", read_only=True)
    request = serializers.IntegerField(source="request_id", read_only=True, allow_null=True)
    request_type = EnumField(
        RequestType, "RequestTypeEnum", source="request.type", read_only=True, allow_null=True
    )
    request_status = EnumField(
        RequestStatus, "RequestStatusEnum", source="request.status", read_only=True, allow_null=True
    )
    beneficiary = UserRefSerializer(source="request.beneficiary", read_only=True, allow_null=True)
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
            "request_type",
            "request_status",
            "beneficiary",
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


class RequestEventSerializer(serializers.ModelSerializer):
    """One line of the stage history: the stage, the status move (if any), who and what."""

    actor = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = RequestEvent
        fields = ["id", "stage", "from_status", "to_status", "actor", "message", "at"]
        read_only_fields = fields


class ApprovalPolicyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class RequestSerializer(serializers.ModelSerializer):
    type = request_type_field(read_only=True)
    type_display = serializers.CharField(source="get_type_display", read_only=True)
    status = request_status_field(read_only=True)
    requester = UserRefSerializer(read_only=True, allow_null=True)
    beneficiary = UserRefSerializer(read_only=True, allow_null=True)
    resource = ResourceRefSerializer(read_only=True, allow_null=True)
    account = AccountRefSerializer(read_only=True, allow_null=True)
    entitlement = EntitlementRefSerializer(read_only=True, allow_null=True)
    role = RoleRefSerializer(read_only=True, allow_null=True)
    approval_policy = ApprovalPolicyRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Request
        # Listed explicitly: never the stage-4 ``result`` (previous values) or internal keys.
        fields = [
            "id",
            "type",
            "type_display",
            "status",
            "stage",
            "source",
            "requester",
            "beneficiary",
            "resource",
            "account",
            "entitlement",
            "role",
            "payload",
            "justification",
            "start_at",
            "end_at",
            "approval_policy",
            "approval_level",
            "failure_reason",
            "origin",
            "created_at",
            "updated_at",
            "applied_at",
            "finished_at",
        ]
        read_only_fields = fields


class RequestDetailSerializer(RequestSerializer):
    """A request with its stage history (oldest first) and its tasks."""

    events = RequestEventSerializer(many=True, read_only=True)
    tasks = TaskSerializer(many=True, read_only=True)

    class Meta(RequestSerializer.Meta):
        fields = [*RequestSerializer.Meta.fields, "events", "tasks"]
        read_only_fields = fields


# ---------------------------------------------------------------------------------------------
# input


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class UserLookupField(serializers.Field):
    """A user by id (a JSON number) or by username (a JSON string)."""

    default_error_messages = {
        "unknown_id": "No user with id {value}.",
        "unknown_username": "No user with username {value!r}.",
        "invalid": "Give a user id (number) or a username (string).",
    }

    def to_internal_value(self, data: Any) -> User:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            user = User.objects.filter(pk=data).first()
            if user is None:
                self.fail("unknown_id", value=data)
            return user
        if isinstance(data, str) and data.strip():
            user = User.objects.filter(username=data.strip()).first()
            if user is None:
                self.fail("unknown_username", value=data.strip())
            return user
        self.fail("invalid")
        raise AssertionError  # pragma: no cover - fail() raises

    def to_representation(self, value: User) -> Any:
        return value.pk


def _ref(model: type[models.Model], help_text: str, *related: str) -> serializers.PrimaryKeyRelatedField:
    """``related``: what request_create and the response read of the object (its ``str()``
    names the resource), fetched in the same query."""
    return serializers.PrimaryKeyRelatedField(
        queryset=model.objects.select_related(*related) if related else model.objects.all(),
        required=False,
        allow_null=True,
        help_text=help_text,
    )


class RequestInputSerializer(serializers.Serializer):
    """What a request asks for. Which fields a type needs is checked by the validation policies
    (stage 2); see docs/requests.md for the table of types."""

    type = request_type_field(help_text="One of the 20 request type codes.")
    beneficiary = UserLookupField(
        required=False,
        allow_null=True,
        help_text="For whom: a user id or username. Left out for CREATE_USER, and for account "
        "types it defaults to the account's owner.",
    )
    resource = _ref(Resource, "A resource id (CREATE_ACCOUNT).")
    account = _ref(
        Account, "An account id (account types, REVOKE_ENTITLEMENT).", "resource", "owner", "responsible"
    )
    entitlement = _ref(Entitlement, "An entitlement id (GRANT_/REVOKE_ENTITLEMENT).", "resource")
    role = _ref(Role, "A role id (GRANT_/REVOKE_ROLE).")
    payload = serializers.DictField(
        required=False,
        default=dict,
        help_text='The type\'s data, e.g. {"user": {…}} for CREATE_USER or {"changes": {…}} for '
        "UPDATE_USER, checked against the type's payload shape (requests_workflow.payloads). "
        "Never secrets.",
    )
    justification = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    start_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Access starts.")
    end_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Access ends.")


class CancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


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


# ---------------------------------------------------------------------------------------------
# out-of-office delegations


class DelegationSerializer(serializers.ModelSerializer):
    """An out-of-office delegation: while ``state`` is ACTIVE the delegate may decide the
    delegator's tasks (all of them, or approval tasks only) on their behalf."""

    delegator = UserRefSerializer(read_only=True)
    delegate = UserRefSerializer(read_only=True)
    scope = EnumField(DelegationScope, "DelegationScopeEnum", read_only=True)
    state = serializers.SerializerMethodField()
    created_by = UserRefSerializer(read_only=True, allow_null=True)
    revoked_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Delegation
        fields = [
            "id",
            "delegator",
            "delegate",
            "start_at",
            "end_at",
            "scope",
            "reason",
            "state",
            "created_by",
            "created_at",
            "revoked_at",
            "revoked_by",
        ]
        read_only_fields = fields

    @extend_schema_field(EnumField(DelegationState, "DelegationStateEnum"))
    def get_state(self, obj: Delegation) -> str:
        return str(obj.state())


class DelegationInputSerializer(serializers.Serializer):
    """A new delegation. The rules (who may, who may be the delegate, period, overlaps, loops)
    are checked by ``delegation_create``; see docs/api.md."""

    delegator = UserLookupField(
        required=False,
        allow_null=True,
        help_text="Whose tasks: a user id or username. Default: you. Someone else needs an "
        "administrator or help desk role.",
    )
    delegate = UserLookupField(help_text="Who covers: a user id or username (active, able to sign in).")
    start_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Start (ISO 8601); empty or past means now."
    )
    end_at = serializers.DateTimeField(help_text="End (ISO 8601), after the start, at most 90 days later.")
    scope = EnumField(
        DelegationScope,
        "DelegationScopeEnum",
        required=False,
        default=DelegationScope.ALL,
        help_text="ALL (every task) or APPROVAL (approval tasks only).",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class DelegationRevokeInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
