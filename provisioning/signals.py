"""What provisioning tells the apps above it about entries written for their requests.

Provisioning sits below ``requests_workflow`` in the app graph and imports nothing from it. An
entry written for a request carries a typed link (``ProvisioningEntry.request``, set by the
pipeline through ``provisioning.services.entries_for_request``); when such entries change,
provisioning sends these signals and the request app, connected in its ``AppConfig.ready``,
decides what the request does (``requests_workflow.receivers``). Without a receiver an entry
simply settles nothing.

All of them are sent inside provisioning's transaction, with ``Signal.send``: a receiver's
exception aborts the change, and a receiver's writes commit or roll back with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.dispatch import Signal

from provisioning.models import ProvisioningEntry

#: Provisioning is about to lock entries of these requests. ``request_ids``: sorted ids. A
#: receiver locks the requests now, so every transaction takes a request before its entries
#: (the pipeline's lock order) and two of them never wait for each other.
request_entries_locking = Signal()

#: An administrator retries ``entry`` (FAILED or waiting for manual resolution), which belongs
#: to request ``request_id``. A receiver raises a ``blazon.errors.DomainError`` to refuse (the
#: request was rolled back: the application would get an access the directory no longer has).
request_entry_retrying = Signal()

#: Something happened to entries that the requests' timelines show. ``notes``: a list of
#: ``EntryNote``, in order.
request_entries_noted = Signal()

#: Entries reached an outcome (SUCCEEDED, FAILED for good, CANCELED), whatever wrote them, with a
#: request or not. ``entries``: the ProvisioningEntry rows, locked, in their new state. The vault
#: keeps a rotated password only once its CHANGE_PASSWORD entry succeeded (``vault.rotation``).
entries_settled = Signal()

#: Entries of these requests reached an outcome that may settle them (succeeded, failed for
#: good, canceled). ``request_ids``: sorted ids, already announced to
#: ``request_entries_locking`` in this transaction.
request_entries_settled = Signal()


@dataclass(frozen=True)
class EntryNote:
    """One line for a request's timeline about one of its entries."""

    request_id: int
    message: str
    actor: Any = None


def requests_lock(request_ids: Iterable[int | None]) -> None:
    """Announce the requests whose entries are about to be locked (see ``request_entries_locking``)."""
    ids = sorted({i for i in request_ids if i is not None})
    if ids:
        request_entries_locking.send(sender=ProvisioningEntry, request_ids=ids)


def requests_settled(request_ids: Iterable[int | None]) -> None:
    """Announce that entries of these requests changed (see ``request_entries_settled``)."""
    ids = sorted({i for i in request_ids if i is not None})
    if ids:
        request_entries_settled.send(sender=ProvisioningEntry, request_ids=ids)


def entries_settle(entries: Iterable[ProvisioningEntry]) -> None:
    """Announce entries that reached an outcome (see ``entries_settled``)."""
    settled = list(entries)
    if settled:
        entries_settled.send(sender=ProvisioningEntry, entries=settled)


def requests_noted(notes: list[EntryNote]) -> None:
    """Add lines to the requests' timelines (see ``request_entries_noted``)."""
    if notes:
        request_entries_noted.send(sender=ProvisioningEntry, notes=notes)


def request_entry_retry_check(entry: ProvisioningEntry) -> None:
    """Ask the request app whether ``entry`` of a request may be retried (see
    ``request_entry_retrying``); raises the receiver's ``DomainError`` when not."""
    if entry.request_id is not None:
        request_entry_retrying.send(sender=ProvisioningEntry, entry=entry, request_id=entry.request_id)
