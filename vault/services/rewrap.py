"""Re-wrapping every secret's data key after a master key rotation, in batches that resume."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from blazon.audit.services import AuditEntry, audit_record_many
from blazon.errors import ValidationFailed
from vault import crypto
from vault.models import (
    Secret,
)
from vault.services.secrets import logger


class RewrapIncomplete(crypto.VaultError):
    """``secrets_rewrap`` finished but some secrets are still under another master key."""

    def __init__(self, *, rewrapped: int, to_version: int, failed: dict[str, str], remaining: int):
        self.rewrapped = rewrapped
        self.to_version = to_version
        self.failed = failed
        self.remaining = remaining
        parts = [f"re-wrapped {rewrapped} secret(s) to master key version {to_version}"]
        if failed:
            sample = "; ".join(f"{sid}: {reason}" for sid, reason in list(failed.items())[:5])
            parts.append(f"{len(failed)} could not be unwrapped ({sample})")
        if remaining:
            parts.append(f"{remaining} were locked by other transactions and are left for the next run")
        super().__init__(", ".join(parts))


def _rewrap_batch(
    *,
    target: int,
    ring: crypto.KeyRing,
    after: Any,
    exclude: set[Any],
    batch_size: int,
    actor: Any,
    source: str,
) -> tuple[int, Any, dict[str, str]]:
    """Re-wrap one batch in its own transaction; returns (count, last pk seen, failures).

    One audit event per re-wrapped secret, so each secret's history shows which master key
    version wraps it since when."""
    with transaction.atomic():
        qs = Secret.objects.select_for_update(skip_locked=True).exclude(key_version=target)
        if after is not None:
            qs = qs.filter(pk__gt=after)
        if exclude:
            qs = qs.exclude(pk__in=exclude)
        rows = list(
            qs.order_by("pk").only(
                "id", "kind", "name", "owner_id", "key_version", "wrapped_key", "wrap_nonce"
            )[:batch_size]
        )
        if not rows:
            return 0, None, {}
        changed: list[tuple[Secret, int]] = []
        failed: dict[str, str] = {}
        for row in rows:
            try:
                data_key = crypto.unwrap_data_key(
                    secret_id=row.pk,
                    key_version=row.key_version,
                    wrapped_key=bytes(row.wrapped_key),
                    wrap_nonce=bytes(row.wrap_nonce),
                    ring=ring,
                )
            except crypto.VaultError as exc:
                failed[str(row.pk)] = str(exc)
                logger.warning("vault: cannot re-wrap secret %s: %s", row.pk, exc)
                continue
            wrapped = crypto.wrap_data_key(data_key, secret_id=row.pk, ring=ring, key_version=target)
            from_version = row.key_version
            row.key_version, row.wrapped_key, row.wrap_nonce = (
                wrapped.key_version,
                wrapped.wrapped_key,
                wrapped.wrap_nonce,
            )
            changed.append((row, from_version))
        if changed:
            Secret.objects.bulk_update(
                [row for row, _ in changed], ["key_version", "wrapped_key", "wrap_nonce"]
            )
            audit_record_many(
                (
                    AuditEntry(
                        action="vault.secret.rewrapped",
                        object_type="vault.Secret",
                        object_id=row.pk,
                        object_repr=str(row),
                        old={"key_version": from_version},
                        new={"key_version": target},
                        subject_user_id=row.owner_id,
                    )
                    for row, from_version in changed
                ),
                actor=actor,
                source=source,
            )
        return len(changed), rows[-1].pk, failed


def secrets_rewrap(
    *,
    to_version: int | None = None,
    batch_size: int = 500,
    actor: Any = None,
    source: str = "automatic",
    progress: Callable[[int, int], None] | None = None,
    max_passes: int = 5,
) -> int:
    """Re-wrap the data key of every secret not yet under master key ``to_version`` (default:
    the newest configured), leaving the secrets' ciphertexts untouched. Returns how many were
    re-wrapped.

    Runs while the application keeps reading and writing: each batch is its own short
    transaction locking its rows with ``SELECT … FOR UPDATE SKIP LOCKED``; rows busy in another
    transaction are retried in a later pass. Idempotent and resumable: a second run finds
    nothing to do. Raises ``RewrapIncomplete`` (after doing everything it could) when some
    secret cannot be unwrapped or stayed locked. ``progress(done, total)`` is called per batch.
    """
    if batch_size < 1:
        raise ValidationFailed(
            _("The batch size must be at least 1."), fields={"batch_size": [_("Must be >= 1.")]}
        )
    if max_passes < 1:
        raise ValidationFailed(_("At least one pass is needed."), fields={"max_passes": [_("Must be >= 1.")]})
    ring = crypto.keyring()
    target = ring.current_version if to_version is None else to_version
    if target not in ring.keys:
        raise ValidationFailed(
            _("Master key version %(target)s is not configured in BLAZON_VAULT_KEYS (configured: %(value)s).")
            % {"target": target, "value": ", ".join(map(str, ring.versions))},
            fields={"to_version": [_("Not configured.")]},
        )
    total = Secret.objects.exclude(key_version=target).count()
    done = 0
    failed: dict[str, str] = {}
    for attempt in range(max_passes):
        after: Any = None
        while True:
            count, after, batch_failed = _rewrap_batch(
                target=target,
                ring=ring,
                after=after,
                exclude=set(failed),
                batch_size=batch_size,
                actor=actor,
                source=source,
            )
            if after is None:
                break
            done += count
            failed.update(batch_failed)
            if progress is not None:
                progress(done, total)
        remaining = Secret.objects.exclude(key_version=target).exclude(pk__in=set(failed)).count()
        if not remaining or attempt == max_passes - 1:
            break
        time.sleep(0.2 * (attempt + 1))  # rows held by other transactions: give them time to commit
    logger.info("vault: re-wrapped %d secret(s) to master key version %d", done, target)
    if failed or remaining:
        raise RewrapIncomplete(rewrapped=done, to_version=target, failed=failed, remaining=remaining)
    return done
