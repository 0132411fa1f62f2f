"""API v1 serializers of access groups and access requests."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from directory.models import Resource
from privileged.models import (
    AccessGroup,
    AccessRequest,
    AccessStatus,
    CredentialType,
    ItsmInstance,
    ItsmKind,
    LevelApprover,
    RotationPolicy,
)
from privileged.services.groups import GROUP_FIELDS, MAX_WINDOW_LIMIT
from privileged.services.itsm import ITSM_FIELDS
from privileged.services.rotation import POLICY_FIELDS
from worklist.models import ApprovalMode

REFS = serializers.ListField(child=serializers.CharField())


class AccessLevelSerializer(serializers.Serializer):
    position = serializers.IntegerField(read_only=True)
    approver_kind = serializers.ChoiceField(choices=LevelApprover.choices)
    mode = serializers.ChoiceField(choices=ApprovalMode.choices, default=ApprovalMode.ANY)
    users = serializers.ListField(
        child=serializers.CharField(max_length=150),
        required=False,
        default=list,
        max_length=50,
        help_text="Usernames (USERS levels).",
    )
    queue = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default="", help_text="Queue name (QUEUE levels)."
    )


class AccessGroupSerializer(serializers.ModelSerializer):
    """An access group: who (members) may use which credentials, under which rule."""

    itsm: serializers.SlugRelatedField[ItsmInstance] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )

    members = serializers.SerializerMethodField()
    credentials = serializers.SerializerMethodField()
    notify = serializers.SerializerMethodField()
    levels = serializers.SerializerMethodField()

    class Meta:
        model = AccessGroup
        fields = [
            "id",
            *GROUP_FIELDS,
            "members",
            "credentials",
            "notify",
            "levels",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_members(self, group: AccessGroup) -> list[str]:
        return (
            [f"user:{u.username}" for u in group.member_users.all()]
            + [f"organization:{o.code}" for o in group.member_organizations.all()]
            + [f"role:{r.code}" for r in group.member_roles.all()]
        )

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_credentials(self, group: AccessGroup) -> list[str]:
        return sorted(f"{a.resource.code}/{a.identifier}" for a in group.credentials.all())

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_notify(self, group: AccessGroup) -> list[str]:
        return sorted(u.username for u in group.notify_users.all())

    @extend_schema_field(AccessLevelSerializer(many=True))
    def get_levels(self, group: AccessGroup) -> list[dict[str, Any]]:
        return [
            {
                "position": lv.position,
                "approver_kind": lv.approver_kind,
                "mode": lv.mode,
                "users": sorted(u.username for u in lv.users.all()),
                "queue": lv.queue.name if lv.queue else "",
            }
            for lv in sorted(group.levels.all(), key=lambda lv: lv.position)
        ]


class AccessGroupInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    active = serializers.BooleanField(required=False, default=True)
    justification_required = serializers.BooleanField(required=False, default=True)
    approval_required = serializers.BooleanField(required=False, default=True)
    max_window_minutes = serializers.IntegerField(
        min_value=1, max_value=MAX_WINDOW_LIMIT, required=False, default=240
    )
    governance_code_required = serializers.BooleanField(required=False, default=False)
    emergency_allowed = serializers.BooleanField(required=False, default=False)
    itsm = serializers.SlugRelatedField(
        slug_field="name",
        queryset=ItsmInstance.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Name of the ITSM instance that checks the governance code (empty: its form only).",
    )
    members = serializers.ListField(
        child=serializers.CharField(max_length=300),
        required=False,
        default=list,
        max_length=300,
        help_text="user:<username>, organization:<code>, role:<code>",
    )
    credentials = serializers.ListField(
        child=serializers.CharField(max_length=600),
        required=False,
        default=list,
        max_length=300,
        help_text="<resource code>/<account identifier> (administrative, application or shared accounts)",
    )
    notify = serializers.ListField(
        child=serializers.CharField(max_length=150),
        required=False,
        default=list,
        max_length=100,
        help_text="Usernames.",
    )
    levels = serializers.ListField(
        child=AccessLevelSerializer(),
        required=False,
        default=list,
        max_length=5,
        help_text="Approval levels, in order.",
    )


class AccessRequestSerializer(serializers.ModelSerializer):
    """One use of a privileged credential: its justification, window and outcome."""

    requester = serializers.CharField(source="requester.username", read_only=True)
    credential = serializers.SerializerMethodField()
    group = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=AccessStatus.choices, read_only=True)
    closed_by = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "requester",
            "account",
            "credential",
            "group",
            "status",
            "emergency",
            "reason",
            "governance_code",
            "itsm_status",
            "window_start",
            "window_end",
            "level",
            "created_at",
            "approved_at",
            "used_at",
            "closed_at",
            "closed_by",
            "close_reason",
        ]

    def get_credential(self, req: AccessRequest) -> str:
        return f"{req.account.resource.code}/{req.account.identifier}"

    def get_group(self, req: AccessRequest) -> str:
        return req.group.code if req.group else str(req.rule.get("group", ""))

    def get_closed_by(self, req: AccessRequest) -> str | None:
        return req.closed_by.username if req.closed_by else None


class AccessRequestInputSerializer(serializers.Serializer):
    credential = serializers.CharField(max_length=600, help_text="<resource code>/<account identifier>")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    window_start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    window_end = serializers.DateTimeField(required=False, allow_null=True, default=None)
    governance_code = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    emergency = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Skip approval (when the group allows it): every approver is told.",
    )


class AccessDecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    window_start = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Approve only: a new start of the window."
    )
    window_end = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Approve only: a new end (up to the group's maximum).",
    )


class AccessReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AccessRevealSerializer(serializers.Serializer):
    value = serializers.CharField(
        help_text="The credential (shown to the requester, in the window only; audited)."
    )


class RotationPolicySerializer(serializers.ModelSerializer):
    """When privileged passwords rotate besides the end of an access."""

    resource: serializers.SlugRelatedField[Resource] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )

    class Meta:
        model = RotationPolicy
        fields = ["id", *POLICY_FIELDS, "created_at", "updated_at"]


class RotationPolicyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    active = serializers.BooleanField(required=False, default=True)
    resource = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Resource.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Resource code (empty: every resource).",
    )
    account_type = serializers.ChoiceField(choices=CredentialType.choices)
    every_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, allow_null=True, default=None
    )
    after_checkout = serializers.BooleanField(required=False, default=False)
    on_member_leave = serializers.BooleanField(required=False, default=False)


class ItsmInstanceSerializer(serializers.ModelSerializer):
    """An ITSM that checks governance codes. Its password or token is never shown."""

    kind = serializers.ChoiceField(choices=ItsmKind.choices, read_only=True)
    valid_states = serializers.ListField(child=serializers.CharField(), read_only=True)
    has_secret = serializers.SerializerMethodField()
    has_app_secret = serializers.SerializerMethodField()
    shows_status = serializers.BooleanField(
        read_only=True, help_text="Whether the ticket's status is shown on the request pages (not for Jira)."
    )

    class Meta:
        model = ItsmInstance
        fields = ["id", *ITSM_FIELDS, "has_secret", "has_app_secret", "shows_status"]

    def get_has_secret(self, instance: ItsmInstance) -> bool:
        return instance.secret_id is not None

    def get_has_app_secret(self, instance: ItsmInstance) -> bool:
        return instance.app_secret_id is not None


class ItsmInstanceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=ItsmKind.choices)
    base_url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    url_template = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    status_pointer = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    username = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    secret_value = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, default="", write_only=True,
        help_text="ServiceNow: the user's password; Jira: an API token; GLPI: the user token; REST: a bearer "
        "token. Kept in the vault, never shown.",
    )  # fmt: skip
    app_secret_value = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, default="", write_only=True,
        help_text="GLPI: the API client's application token. Kept in the vault, never shown.",
    )  # fmt: skip
    valid_states = serializers.ListField(
        child=serializers.CharField(max_length=100), min_length=1, max_length=50
    )
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=60, required=False, default=5)
