"""``blazon.db.update_rows``: the set-based UPDATE the bulk services write with (certification's
closing), on the database the suite runs on (PostgreSQL: a COPY-filled temporary table)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from blazon.db import update_rows
from directory.models import User
from tests.api.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_update_rows_writes_each_rows_values_and_nothing_else():
    users = [UserFactory(username=f"u{n}", job_title="Old", department="Same") for n in range(3)]
    when = timezone.now() - timedelta(days=3)
    with transaction.atomic():
        written = update_rows(
            User._meta.db_table,
            "id",
            ["job_title", "last_login"],
            [(users[0].pk, "First", when), (users[2].pk, 'It\'s "quoted"\tand tabbed', None)],
        )
        # twice in one transaction: the temporary table is dropped after each use
        update_rows(User._meta.db_table, "id", ["department"], [(users[1].pk, "Moved")])
    assert written == 2
    rows = {
        u.username: (u.job_title, u.department, u.last_login)
        for u in User.objects.filter(pk__in=[u.pk for u in users])
    }
    assert rows == {
        "u0": ("First", "Same", when),
        "u1": ("Old", "Moved", None),
        "u2": ('It\'s "quoted"\tand tabbed', "Same", None),
    }
