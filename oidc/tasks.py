"""Celery tasks of the OIDC provider: thin wrappers that call a service."""

from __future__ import annotations

from blazon.tasks import blazon_task
from oidc.authorizations import authorizations_purge


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def purge_authorizations() -> int:
    """Drop the authorization records no token depends on any more (periodic). Idempotent: a
    second run finds nothing left to drop."""

    return authorizations_purge()
