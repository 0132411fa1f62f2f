"""The kind of task subject this app owns: a detected SoD violation (``"sod_violation", id``).
Its tasks point at it through the worklist's typed link, so My tasks and the console queues
name the violation ("Payment approver and supplier creator: ana.souza") and link to it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import cast
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.models import RoleChange
from sod.models import SoDViolation
from sod.services.role_changes import ROLE_CHANGE_SUBJECT, role_change_console_url
from worklist.registry import SubjectRef, register_subject_kind

VIOLATION_SUBJECT = "sod_violation"


def violation_subject(violation: SoDViolation) -> SubjectRef:
    """The typed link of a violation's task."""
    return SubjectRef(VIOLATION_SUBJECT, violation.pk)


def violations_resolve(ids: Collection[int]) -> Mapping[int, SoDViolation]:
    """Many violations at once (one query), with their rule and user."""
    return SoDViolation.objects.select_related("rule", "user").in_bulk(list(ids))


def violation_label(violation: SoDViolation) -> str:
    return _("SoD violation of %(rule)s: %(user)s") % {"rule": violation.rule.name, "user": violation.user}


def violation_console_url(violation: SoDViolation) -> str:
    """The console's violations list, on this violation's rule."""
    return f"{reverse('console_sod:violations')}?{urlencode({'rule': violation.rule.code})}"


def role_changes_resolve(ids: Collection[int]) -> Mapping[int, RoleChange]:
    """Many role changes at once (one query), with their role and item."""
    return RoleChange.objects.select_related("role", "resource", "entitlement__resource").in_bulk(list(ids))


def role_change_label(change: RoleChange) -> str:
    return _("Role change #%(id)s: %(change)s") % {"id": change.pk, "change": change}


def register() -> None:
    # a role change's approval tasks point at the change (seed 004)
    register_subject_kind(
        ROLE_CHANGE_SUBJECT,
        noun=cast(str, gettext_lazy("Role change")),
        resolve=role_changes_resolve,
        label=role_change_label,
        console_url=role_change_console_url,
    )
    register_subject_kind(
        VIOLATION_SUBJECT,
        noun=cast(str, gettext_lazy("SoD violation")),
        resolve=violations_resolve,
        label=violation_label,
        console_url=violation_console_url,
    )
