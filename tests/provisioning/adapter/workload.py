"""A provisioning drain: N users each getting an account and one group membership on a
resource, written as the request pipeline writes them (CREATE_ACCOUNT, then GRANT_ENTITLEMENT
for the same account, interleaved per user). Shared by the adapter fault tests and the B6
benchmark (tests/bench/b6.py); bulk inserts, so thousands take a second."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from directory.models import Account, Entitlement, EntitlementMembership, ProvisioningMode, Resource, User
from provisioning.models import EntryStatus, ProvisioningEntry


@transaction.atomic
def drain_entries(*, resource: Resource, entitlement: Entitlement, users: int, prefix: str) -> list[int]:
    """Create ``users`` users with an account and a membership of ``entitlement``, and their
    CREATE_ACCOUNT + GRANT_ENTITLEMENT entries (AUTOMATIC, PENDING). Returns the entry ids.
    Committed in one transaction: a polling adapter sees all of them or none."""
    password = make_password(None)
    people = User.objects.bulk_create(
        [
            User(
                username=f"{prefix}{i:06d}",
                first_name="Drain",
                last_name=f"User {i}",
                display_name=f"Drain User {i}",
                email=f"{prefix}{i:06d}@drain.example",
                password=password,
            )
            for i in range(users)
        ]
    )
    accounts = Account.objects.bulk_create(
        [Account(resource=resource, owner=u, identifier=u.username) for u in people]
    )
    EntitlementMembership.objects.bulk_create(
        [EntitlementMembership(account=a, entitlement=entitlement) for a in accounts]
    )
    now = timezone.now()
    entries = []
    for account in accounts:
        for event, ent in (("CREATE_ACCOUNT", None), ("GRANT_ENTITLEMENT", entitlement)):
            entries.append(
                ProvisioningEntry(
                    resource=resource,
                    event_type=event,
                    mode=ProvisioningMode.AUTOMATIC,
                    status=EntryStatus.PENDING,
                    account=account,
                    entitlement=ent,
                    user_id_ref=account.owner_id,
                    payload={"identifier": account.identifier},
                    created_at=now,
                )
            )
    return [e.pk for e in ProvisioningEntry.objects.bulk_create(entries, batch_size=5000)]
