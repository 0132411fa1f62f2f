"""Access decisions (issue 17): the rule resolution for a user with 50 access groups over 10,000
credentials — target p95 ≤ 20 ms.

Run: ``./bin/bench access`` (its own scratch database), or
``DATABASE_URL=postgres://…/scratch python -m tests.bench.access_rules`` on a scratch, migrated
PostgreSQL database (it writes and deletes nothing else: use a throw-away database).

The directory, built set-based (``bulk_create`` and ``INSERT … SELECT``): 10,000 privileged
credentials (administrative and shared accounts on 20 resources), 2,000 other users, 30 roles and
10 organizations; 250 access groups of which **50 give the measured user access** — 20 name them,
15 through their organization (they belong to one), 15 through their 15 roles — each group with 0
to 3 approval levels and its own window, code and emergency settings, covering a random 20 % of
the credentials (≈ 500,000 group × credential rows). The other 200 groups have other members.

The clock runs around ``privileged.selectors.rule_for`` (what the justification form and the API
call before a request is made: the most restrictive of the user's groups on the credential, and
its levels) for ``--decisions`` random credentials, after a warm-up; it prints p50 / p95 / p99,
the SQL statements per decision, and ``EXPLAIN ANALYZE`` of the group query for one credential.

Not collected by pytest (no ``test_`` prefix): timings never belong in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from directory.models import (  # noqa: E402
    Account,
    AccountType,
    Organization,
    Resource,
    Role,
    RoleMembership,
    User,
)
from privileged.models import AccessGroup, AccessGroupLevel, LevelApprover  # noqa: E402
from privileged.selectors import groups_of, member_q, rule_for  # noqa: E402

N_RESOURCES = 20
N_OTHER_USERS = 2000
N_ROLES = 30
N_ORGS = 10
N_GROUPS = 250
MINE_BY_USER, MINE_BY_ORG, MINE_BY_ROLE = 20, 15, 15


def build(credentials: int, coverage: float, seed: int) -> User:
    rng = random.Random(seed)
    resources = Resource.objects.bulk_create(
        [Resource(code=f"ar-{i:02d}", name=f"Access bench {i:02d}") for i in range(N_RESOURCES)]
    )
    Account.objects.bulk_create(
        [
            Account(
                resource=resources[i % N_RESOURCES],
                identifier=f"priv{i:05d}",
                account_type=AccountType.ADMINISTRATIVE if i % 3 else AccountType.SHARED,
                owner=None,
            )
            for i in range(credentials)
        ],
        batch_size=2000,
    )
    orgs = Organization.objects.bulk_create(
        [Organization(code=f"ar-org{i}", name=f"Org {i}") for i in range(N_ORGS)]
    )
    roles = Role.objects.bulk_create(
        [Role(code=f"ar-role{i:02d}", name=f"Role {i:02d}") for i in range(N_ROLES)]
    )
    me = User.objects.create(username="bench-me", first_name="Bench", last_name="Me", organization=orgs[0])
    others = User.objects.bulk_create(
        [
            User(username=f"ar-u{i:05d}", first_name="U", last_name=str(i), organization=orgs[i % N_ORGS])
            for i in range(N_OTHER_USERS)
        ],
        batch_size=2000,
    )
    my_roles = roles[:MINE_BY_ROLE]
    RoleMembership.objects.bulk_create(
        [RoleMembership(user=me, role=r) for r in my_roles]
        + [
            RoleMembership(user=u, role=roles[MINE_BY_ROLE + i % (N_ROLES - MINE_BY_ROLE)])
            for i, u in enumerate(others)
        ],
        batch_size=2000,
    )
    groups = AccessGroup.objects.bulk_create(
        [
            AccessGroup(
                code=f"ar-g{i:03d}",
                name=f"Group {i:03d}",
                approval_required=rng.random() < 0.8,
                justification_required=rng.random() < 0.7,
                governance_code_required=rng.random() < 0.4,
                emergency_allowed=rng.random() < 0.3,
                max_window_minutes=rng.choice([30, 60, 120, 240, 480, 1440]),
            )
            for i in range(N_GROUPS)
        ]
    )
    levels = []
    for g in groups:
        for position in range(1, (rng.randint(1, 3) if g.approval_required else 0) + 1):
            levels.append(AccessGroupLevel(group=g, position=position, approver_kind=LevelApprover.OWNER))
    AccessGroupLevel.objects.bulk_create(levels)
    # membership: groups 0-19 name me, 20-34 my organization, 35-49 my roles; the rest others
    users_t = AccessGroup.member_users.through
    orgs_t = AccessGroup.member_organizations.through
    roles_t = AccessGroup.member_roles.through
    users_t.objects.bulk_create([users_t(accessgroup=g, user=me) for g in groups[:MINE_BY_USER]])
    users_t.objects.bulk_create(
        [users_t(accessgroup=g, user=rng.choice(others)) for g in groups[50:] for _ in range(5)],
        ignore_conflicts=True,
    )
    orgs_t.objects.bulk_create(
        [
            orgs_t(accessgroup=g, organization=orgs[0])
            for g in groups[MINE_BY_USER : MINE_BY_USER + MINE_BY_ORG]
        ]
        + [orgs_t(accessgroup=g, organization=orgs[1 + i % (N_ORGS - 1)]) for i, g in enumerate(groups[50:])]
    )
    roles_t.objects.bulk_create(
        [roles_t(accessgroup=g, role=my_roles[i]) for i, g in enumerate(groups[35:50])]
        + [
            roles_t(accessgroup=g, role=roles[MINE_BY_ROLE + i % (N_ROLES - MINE_BY_ROLE)])
            for i, g in enumerate(groups[50:])
        ]
    )
    # credentials: each group a random ``coverage`` of the accounts, in one INSERT … SELECT
    creds_t = AccessGroup.credentials.through._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(%s)", [seed / 1000])
        cur.execute(
            f"INSERT INTO {creds_t} (accessgroup_id, account_id) "  # noqa: S608 (table names from the models)
            f"SELECT g.id, a.id FROM {AccessGroup._meta.db_table} g CROSS JOIN {Account._meta.db_table} a "
            "WHERE g.code LIKE 'ar-g%%' AND a.identifier LIKE 'priv%%' AND random() < %s",
            [coverage],
        )
        cur.execute("ANALYZE")
    return me


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--credentials", type=int, default=10_000)
    parser.add_argument(
        "--coverage", type=float, default=0.2, help="share of the credentials each group covers"
    )
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--reuse", action="store_true", help="measure the data a previous run built")
    args = parser.parse_args()
    started = time.perf_counter()
    existing = User.objects.filter(username="bench-me").first()
    if args.reuse and existing is not None:
        me = existing
    else:
        me = build(args.credentials, args.coverage, args.seed)
    built = time.perf_counter() - started
    rows = AccessGroup.credentials.through.objects.count()
    mine = AccessGroup.objects.filter(member_q(me), active=True).values("pk").distinct().count()
    account_ids = list(Account.objects.filter(identifier__startswith="priv").values_list("pk", flat=True))
    rng = random.Random(args.seed)
    sample = [rng.choice(account_ids) for _ in range(args.decisions)]
    for account_id in sample[:100]:  # warm-up: connection, plans, caches
        rule_for(me, account_id)
    timings, cpu, statements, found = [], [], 0, 0
    for account_id in sample:
        with CaptureQueriesContext(connection) as queries:
            t0, c0 = time.perf_counter(), time.process_time()
            rule = rule_for(me, account_id)
            timings.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        statements += len(queries)
        found += rule is not None
    timings.sort()
    cpu.sort()
    # what PostgreSQL itself spends on the group query (planning + execution), whatever the wait
    server = []
    with connection.cursor() as cur:
        for account_id in sample[:300]:
            sql, params = groups_of(me, account_id).query.sql_with_params()
            cur.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            doc = cur.fetchone()[0]
            doc = json.loads(doc) if isinstance(doc, str) else doc
            server.append(doc[0]["Planning Time"] + doc[0]["Execution Time"])
    server.sort()

    def pct(p: float) -> float:
        return timings[min(len(timings) - 1, int(len(timings) * p))]

    sql, params = groups_of(me, sample[0]).query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        plan = "\n".join(r[0] for r in cur.fetchall())
    load = os.getloadavg()
    print(
        f"built in {built:.1f} s: {args.credentials} credentials, {N_GROUPS} groups ({mine} mine), {rows} group x credential rows"
    )
    print(f"decisions: {len(timings)} ({found} with a rule, {len(timings) - found} without)")
    print(
        f"rule_for: p50 {statistics.median(timings):.2f} ms, p95 {pct(0.95):.2f} ms, p99 {pct(0.99):.2f} ms, "
        f"max {timings[-1]:.2f} ms; {statements / len(timings):.1f} SQL statements per decision"
    )
    print(
        f"  Python CPU per decision: p50 {statistics.median(cpu):.2f} ms, p95 {cpu[int(len(cpu) * 0.95)]:.2f} ms"
    )
    print(
        f"  PostgreSQL planning + execution of the group query ({len(server)} credentials): "
        f"p50 {statistics.median(server):.2f} ms, p95 {server[int(len(server) * 0.95)]:.2f} ms"
    )
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    print("EXPLAIN ANALYZE of the group query (one credential):")
    print(plan)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
