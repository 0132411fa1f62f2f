"""B8: certification at scale — generate a campaign of ``--users`` x (1 account + ``--per-user``
memberships) items (500,000 with the defaults: eligibility, reviewer resolution, fallback,
tasks), close it with 10 % of the items undecided and revoked (the revoke requests written
set-based), and time the reviewer page over 5,000 items (p95 per page of 50).

Run: ``./bin/bench b8`` (a fresh, migrated PostgreSQL database), or
``DATABASE_URL=postgres://…/scratch python -m tests.bench.b8 --users 100000`` on a throw-away
migrated database (it writes users, accounts and memberships with COPY and deletes nothing).
The directory: ``--users`` ACTIVE users in groups of 50 under one manager each (a manager
reviews 50 people), one reviewer with 5,000 items for the page timing, each user with one
manual account on one resource and ``--per-user`` of its 40 entitlements.

Not collected by pytest (no ``test_`` prefix): timings never belong in the test suite.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from blazon.db import copy_rows  # noqa: E402
from certification.models import CertificationItem, Decision, Outcome  # noqa: E402
from certification.services.campaigns import campaign_finish, campaign_start  # noqa: E402
from certification.services.policies import certification_policy_create  # noqa: E402
from directory.models import Account, Entitlement, EntitlementMembership, Resource, User  # noqa: E402

N_ENTITLEMENTS = 40
TEAM = 50
PAGE_REVIEWER_ITEMS = 5000


def _users(prefix: str, n: int, now) -> list[int]:
    copy_rows(
        User._meta.db_table,
        ["username", "password", "first_name", "last_name", "email", "is_superuser", "is_staff",
         "is_active", "date_joined", "display_name", "job_title", "department", "employee_type", "status",
         "console_role", "created_source", "attributes", "login_locked"],
        ((f"{prefix}{i}", "!", "B8", str(i), "", False, False, True, now, "", f"Job {i % 7}", f"Dept {i % 5}", "",
          "ACTIVE", "", "import", "{}", False) for i in range(n)),
    )  # fmt: skip
    return list(User.objects.filter(username__startswith=prefix).order_by("pk").values_list("pk", flat=True))


def build(users: int, per_user: int, seed: int) -> None:
    rng = random.Random(seed)
    now = timezone.now()
    app = Resource.objects.create(code="b8-erp", name="B8 ERP", criticality="HIGH")
    Entitlement.objects.bulk_create(
        [
            Entitlement(resource=app, identifier=f"e{i:02d}", name=f"Entitlement {i}")
            for i in range(N_ENTITLEMENTS)
        ]
    )
    ents = list(Entitlement.objects.filter(resource=app).values_list("pk", flat=True))
    managers = _users("b8-mgr-", users // TEAM + 1, now)
    people = _users("b8-u-", users, now)
    per_item = 1 + per_user
    big = PAGE_REVIEWER_ITEMS // per_item  # the page reviewer's team: 5,000 items
    with connection.cursor() as cursor:
        for start in range(0, len(people), TEAM):
            team = people[start : start + TEAM]
            cursor.execute(
                f"UPDATE {User._meta.db_table} SET manager_id = %s WHERE id = ANY(%s)",  # noqa: S608
                [managers[start // TEAM], team],
            )
        cursor.execute(
            f"UPDATE {User._meta.db_table} SET manager_id = %s WHERE id = ANY(%s)",  # noqa: S608
            [managers[-1], people[:big]],
        )
    copy_rows(
        Account._meta.db_table,
        ["resource_id", "owner_id", "identifier", "account_type", "status", "management", "manual",
         "is_temporary", "attributes", "created_at", "updated_at"],
        ((app.pk, uid, f"b8-{uid}", "REGULAR", "ACTIVE", "MANUAL", True, False, "{}", now, now) for uid in people),
    )  # fmt: skip
    accounts = list(Account.objects.filter(resource=app).values_list("pk", flat=True))
    copy_rows(
        EntitlementMembership._meta.db_table,
        ["account_id", "entitlement_id", "management", "manual", "created_at"],
        ((acc, ent, "MANUAL", True, now) for acc in accounts for ent in rng.sample(ents, per_user)),
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--per-user", type=int, default=4, help="memberships per user")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--pages", type=int, default=40, help="reviewer pages to time")
    parser.add_argument("--process", action="store_true", help="commit the closing and process its requests")
    args = parser.parse_args()
    t0 = time.perf_counter()
    build(args.users, args.per_user, args.seed)
    print(f"built {args.users} users, {EntitlementMembership.objects.count()} memberships in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    with transaction.atomic():
        policy = certification_policy_create(
            actor=None, source="import", code="b8", name="B8", reviewer_kind="MANAGER", period_days=90,
            duration_days=30, undecided_action="REVOKE",
        )  # fmt: skip

    with CaptureQueriesContext(connection) as q:
        t0 = time.perf_counter()
        campaign = campaign_start(actor=None, source="import", policy=policy)
        generate = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(
        f"generate: {campaign.item_count} items in {generate:.1f} s, {len(q)} SQL statements, peak RSS {rss} MiB"
    )

    reviewer = User.objects.get(username=f"b8-mgr-{args.users // TEAM}")
    client = Client()
    client.force_login(reviewer)
    mine = CertificationItem.objects.filter(campaign=campaign, reviewer=reviewer).count()
    times = []
    for page in range(1, args.pages + 1):
        t0 = time.perf_counter()
        response = client.get(f"/workspace/certification/?page={page}")
        times.append(time.perf_counter() - t0)
        assert response.status_code == 200
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    print(f"reviewer page: {mine} items, {len(times)} pages of 50, median {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms")  # fmt: skip

    # 90 % decided KEEP (set up directly: we time the closing), 10 % undecided -> revoked
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {CertificationItem._meta.db_table} SET decision = %s, outcome = %s, decided_at = now() "  # noqa: S608
            "WHERE campaign_id = %s AND id %% 10 <> 0",
            [Decision.KEEP, Outcome.KEPT, campaign.pk],
        )

    # the clock stops when the closing's writes are done (inside an outer transaction); with
    # --process the requests' processing (stages 3-5, set-based) runs at its commit and is timed
    # apart, without it the closing is rolled back
    class Rollback(Exception):
        pass

    t1 = time.perf_counter()
    try:
        with transaction.atomic():
            with CaptureQueriesContext(connection) as q:
                t0 = time.perf_counter()
                result = campaign_finish(actor=None, source="import", campaign=campaign)
                close = time.perf_counter() - t0
            t1 = time.perf_counter()
            if not args.process:
                raise Rollback
    except Rollback:
        pass
    processed = time.perf_counter() - t1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"close: {result.revoke_requests} revoke requests written ({result.revoke_refused} refused) in "
          f"{close:.1f} s, {len(q)} SQL statements, peak RSS {rss} MiB; "
          f"{'commit and processing after commit' if args.process else 'rollback'} {processed:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
