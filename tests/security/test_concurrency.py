"""Concurrent failures (an attack is concurrent by nature) impose one lock, never an error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from security.models import SecurityAlert, Throttle, ThrottleKind
from tests.security.conftest import fail

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_failures_for_one_account_impose_exactly_one_lock(postgres, limits):
    limits.account_lock_seconds, limits.account_lock_max_seconds = 3600, 7200  # outlasts the test
    limits.save()

    def one(n: int) -> None:
        try:
            fail("target", f"100.70.0.{n % 2}")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(one, range(limits.account_failure_threshold * 3)))
    lock = Throttle.objects.get(kind=ThrottleKind.ACCOUNT, key="target")
    assert lock.level == 1
    assert SecurityAlert.objects.filter(key="target").count() == 1
