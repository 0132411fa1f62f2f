"""API v1 serializers of SoD rules, exceptions and violations."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from directory.models import Organization, Role, User
from sod.models import (
    AssignmentPolicy,
    ItemKind,
    Severity,
    SoDException,
    SoDRule,
    SoDViolation,
    ViolationStatus,
)
from sod.services.assignment import POLICY_FIELDS
from sod.services.rules import RULE_FIELDS


class SoDItemSerializer(serializers.Serializer):
    side = serializers.IntegerField(help_text="1, 2, …: items of different sides conflict.")
    kind = serializers.ChoiceField(choices=ItemKind.choices)
    ref = serializers.CharField(help_text="entitlement:<resource>/<identifier>, role:<code>, resource:<code>")
    name = serializers.CharField(source="label", help_text="What the item was called when named.")
    target_id = serializers.IntegerField(allow_null=True, help_text="Empty: the item was deleted.")
    present = serializers.BooleanField(help_text="False once the named item was deleted.")


class SoDRuleSerializer(serializers.ModelSerializer):
    """A conflict rule: its sides (lists of items) must not meet in one person."""

    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    sides = serializers.SerializerMethodField()
    open_violations = serializers.IntegerField(source="n_open", read_only=True)

    class Meta:
        model = SoDRule
        # the fields a rule's service writes (one list for both), then what the API adds
        fields = ["id", *RULE_FIELDS, "sides", "open_violations", "created_at", "updated_at"]

    @extend_schema_field(serializers.ListField(child=SoDItemSerializer(many=True)))
    def get_sides(self, rule: SoDRule) -> list[list[dict[str, Any]]]:
        sides: dict[int, list[dict[str, Any]]] = {}
        for item in rule.items.all():
            sides.setdefault(item.side, []).append(SoDItemSerializer(item).data)
        return [sides[k] for k in sorted(sides)]


class SoDRuleInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, default=Severity.HIGH)
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Username of who approves exceptions.",
    )
    mitigating_controls = serializers.CharField(required=False, allow_blank=True, default="")
    evidence_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=500)
    active = serializers.BooleanField(required=False, default=True)
    sides = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(max_length=300), max_length=200),
        min_length=2,
        max_length=6,
        help_text='Item references per side, e.g. [["entitlement:sap/vendor_create"], ["role:payer"]].',
    )


class SoDExceptionSerializer(serializers.ModelSerializer):
    """An accepted conflict: the user may hold both sides of the rule until ``expires_at``."""

    rule: serializers.SlugRelatedField[SoDRule] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    granted_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    revoked_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    state = serializers.ChoiceField(choices=["Valid", "Expired", "Revoked"], read_only=True)

    class Meta:
        model = SoDException
        fields = [
            "id",
            "rule",
            "user",
            "reason",
            "expires_at",
            "state",
            "granted_by",
            "request",
            "created_at",
            "revoked_at",
            "revoked_by",
        ]


class SoDExceptionRevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SoDViolationItemSerializer(serializers.Serializer):
    side = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ItemKind.choices)
    id = serializers.IntegerField()
    name = serializers.CharField(source="label")
    direct = serializers.BooleanField(help_text="Held by a manual decision (not only through roles).")
    via_roles = serializers.ListField(child=serializers.CharField(), help_text="The roles that give it.")


class SoDViolationSerializer(serializers.ModelSerializer):
    """A user holding two sides of a rule, as the last scan found it."""

    rule: serializers.SlugRelatedField[SoDRule] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    status = serializers.ChoiceField(choices=ViolationStatus.choices, read_only=True)
    items = SoDViolationItemSerializer(many=True, read_only=True)

    class Meta:
        model = SoDViolation
        fields = [
            "id",
            "rule",
            "user",
            "status",
            "items",
            "exception",
            "task",
            "first_seen_at",
            "last_seen_at",
            "resolved_at",
        ]


class SoDScanSerializer(serializers.Serializer):
    found = serializers.IntegerField()
    new = serializers.IntegerField()
    reopened = serializers.IntegerField()
    accepted = serializers.IntegerField()
    resolved = serializers.IntegerField()
    tasks_opened = serializers.IntegerField()


class AssignmentPolicySerializer(serializers.ModelSerializer):
    """A birthright rule: active users matching every condition that is set hold the role."""

    role: serializers.SlugRelatedField[Role] = serializers.SlugRelatedField(slug_field="code", read_only=True)
    organization: serializers.SlugRelatedField[Organization] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    attributes = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = AssignmentPolicy
        fields = ["id", *POLICY_FIELDS, "created_at"]


class AssignmentPolicyInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    role = serializers.SlugRelatedField(
        slug_field="code", queryset=Role.objects.all(), help_text="Role code."
    )
    active = serializers.BooleanField(required=False, default=True)
    organization = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Organization.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Organization code.",
    )
    include_sub_organizations = serializers.BooleanField(required=False, default=False)
    department = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    job_title = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    employee_type = serializers.CharField(required=False, allow_blank=True, default="", max_length=60)
    attributes = serializers.DictField(
        child=serializers.CharField(), required=False, default=dict, help_text="{attribute name: value}"
    )


class AssignmentPolicyPreviewSerializer(serializers.Serializer):
    role = serializers.CharField()
    gain = serializers.IntegerField(help_text="Users who would gain the role.")
    lose = serializers.IntegerField(help_text="Users who would lose it (policy-managed only).")
    gain_users = serializers.ListField(child=serializers.CharField(), help_text="The first 20.")
    lose_users = serializers.ListField(child=serializers.CharField(), help_text="The first 20.")
    matching = serializers.IntegerField(help_text="Active users the policy selects.")
    active_users = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField())
    sod_conflicts = serializers.IntegerField(
        help_text="Users who would break an SoD rule by gaining the role."
    )
    sod_users = serializers.ListField(child=serializers.CharField(), help_text="The first 20 of them.")
