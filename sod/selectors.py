"""Read queries of SoD, shared by the console and the API (every console role reads them)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from sod.models import AssignmentPolicy, SoDException, SoDRule, SoDRuleItem, SoDViolation


def rules_for(user: Any) -> QuerySet[SoDRule]:
    """Rules with their items (one prefetch) and their open violation counts."""
    return (
        SoDRule.objects.select_related("owner")
        .prefetch_related(Prefetch("items", queryset=SoDRuleItem.objects.order_by("side", "id")))
        .annotate(n_open=Count("violations", filter=Q(violations__status="OPEN"), distinct=True))
        .order_by("code")
    )


def exceptions_for(user: Any) -> QuerySet[SoDException]:
    return SoDException.objects.select_related("rule", "user", "granted_by", "revoked_by").order_by("-id")


def violations_for(user: Any) -> QuerySet[SoDViolation]:
    return SoDViolation.objects.select_related("rule", "rule__owner", "user", "exception", "task").order_by(
        "-id"
    )


def assignment_policies_for(user: Any) -> QuerySet[AssignmentPolicy]:
    """Assignment policies with their role and organization (any console role reads them)."""
    return AssignmentPolicy.objects.select_related("role", "organization").order_by("code")
