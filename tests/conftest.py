"""Test set-up shared by the whole suite.

The suite runs on PostgreSQL (``DATABASE_URL``, set by ``bin/test``). A test that needs a
service (PostgreSQL, Redis, Chromium) fails when it is missing under CI (``CI=true``) and is
skipped with the reason elsewhere.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection


def _worker_redis_url() -> None:
    """Give each xdist worker its own Redis database.

    Session tests flush their Redis database and the Celery worker tests use it as a broker, so
    two workers sharing one index would see each other's keys. gw0 keeps the configured index;
    gwN moves N*8 indexes along (modulo 16).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or worker == "gw0":
        return
    base = os.environ.get("BLAZON_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    head, _, index = base.rpartition("/")
    if not index.isdigit():
        return
    shifted = (int(index) + 8 * int(worker[2:])) % 16
    os.environ["BLAZON_TEST_REDIS_URL"] = f"{head}/{shifted}"


_worker_redis_url()


def require(condition: bool, what: str) -> None:
    """Fail under CI, skip on a developer machine, when a real service is missing."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required under CI but is not available")
    pytest.skip(f"{what} is not available")


@pytest.fixture
def postgres(db):
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    return connection
