"""The kind of task subject this app owns: a reconciliation case (``"reconciliation_case", id``),
so My tasks and the console queues name the case and link to its page."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import cast

from django.urls import reverse
from django.utils.translation import gettext_lazy

from reconciliation.models import ReconciliationCase
from reconciliation.services.cases import CASE_SUBJECT
from worklist.registry import register_subject_kind


def cases_resolve(ids: Collection[int]) -> Mapping[int, ReconciliationCase]:
    """Many cases at once (one query), with their profile."""
    return ReconciliationCase.objects.select_related("profile").in_bulk(list(ids))


def case_label(case: ReconciliationCase) -> str:
    return f"{case.profile.name}: {case.get_situation_display().lower()} — {case.key}"


def case_console_url(case: ReconciliationCase) -> str:
    return reverse("console_reconciliation:case", args=[case.pk])


def register() -> None:
    register_subject_kind(
        CASE_SUBJECT,
        noun=cast(str, gettext_lazy("Reconciliation case")),
        resolve=cases_resolve,
        label=case_label,
        console_url=case_console_url,
    )
