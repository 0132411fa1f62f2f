"""API v1 serializers of certification policies, campaigns and items."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from certification.models import (
    DECIDE_CHOICES,
    CampaignStatus,
    CertificationCampaign,
    CertificationItem,
    CertificationPolicy,
    Decision,
    ObjectKind,
    Outcome,
    PolicyTrigger,
    ReviewerKind,
    UndecidedAction,
)
from certification.services.policies import POLICY_FIELDS
from directory.models import Criticality, Entitlement, Organization, Resource, Role, User
from worklist.models import Queue


class CertificationPolicySerializer(serializers.ModelSerializer):
    """A periodic certification policy: what it selects, who reviews, how often, for how long."""

    reviewer_user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    fallback_reviewer: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    criticalities = serializers.ListField(child=serializers.ChoiceField(choices=Criticality.choices))
    monitored_attributes = serializers.ListField(child=serializers.CharField())
    campaigns = serializers.IntegerField(source="n_campaigns", read_only=True)

    class Meta:
        model = CertificationPolicy
        fields = ["id", *POLICY_FIELDS, "last_run_at", "campaigns", "created_at", "updated_at"]


def _user(**kw: Any) -> serializers.SlugRelatedField[User]:
    return serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), required=False, allow_null=True, **kw
    )


class CertificationPolicyInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    active = serializers.BooleanField(required=False, default=True)
    include_accounts = serializers.BooleanField(required=False, default=True)
    include_entitlements = serializers.BooleanField(required=False, default=True)
    include_roles = serializers.BooleanField(required=False, default=True)
    criticalities = serializers.ListField(
        child=serializers.ChoiceField(choices=Criticality.choices), required=False, default=list
    )
    resource = serializers.PrimaryKeyRelatedField(
        queryset=Resource.objects.all(), required=False, allow_null=True
    )
    entitlement = serializers.PrimaryKeyRelatedField(
        queryset=Entitlement.objects.all(), required=False, allow_null=True
    )
    role = serializers.PrimaryKeyRelatedField(queryset=Role.objects.all(), required=False, allow_null=True)
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )
    reviewer_kind = serializers.ChoiceField(
        choices=ReviewerKind.choices, required=False, default=ReviewerKind.MANAGER
    )
    reviewer_user = _user(help_text="Username of the named reviewer (reviewer_kind USER).")
    reviewer_queue = serializers.PrimaryKeyRelatedField(
        queryset=Queue.objects.all(), required=False, allow_null=True
    )
    fallback_reviewer = _user(
        help_text="Reviews when the reviewer is missing, has left or is the beneficiary."
    )
    trigger = serializers.ChoiceField(
        choices=PolicyTrigger.choices,
        required=False,
        default=PolicyTrigger.PERIODIC,
        help_text="PERIODIC: a campaign every period_days. ATTRIBUTE_CHANGE: a campaign for one user "
        "when one of monitored_attributes of theirs changes.",
    )
    monitored_attributes = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        default=list,
        help_text="job_title, department, organization, manager, employee_type or attributes.<name>.",
    )
    period_days = serializers.IntegerField(min_value=1, required=False, default=180)
    duration_days = serializers.IntegerField(min_value=1, required=False, default=30)
    undecided_action = serializers.ChoiceField(
        choices=UndecidedAction.choices, required=False, default=UndecidedAction.KEEP
    )
    next_run_at = serializers.DateTimeField(required=False, allow_null=True)


class CertificationCampaignSerializer(serializers.ModelSerializer):
    policy: serializers.SlugRelatedField[CertificationPolicy] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    status = serializers.ChoiceField(choices=CampaignStatus.choices, read_only=True)
    decided = serializers.IntegerField(source="n_decided", read_only=True)

    class Meta:
        model = CertificationCampaign
        fields = [
            "id",
            "name",
            "policy",
            "scope",
            "status",
            "undecided_action",
            "started_at",
            "ends_at",
            "closed_at",
            "item_count",
            "decided",
        ]


class CampaignScopeSerializer(serializers.Serializer):
    kinds = serializers.ListField(child=serializers.ChoiceField(choices=ObjectKind.choices), required=False)
    criticalities = serializers.ListField(
        child=serializers.ChoiceField(choices=Criticality.choices), required=False
    )
    resource = serializers.IntegerField(required=False, allow_null=True)
    entitlement = serializers.IntegerField(required=False, allow_null=True)
    role = serializers.IntegerField(required=False, allow_null=True)
    organization = serializers.IntegerField(required=False, allow_null=True)
    reviewer_kind = serializers.ChoiceField(choices=ReviewerKind.choices, required=False)
    reviewer_user = serializers.IntegerField(required=False, allow_null=True)
    reviewer_queue = serializers.IntegerField(required=False, allow_null=True)
    fallback_reviewer = serializers.IntegerField(required=False, allow_null=True)


class CampaignStartSerializer(serializers.Serializer):
    """From a policy (``policy``: its code), or from a selection (``scope``, ``name``, ``ends_at``)."""

    policy = serializers.SlugRelatedField(
        slug_field="code", queryset=CertificationPolicy.objects.all(), required=False, allow_null=True
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    scope = CampaignScopeSerializer(required=False, allow_null=True)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    undecided_action = serializers.ChoiceField(
        choices=UndecidedAction.choices, required=False, allow_null=True
    )


class CampaignCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CampaignFinishResultSerializer(serializers.Serializer):
    kept = serializers.IntegerField()
    revoke_requests = serializers.IntegerField()
    revoke_refused = serializers.IntegerField()


class CertificationItemSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=ObjectKind.choices, read_only=True)
    decision = serializers.ChoiceField(choices=Decision.choices, read_only=True)
    outcome = serializers.ChoiceField(choices=Outcome.choices, read_only=True)
    access = serializers.CharField(source="access_label", read_only=True)
    beneficiary: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    reviewer: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    decided_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = CertificationItem
        fields = [
            "id",
            "campaign",
            "kind",
            "access",
            "account",
            "membership_id",
            "role_membership_id",
            "beneficiary",
            "resource",
            "entitlement",
            "role",
            "criticality",
            "reviewer",
            "queue",
            "reviewer_is_fallback",
            "active",
            "decision",
            "decided_by",
            "decided_at",
            "comment",
            "request",
            "outcome",
        ]


class ItemDecideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=DECIDE_CHOICES)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class ItemsDecideSerializer(ItemDecideSerializer):
    items = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=500)


class ItemsDecidedSerializer(serializers.Serializer):
    kept = serializers.ListField(child=serializers.IntegerField())
    revoked = serializers.ListField(child=serializers.IntegerField())
    requests = serializers.ListField(
        child=serializers.IntegerField(), help_text="The revoke requests created."
    )


class ReportRowSerializer(serializers.Serializer):
    """One row of a campaign's evidence report (the console's CSV has the same columns)."""

    item = serializers.CharField()
    campaign = serializers.CharField()
    kind = serializers.CharField()
    beneficiary = serializers.CharField()
    access = serializers.CharField()
    resource = serializers.CharField()
    criticality = serializers.CharField()
    reviewer = serializers.CharField()
    fallback_reviewer = serializers.CharField()
    decision = serializers.CharField()
    decided_by = serializers.CharField()
    decided_at = serializers.CharField()
    comment = serializers.CharField()
    request = serializers.CharField()
    request_status = serializers.CharField()
    outcome = serializers.CharField()


class MicroCertificationSerializer(serializers.Serializer):
    """One access put to review: its kind and id, the reviewer (empty: the beneficiary's
    manager), the end and what happens if nobody decides by then."""

    kind = serializers.ChoiceField(choices=ObjectKind.choices)
    access = serializers.IntegerField(
        min_value=1, help_text="The account's, entitlement membership's or role membership's id."
    )
    reviewer = _user(help_text="Username of the reviewer (empty: the beneficiary's manager).")
    ends_at = serializers.DateTimeField()
    undecided_action = serializers.ChoiceField(choices=UndecidedAction.choices)
