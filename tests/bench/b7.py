"""B7: the detective SoD scan of 100,000 users x 50 rules (≈ 1.5 M entitlement memberships).

Run: ``DATABASE_URL=postgres://…/scratch python -m tests.bench.b7 --users 100000`` on a scratch,
migrated PostgreSQL database (it writes users, accounts and memberships with COPY, then deletes
nothing: use a throw-away database). The directory: ``--users`` ACTIVE users, each with one
account on one resource holding ``--per-user`` of its 188 common entitlements (seeded random)
and, with two 8 % draws, one of its 12 sensitive ones — ≈ users x per-user memberships; 50
rules, each "any of 2 sensitive entitlements vs any of 2 others", so about 0.6 % of the people
break some rule. The clock runs around ``sod.services.scan.sod_scan`` (the beat task's service):
the first scan (every violation new, a task and an audit event each), then a second one
(nothing changes). Prints wall time, SQL statements, violations and the process's peak RSS.

Not collected by pytest (no ``test_`` prefix): timings never belong in the test suite.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from blazon.db import copy_rows  # noqa: E402
from directory.models import Account, Entitlement, EntitlementMembership, Resource, User  # noqa: E402
from sod.models import SoDRule  # noqa: E402
from sod.services.rules import sod_rule_create  # noqa: E402
from sod.services.scan import sod_scan  # noqa: E402

N_ENTITLEMENTS = 200
N_RULES = 50
N_SENSITIVE = 12  # the entitlements rules name: most people hold none of them
SENSITIVE_RATE = 0.08  # two draws per user: ≈ 0.6 % hold two


def build(users: int, per_user: int, seed: int) -> None:
    rng = random.Random(seed)
    app = Resource.objects.create(code="b7-erp", name="B7 ERP")
    Entitlement.objects.bulk_create(
        [
            Entitlement(resource=app, identifier=f"e{i:03d}", name=f"Entitlement {i}")
            for i in range(N_ENTITLEMENTS)
        ]
    )
    ent_ids = list(
        Entitlement.objects.filter(resource=app).order_by("identifier").values_list("pk", flat=True)
    )
    now = django.utils.timezone.now()
    copy_rows(
        User._meta.db_table,
        ["username", "password", "first_name", "last_name", "email", "is_superuser", "is_staff",
         "is_active", "date_joined", "display_name", "job_title", "department", "employee_type", "status",
         "console_role", "created_source", "attributes", "login_locked"],
        ((f"b7-{i}", "!", "B7", str(i), "", False, False, True, now, "", "", "", "", "ACTIVE", "", "import",
          "{}", False) for i in range(users)),
    )  # fmt: skip
    user_ids = list(
        User.objects.filter(username__startswith="b7-").order_by("pk").values_list("pk", flat=True)
    )
    copy_rows(
        Account._meta.db_table,
        ["resource_id", "owner_id", "identifier", "account_type", "status", "management", "manual",
         "is_temporary", "attributes", "created_at", "updated_at"],
        ((app.pk, uid, f"b7-{uid}", "REGULAR", "ACTIVE", "MANUAL", True, False, "{}", now, now)
         for uid in user_ids),
    )  # fmt: skip
    accounts = list(Account.objects.filter(resource=app).values_list("pk", flat=True))
    common, sensitive = ent_ids[:-N_SENSITIVE], ent_ids[-N_SENSITIVE:]

    def memberships():
        for acc in accounts:
            held = rng.sample(common, per_user)
            held += {rng.choice(sensitive) for _ in range(2) if rng.random() < SENSITIVE_RATE}
            for ent in held:
                yield (acc, ent, "MANUAL", True, now)

    copy_rows(
        EntitlementMembership._meta.db_table,
        ["account_id", "entitlement_id", "management", "manual", "created_at"],
        memberships(),
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    names = [f"entitlement:b7-erp/e{i:03d}" for i in range(N_ENTITLEMENTS)][-N_SENSITIVE:]
    for r in range(N_RULES):
        a, b, c, d = rng.sample(names, 4)
        sod_rule_create(
            actor=None, source="import", code=f"b7-rule-{r}", name=f"B7 rule {r}", sides=[[a, b], [c, d]]
        )


def timed_scan() -> tuple[float, int, dict[str, int]]:
    with CaptureQueriesContext(connection) as queries:
        t0 = time.perf_counter()
        result = sod_scan()
        elapsed = time.perf_counter() - t0
    return elapsed, len(queries), result.as_dict()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--per-user", type=int, default=15, help="memberships per user")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not SoDRule.objects.filter(code="b7-rule-0").exists():
        t0 = time.perf_counter()
        build(args.users, args.per_user, args.seed)
        print(
            f"built {args.users} users, {EntitlementMembership.objects.count()} memberships in {time.perf_counter() - t0:.1f} s"
        )
    else:  # built before: forget what the last run found, so the first scan finds it all again
        from sod.models import SoDViolation
        from worklist.models import Task

        task_ids = list(SoDViolation.objects.values_list("task_id", flat=True))
        SoDViolation.objects.all().delete()
        Task.objects.filter(pk__in=[t for t in task_ids if t]).delete()
    for label in ("first scan", "second scan"):
        elapsed, statements, result = timed_scan()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"{label}: {elapsed:.2f} s, {statements} SQL statements, peak RSS {rss} MiB, {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
