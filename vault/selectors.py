"""Read queries for the vault. Nothing here decrypts."""

from __future__ import annotations

from django.db.models import Count

from vault.models import Secret


def secrets_count_by_key_version() -> dict[int, int]:
    """How many secrets each master key version wraps (shows what a rotation still has to do)."""
    rows = (
        Secret.objects.order_by()
        .values("key_version")
        .annotate(n=Count("pk"))
        .values_list("key_version", "n")
    )
    return dict(rows)
