"""Celery tasks of the OIDC provider: thin wrappers that call a service."""

from __future__ import annotations

from blazon.tasks import blazon_task


@blazon_task()
def purge_authorizations() -> int:
    """Drop the authorization records no token depends on any more (periodic)."""
    from oidc.authorizations import authorizations_purge

    return authorizations_purge()
