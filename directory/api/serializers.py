"""API v1 serializers of the directory.

Output serializers (``*Serializer``) describe what the API shows and never carry password
hashes or secrets; input serializers (``*InputSerializer``) only check the shape of a request
and hand the values to a service, which holds the rules.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from directory import ports
from directory.models import (
    Account,
    AttributeDefinition,
    AttributeScope,
    AttributeType,
    Criticality,
    DirectoryEvent,
    DirectoryEventDecision,
    Entitlement,
    EntitlementMembership,
    Organization,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
    Role,
    RoleChange,
    RoleMembership,
    User,
    UsernamePolicy,
)
from directory.services.lifecycle.events import DECISIONS

# ---------------------------------------------------------------------------------------------
# references: the few fields a list shows about a related object


class UserRefSerializer(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "display_name"]

    def get_display_name(self, obj: User) -> str:
        return str(obj)


class OrganizationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "code", "name"]


class ResourceRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Resource
        fields = ["id", "code", "name"]


class EntitlementRefSerializer(serializers.ModelSerializer):
    resource = serializers.IntegerField(source="resource_id", read_only=True)

    class Meta:
        model = Entitlement
        fields = ["id", "identifier", "name", "resource"]


class RoleRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Role
        fields = ["id", "code", "name"]


class WhySerializer(serializers.Serializer):
    """Why an access exists: a manual decision keeps it, and/or these roles grant it."""

    manual = serializers.BooleanField(read_only=True)
    roles = serializers.SerializerMethodField()

    @extend_schema_field(RoleRefSerializer(many=True))
    def get_roles(self, obj: Any) -> list[dict[str, Any]]:
        # ``role_grants`` is prefetched with its role by the selectors.
        return RoleRefSerializer([g.role for g in obj.role_grants.all()], many=True).data


# ---------------------------------------------------------------------------------------------
# read-only directory objects


class UserSerializer(serializers.ModelSerializer):
    organization = OrganizationRefSerializer(read_only=True, allow_null=True)
    manager = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = User
        # Listed explicitly: never ``password`` or anything secret.
        fields = [
            "id",
            "username",
            "display_name",
            "first_name",
            "last_name",
            "email",
            "status",
            "login_locked",
            "organization",
            "manager",
            "job_title",
            "department",
            "employee_type",
            "start_date",
            "end_date",
            "inactive_since",
            "revoked_at",
            "removed_at",
            "status_changed_at",
            "console_role",
            "attributes",
            "created_source",
            "date_joined",
        ]
        read_only_fields = fields


class AccountSerializer(serializers.ModelSerializer):
    resource = ResourceRefSerializer(read_only=True)
    owner = UserRefSerializer(read_only=True, allow_null=True)
    responsible = UserRefSerializer(read_only=True, allow_null=True)
    why = WhySerializer(source="*", read_only=True)
    is_orphan = serializers.BooleanField(read_only=True)

    class Meta:
        model = Account
        fields = [
            "id",
            "identifier",
            "resource",
            "owner",
            "is_orphan",
            "account_type",
            "status",
            "management",
            "why",
            "is_temporary",
            "expires_at",
            "responsible",
            "attributes",
            "created_at",
            "updated_at",
            "status_changed_at",
        ]
        read_only_fields = fields


class AccountRefSerializer(serializers.ModelSerializer):
    owner = UserRefSerializer(read_only=True, allow_null=True)
    resource = serializers.IntegerField(source="resource_id", read_only=True)

    class Meta:
        model = Account
        fields = ["id", "identifier", "resource", "owner", "status"]


class EntitlementMembershipSerializer(serializers.ModelSerializer):
    account = AccountRefSerializer(read_only=True)
    entitlement = EntitlementRefSerializer(read_only=True)
    why = WhySerializer(source="*", read_only=True)

    class Meta:
        model = EntitlementMembership
        fields = ["id", "account", "entitlement", "management", "why", "created_at"]
        read_only_fields = fields


class RoleMembershipSerializer(serializers.ModelSerializer):
    user = UserRefSerializer(read_only=True)
    role = RoleRefSerializer(read_only=True)

    class Meta:
        model = RoleMembership
        fields = ["id", "user", "role", "management", "start_date", "end_date", "created_at"]
        read_only_fields = fields


# ---------------------------------------------------------------------------------------------
# configuration objects: output


class OrganizationSerializer(serializers.ModelSerializer):
    parent = OrganizationRefSerializer(read_only=True, allow_null=True)
    owner = UserRefSerializer(read_only=True, allow_null=True)
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Organization
        fields = ["id", "code", "name", "parent", "owner", "member_count", "created_at"]
        read_only_fields = fields


class ProvisioningModesField(serializers.DictField):
    """Each of the eleven provisioning events mapped to AUTOMATIC, MANUAL or DISABLED."""

    child = serializers.ChoiceField(choices=ProvisioningMode.choices)


class ResourceSerializer(serializers.ModelSerializer):
    owners = UserRefSerializer(many=True, read_only=True)
    provisioning_modes = serializers.SerializerMethodField()
    account_count = serializers.IntegerField(read_only=True)
    entitlement_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Resource
        fields = [
            "id",
            "code",
            "name",
            "description",
            "owners",
            "criticality",
            "self_service",
            "certifiable",
            "provisioning_modes",
            "account_count",
            "entitlement_count",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                e: {"type": "string", "enum": ProvisioningMode.values} for e in ProvisioningEvent.values
            },
        }
    )
    def get_provisioning_modes(self, obj: Resource) -> dict[str, str]:
        return {event: obj.mode_for(event) for event in ProvisioningEvent.values}


class EntitlementSerializer(serializers.ModelSerializer):
    resource = ResourceRefSerializer(read_only=True)
    owner = UserRefSerializer(read_only=True, allow_null=True)
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Entitlement
        fields = [
            "id",
            "resource",
            "identifier",
            "name",
            "description",
            "owner",
            "criticality",
            "self_service",
            "certifiable",
            "attributes",
            "member_count",
            "created_at",
        ]
        read_only_fields = fields


class RoleSerializer(serializers.ModelSerializer):
    owner = UserRefSerializer(read_only=True, allow_null=True)
    resources = serializers.SerializerMethodField()
    entitlements = serializers.SerializerMethodField()
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Role
        fields = [
            "id",
            "code",
            "name",
            "description",
            "owner",
            "criticality",
            "self_service",
            "certifiable",
            "resources",
            "entitlements",
            "member_count",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ResourceRefSerializer(many=True))
    def get_resources(self, obj: Role) -> list[dict[str, Any]]:
        return ResourceRefSerializer([rr.resource for rr in obj.role_resources.all()], many=True).data

    @extend_schema_field(EntitlementRefSerializer(many=True))
    def get_entitlements(self, obj: Role) -> list[dict[str, Any]]:
        return EntitlementRefSerializer(
            [re.entitlement for re in obj.role_entitlements.all()], many=True
        ).data


class RoleChangeStepSerializer(serializers.Serializer):
    """One approval step of a role change (seed 004), kept by the governance layer."""

    position = serializers.IntegerField()
    kind = serializers.CharField(help_text="OWNER, SOD, ACCESS_OWNER or INTRA_ROLE.")
    label = serializers.CharField()
    status = serializers.CharField(help_text="WAITING, APPROVED, REJECTED or SKIPPED.")
    reason = serializers.CharField(help_text="Why the step waits, passed or was skipped.")
    approvers = serializers.ListField(child=serializers.CharField(), help_text="Who may decide.")
    task = serializers.IntegerField(allow_null=True, help_text="The worklist task deciding it.")
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.CharField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)
    detail = serializers.DictField(help_text="The conflicts or owners the step found.")


class _RoleChangeListSerializer(serializers.ListSerializer):
    """Loads the approval steps of a whole page at once (one query, not one per change)."""

    def to_representation(self, data: Any) -> Any:
        items = list(data.all() if hasattr(data, "all") else data)
        approvals = ports.role_change_approvals()
        self.child.context["approval_steps"] = approvals.steps([c.pk for c in items]) if approvals else {}
        return super().to_representation(items)


class RoleChangeSerializer(serializers.ModelSerializer):
    role = RoleRefSerializer(read_only=True)
    resource = ResourceRefSerializer(read_only=True, allow_null=True)
    entitlement = EntitlementRefSerializer(read_only=True, allow_null=True)
    requested_by = UserRefSerializer(read_only=True, allow_null=True)
    result = serializers.DictField(read_only=True)
    approval_steps = serializers.SerializerMethodField()

    @extend_schema_field(RoleChangeStepSerializer(many=True))
    def get_approval_steps(self, obj: RoleChange) -> list[dict[str, Any]]:
        loaded = self.context.get("approval_steps")
        if loaded is None:
            approvals = ports.role_change_approvals()
            loaded = approvals.steps([obj.pk]) if approvals else {}
        return list(loaded.get(obj.pk, []))

    class Meta:
        model = RoleChange
        list_serializer_class = _RoleChangeListSerializer
        fields = [
            "id",
            "role",
            "action",
            "resource",
            "entitlement",
            "keep_as_manual",
            "status",
            "members_affected",
            "result",
            "error",
            "requested_by",
            "source",
            "created_at",
            "started_at",
            "finished_at",
            "approval_steps",
        ]
        read_only_fields = fields


class AttributeDefinitionSerializer(serializers.ModelSerializer):
    resource = ResourceRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = AttributeDefinition
        fields = [
            "id",
            "scope",
            "resource",
            "name",
            "label",
            "type",
            "required",
            "unique",
            "regex",
            "position",
        ]
        read_only_fields = fields


class UsernamePolicySerializer(serializers.ModelSerializer):
    patterns = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = UsernamePolicy
        fields = ["name", "patterns", "lowercase", "max_length", "numeric_suffix", "max_suffix"]
        read_only_fields = fields


# ---------------------------------------------------------------------------------------------
# configuration objects: input (shape only; the services check the rules)

_users = User.objects.all()


class OrganizationInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), allow_null=True, required=False
    )
    owner = serializers.PrimaryKeyRelatedField(queryset=_users, allow_null=True, required=False)


class ResourceInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False)
    owners = serializers.PrimaryKeyRelatedField(queryset=_users, many=True, required=False)
    criticality = serializers.ChoiceField(choices=Criticality.choices, required=False)
    self_service = serializers.BooleanField(required=False)
    certifiable = serializers.BooleanField(required=False)
    provisioning_modes = ProvisioningModesField(
        required=False,
        help_text="Provisioning event -> AUTOMATIC | MANUAL | DISABLED; events left out keep their mode "
        "(DISABLED on creation).",
    )


class EntitlementInputSerializer(serializers.Serializer):
    resource = serializers.PrimaryKeyRelatedField(queryset=Resource.objects.all())
    identifier = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False)
    owner = serializers.PrimaryKeyRelatedField(queryset=_users, allow_null=True, required=False)
    criticality = serializers.ChoiceField(choices=Criticality.choices, required=False)
    self_service = serializers.BooleanField(required=False)
    certifiable = serializers.BooleanField(required=False)
    attributes = serializers.DictField(required=False)


class RoleInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False)
    owner = serializers.PrimaryKeyRelatedField(queryset=_users, allow_null=True, required=False)
    criticality = serializers.ChoiceField(choices=Criticality.choices, required=False)
    self_service = serializers.BooleanField(required=False)
    certifiable = serializers.BooleanField(required=False)


class RoleItemInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=RoleChange.Action.choices, required=False, help_text="ADD (the default) or REMOVE."
    )
    resource = serializers.PrimaryKeyRelatedField(
        queryset=Resource.objects.all(), required=False, allow_null=True
    )
    entitlement = serializers.PrimaryKeyRelatedField(
        queryset=Entitlement.objects.select_related("resource"), required=False, allow_null=True
    )
    keep_as_manual = serializers.BooleanField(
        required=False, default=False, help_text="On REMOVE: keep the members' access as manually managed."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("resource") is None) == (attrs.get("entitlement") is None):
            raise serializers.ValidationError(
                {"item": [gettext("Give exactly one of resource or entitlement.")]}
            )
        return attrs


class RoleItemPreviewQuerySerializer(RoleItemInputSerializer):
    action = serializers.ChoiceField(choices=RoleChange.Action.choices)
    keep_as_manual = None  # not part of a preview


class KeepAsManualQuerySerializer(serializers.Serializer):
    keep_as_manual = serializers.BooleanField(required=False, default=False)


class PurgeQuerySerializer(serializers.Serializer):
    purge = serializers.BooleanField(required=False, default=False)


class RoleChangePreviewSerializer(serializers.Serializer):
    members = serializers.IntegerField(help_text="Members of the role today.")
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="What the change would do: accounts_to_create, accounts_to_adopt, memberships_to_create, "
        "memberships_to_adopt (ADD); granted_by_role, kept_by_other_roles, kept_manually, to_revoke (REMOVE).",
    )


class RoleItemResultSerializer(serializers.Serializer):
    change = RoleChangeSerializer(
        help_text="The role change entry; its status tells when the fan-out is done."
    )
    preview = RoleChangePreviewSerializer(
        help_text="What the change does, counted just before it was submitted."
    )


class AttributeDefinitionInputSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=AttributeScope.choices)
    resource = serializers.PrimaryKeyRelatedField(
        queryset=Resource.objects.all(), allow_null=True, required=False
    )
    name = serializers.CharField(max_length=64)
    label = serializers.CharField(max_length=200)
    type = serializers.ChoiceField(choices=AttributeType.choices, required=False)
    required = serializers.BooleanField(required=False)
    unique = serializers.BooleanField(required=False)
    regex = serializers.CharField(max_length=500, allow_blank=True, required=False)
    position = serializers.IntegerField(min_value=0, required=False)


class UsernamePolicyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    patterns = serializers.ListField(
        child=serializers.CharField(),
        allow_empty=False,
        help_text="Tried in order; placeholders {first} {last} {middle} {f} {l} {middle_initial}.",
    )
    lowercase = serializers.BooleanField(required=False)
    max_length = serializers.IntegerField(min_value=1, max_value=150, required=False)
    numeric_suffix = serializers.BooleanField(required=False)
    max_suffix = serializers.IntegerField(min_value=1, max_value=100000, required=False)


class DirectoryEventSerializer(serializers.ModelSerializer):
    """A follow-up event of the life cycle (owner change, administrator change, shared-account
    member review, rotation alert) and, once resolved, how."""

    user = UserRefSerializer(read_only=True, allow_null=True)
    resolved_by = UserRefSerializer(read_only=True, allow_null=True)
    new_user = UserRefSerializer(read_only=True, allow_null=True)
    decisions = serializers.SerializerMethodField(help_text="The decisions this kind of event takes.")

    class Meta:
        model = DirectoryEvent
        fields = [
            "id",
            "kind",
            "status",
            "user",
            "user_repr",
            "object_type",
            "object_id",
            "object_repr",
            "detail",
            "decisions",
            "decision",
            "new_user",
            "resolved_by",
            "note",
            "created_at",
            "closed_at",
        ]

    def get_decisions(self, obj: DirectoryEvent) -> list[str]:
        return list(DECISIONS.get(obj.kind, ()))


class DirectoryEventResolveSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=DirectoryEventDecision.choices)
    new_user = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        help_text="Username of the new owner / responsible (REASSIGN only).",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
