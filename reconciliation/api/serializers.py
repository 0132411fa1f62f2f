"""API v1 serializers of reconciliation profiles and runs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from directory.models import Resource
from reconciliation import selectors
from reconciliation.models import (
    Action,
    MappingMode,
    Operator,
    ProfileKind,
    ReconciliationProfile,
    ReconciliationRun,
    RuleTarget,
    RunRowError,
    RunStatus,
    SourceType,
)
from reconciliation.services.profiles import PROFILE_FIELDS


class RuleSerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=RuleTarget.choices, default=RuleTarget.OBJECT)
    attribute = serializers.CharField(
        max_length=100, help_text="username, email, identifier, attributes.<name>"
    )
    operator = serializers.ChoiceField(choices=Operator.choices, default=Operator.EQUALS)
    value = serializers.CharField(max_length=500, help_text="Fixed, {[field]} or mixed ({[first]}.{[last]}).")


class MappingSerializer(serializers.Serializer):
    target = serializers.CharField(max_length=100)
    mode = serializers.ChoiceField(choices=MappingMode.choices, default=MappingMode.FIELD)
    value = serializers.CharField(max_length=1000)


class ReconciliationProfileSerializer(serializers.ModelSerializer):
    """A reconciliation profile: its source (secret settings only named), rules, situation →
    action table and mappings."""

    resource: serializers.SlugRelatedField[Resource] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    rules = RuleSerializer(many=True, read_only=True)
    actions = serializers.SerializerMethodField()
    mappings = MappingSerializer(many=True, read_only=True)
    vault_held_settings = serializers.ListField(
        source="secret_keys", child=serializers.CharField(), read_only=True, help_text="Names only."
    )

    class Meta:
        model = ReconciliationProfile
        fields = [
            "id",
            *PROFILE_FIELDS,
            "vault_held_settings",
            "rules",
            "actions",
            "mappings",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.DictField(child=serializers.ChoiceField(choices=Action.choices)))
    def get_actions(self, profile: ReconciliationProfile) -> dict[str, str]:
        return {a.situation: a.action for a in profile.actions.all()}


class ReconciliationProfileInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=ProfileKind.choices)
    resource = serializers.SlugRelatedField(
        slug_field="code", queryset=Resource.objects.all(), required=False, allow_null=True, default=None,
        help_text="The resource's code (accounts profiles).",
    )  # fmt: skip
    source_type = serializers.ChoiceField(choices=SourceType.choices)
    source_settings = serializers.DictField(
        required=False, default=dict, help_text="Connector settings, no secrets."
    )
    secret_settings = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=2000), required=False,
        help_text="Secret settings (kept in the vault; empty keeps the stored value).",
    )  # fmt: skip
    key_field = serializers.CharField(max_length=100, required=False, default="identifier")
    safety_share = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, default=Decimal(5)
    )
    max_row_errors = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False, default=100)
    schedule = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    active = serializers.BooleanField(required=False, default=True)
    incremental = serializers.BooleanField(
        required=False, default=False, help_text="Apply only the source rows changed since the last run."
    )
    rules = RuleSerializer(many=True, help_text="Association rules, in order.")
    actions = serializers.DictField(
        child=serializers.ChoiceField(choices=Action.choices), required=False,
        help_text="Situation → action (situations left out keep their default).",
    )  # fmt: skip
    mappings = MappingSerializer(many=True, required=False)


class RowErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunRowError
        fields = ["row", "key", "reason"]


class ReconciliationRunSerializer(serializers.ModelSerializer):
    """A run: status, progress, counts per situation and per action, first rows of each
    situation, errors and duration."""

    profile: serializers.SlugRelatedField[ReconciliationProfile] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)
    situations = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    actions = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    progress = serializers.IntegerField(read_only=True, help_text="Percent of the rows to apply done.")
    duration = serializers.FloatField(read_only=True, allow_null=True, help_text="Seconds.")
    eta_seconds = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="While applying: seconds left at the pace so far."
    )
    row_errors = serializers.SerializerMethodField()

    class Meta:
        model = ReconciliationRun
        fields = [
            "id", "profile", "status", "dry_run", "full", "source", "rows_read", "rows_total", "rows_done",
            "progress", "situations", "actions", "samples", "destructive", "population", "errors", "error",
            "row_errors", "created_at", "started_at", "planned_at", "finished_at", "duration", "eta_seconds",
        ]  # fmt: skip

    @extend_schema_field(RowErrorSerializer(many=True))
    def get_row_errors(self, run: ReconciliationRun) -> list[dict[str, Any]]:
        return list(RowErrorSerializer(selectors.row_errors_of(run)[:50], many=True).data)


class ReconciliationRunInputSerializer(serializers.Serializer):
    profile = serializers.SlugRelatedField(slug_field="code", queryset=ReconciliationProfile.objects.all())
    dry_run = serializers.BooleanField(required=False, default=False)
    full = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="Apply every row (true) or only the rows changed since the last run (false); "
        "empty: the profile's setting.",
    )  # fmt: skip
