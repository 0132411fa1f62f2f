"""Celery tasks of the authenticator: thin wrappers that call a service."""

from __future__ import annotations

from authn.services import authn_records_purge
from blazon.tasks import blazon_task


@blazon_task(outbox=False)  # periodic (beat), never deferred work
def purge_login_records() -> int:
    """Drop failed-attempt rows and one-time codes older than a day (periodic)."""

    return authn_records_purge()
