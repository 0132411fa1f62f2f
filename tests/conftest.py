"""Test set-up shared by the whole suite.

The suite runs on PostgreSQL (``DATABASE_URL``, set by ``bin/test``). A test that needs a
service (PostgreSQL, Redis, Chromium) fails when it is missing under CI (``CI=true``) and is
skipped with the reason elsewhere.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection


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
