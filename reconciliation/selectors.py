"""Read queries of reconciliation, shared by the console and the API (every console role reads)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from reconciliation.models import (
    AssociationRule,
    AttributeMapping,
    ReconciliationCase,
    ReconciliationProfile,
    ReconciliationRun,
    RunRowError,
    SituationAction,
)


def profiles_for(user: Any) -> QuerySet[ReconciliationProfile]:
    """Profiles with their rules, actions and mappings (three prefetches, whatever the count)."""
    return (
        ReconciliationProfile.objects.select_related("resource")
        .prefetch_related(
            Prefetch("rules", queryset=AssociationRule.objects.order_by("target", "position", "id")),
            Prefetch("actions", queryset=SituationAction.objects.order_by("id")),
            Prefetch("mappings", queryset=AttributeMapping.objects.order_by("position", "id")),
        )
        .order_by("code")
    )


def runs_for(user: Any) -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.select_related("profile", "requested_by", "confirmed_by").order_by("-id")


def row_errors_of(run: ReconciliationRun) -> QuerySet[RunRowError]:
    return RunRowError.objects.filter(run=run).order_by("row", "id")


def cases_for(user: Any) -> QuerySet[ReconciliationCase]:
    return ReconciliationCase.objects.select_related("profile", "account", "task").order_by("-id")
