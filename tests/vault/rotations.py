"""The application's answer to password rotations, as a resource adapter gives it: a registered
adapter client pulls the pending entries (the API's services) and reports each rotation's
CHANGE_PASSWORD entry as made (or, with ``success=False``, as failed for good)."""

from __future__ import annotations

import itertools

from directory.models import Resource
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.adapter import (
    adapter_client_register,
    entries_pull,
    entry_report_failure,
    entry_report_success,
)
from tests.provisioning.conftest import keypair
from vault.models import PasswordRotation, RotationStatus

_names = itertools.count(1)


def application_answers(*, success: bool = True, reason: str = "the application refused the password") -> int:
    """Settle every pending rotation's entry; returns how many. Other entries the pull leased go
    back to the pool untouched (a transient report with no delay)."""
    waiting = set(
        PasswordRotation.objects.filter(
            status=RotationStatus.PENDING, entry__status=EntryStatus.PENDING
        ).values_list("entry_id", flat=True)
    )
    resources = Resource.objects.filter(
        pk__in=ProvisioningEntry.objects.filter(pk__in=waiting).values("resource")
    )
    done = 0
    for resource in resources:
        client, _, _ = adapter_client_register(
            actor=None, source="console", name=f"rotation-adapter-{next(_names)}", resources=[resource],
            public_key=keypair(0)[1],
        )  # fmt: skip
        for entry in entries_pull(client=client, limit=500).entries:
            if entry.pk not in waiting:
                entry_report_failure(
                    client=client, entry_id=entry.pk, reason="not now", retry_after_seconds=0
                )
            elif success:
                entry_report_success(client=client, entry_id=entry.pk, detail="password changed")
                done += 1
            else:
                entry_report_failure(client=client, entry_id=entry.pk, reason=reason, final=True)
                done += 1
    return done
