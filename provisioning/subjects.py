"""Provisioning entries as the subjects of manual provisioning tasks (``worklist.registry``): a
PROVISIONING task links to its entry through the typed link ("provisioning_entry", entry id);
this module tells the worklist how to load, name and link entries, and finds the entry a task is
about. Registered by this app's ``ready()``."""

from __future__ import annotations

from collections.abc import Collection

from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from provisioning.models import ProvisioningEntry
from worklist.models import Task
from worklist.registry import SubjectRef, register_subject_kind

#: The subject kind of a task about a provisioning entry.
ENTRY_SUBJECT = "provisioning_entry"
ENTRY_RELATED = ("resource", "account__owner", "entitlement")


def entry_subject(entry: ProvisioningEntry) -> SubjectRef:
    """The typed link of a task about ``entry``."""
    return SubjectRef(ENTRY_SUBJECT, entry.pk)


def entry_label(entry: ProvisioningEntry) -> str:
    """``Grant entitlement Pay run to ana on Payroll``: the change the entry carries."""
    account = entry.account or (entry.payload or {}).get("identifier") or ""
    parts = [str(entry.get_event_type_display())]
    if entry.entitlement is not None:
        parts += [entry.entitlement.name, gettext("to %(account)s") % {"account": account} if account else ""]
    else:
        parts.append(str(account))
    return " ".join(p for p in (*parts, gettext("on %(resource)s") % {"resource": entry.resource.name}) if p)


def entries_resolve(ids: Collection[int]) -> dict[int, ProvisioningEntry]:
    """The entries ``ids`` with what their label reads, in one query."""
    return ProvisioningEntry.objects.select_related(*ENTRY_RELATED).in_bulk(list(ids))


def entry_console_url(entry: ProvisioningEntry) -> str:
    return reverse("console_provisioning:entry", args=[entry.pk])


def entry_of_task(task: Task, *, related: Collection[str] = ()) -> ProvisioningEntry | None:
    """The entry a manual provisioning task is about (its typed link), while the task is still
    the entry's manual task: a task the console's retry released resolves nothing any more."""
    if task.subject_kind != ENTRY_SUBJECT or task.subject_id is None:
        return None
    return (
        ProvisioningEntry.objects.select_related(*related)
        .filter(pk=task.subject_id, manual_task_id=task.pk)
        .first()
    )


def register() -> None:
    register_subject_kind(
        ENTRY_SUBJECT,
        noun=_("Provisioning entry"),
        resolve=entries_resolve,
        label=entry_label,
        console_url=entry_console_url,
    )
