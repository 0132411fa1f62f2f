"""Blazon benchmarks (see ../shared/BENCHMARKS.md and docs/benchmarks.md).

Run with ``./bin/bench`` (it creates a fresh PostgreSQL database and migrates it). Prints, for
each workload, every run's wall-clock time, the median, the SQL statements issued and the
process's peak RSS, then a Markdown table to paste into docs/benchmarks.md.

- B1: add one entitlement to a role with N members (memberships + provisioning entries +
  audit events), then remove it again; through the same service the console and the API use
  (``access.role_change_submit``; the fan-out task runs in-process here).
- B2: bulk creation of N users with 3 accounts each through ``users.users_bulk_create``, the
  service the importer uses.
- IMPORT: CSV import of N GRANT_ENTITLEMENT lines end to end (dry run, then the best-effort
  run through ``request_create`` with the pipeline eager in this process) until every request
  is FINISHED or WAITING_PROVISIONING.
- C: inactivation cascade of one user with 50 accounts and 200 entitlement memberships
  (``lifecycle.user_inactivate``), then activation.

Not collected by pytest (no ``test_`` prefix): timings never belong in the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from blazon.audit.models import AuditEvent  # noqa: E402
from directory.models import (  # noqa: E402
    Account,
    AccountRoleGrant,
    AccountType,
    Entitlement,
    EntitlementMembership,
    Management,
    ProvisioningEvent,
    ProvisioningMode,
    Resource,
    Role,
    RoleChange,
    RoleChangeStatus,
    RoleMembership,
    RoleResource,
    User,
    UserStatus,
    default_provisioning_modes,
)
from provisioning.models import ProvisioningEntry  # noqa: E402

BATCH = 10_000


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Figure:
    name: str
    target: str
    runs: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    rss_after: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def line(self) -> str:
        runs = ", ".join(f"{r:.3f}" for r in self.runs)
        return (
            f"{self.name}: median {self.median:.3f} s (runs: {runs}); SQL statements per run: "
            f"{sorted(set(self.queries))}; peak RSS {max(self.rss_after):.0f} MiB; target {self.target}"
            + (f"; {self.note}" if self.note else "")
        )


def timed(fn: Callable[[], object]) -> tuple[float, int]:
    """Wall-clock time and number of SQL statements (counted, not stored: keeping 100k-row
    INSERT texts would distort both time and memory)."""
    count = 0

    def counter(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
    return elapsed, count


def provisioning_resource(code: str, name: str) -> Resource:
    modes = default_provisioning_modes()
    for event in ProvisioningEvent.values:
        modes[event] = ProvisioningMode.AUTOMATIC
    return Resource.objects.create(code=code, name=name, provisioning_modes=modes)


def bulk_users(prefix: str, count: int, password: str) -> list[int]:
    ids: list[int] = []
    for start in range(0, count, BATCH):
        batch = [
            User(
                username=f"{prefix}{i:07d}",
                first_name="Bench",
                last_name=f"User {i}",
                display_name=f"Bench User {i}",
                email=f"{prefix}{i:07d}@bench.example",
                department="Bench",
                password=password,
            )
            for i in range(start, min(start + BATCH, count))
        ]
        ids.extend(u.pk for u in User.objects.bulk_create(batch))
    return ids


# --------------------------------------------------------------------------------------------
# B1


def b1(members: int, repeat: int) -> tuple[Figure, Figure]:
    print(f"B1 setup: a role with {members:,} members, each with a role-managed account …", flush=True)
    start = time.perf_counter()
    password = make_password(None)
    res = provisioning_resource("b1-ad", "B1 Active Directory")
    ent = Entitlement.objects.create(resource=res, identifier="CN=B1-Finance", name="B1 Finance")
    role = Role.objects.create(code="b1-role", name="B1 role")
    RoleResource.objects.create(role=role, resource=res)
    user_ids = bulk_users("b1u", members, password)
    with transaction.atomic():
        for chunk_start in range(0, len(user_ids), BATCH):
            chunk = user_ids[chunk_start : chunk_start + BATCH]
            RoleMembership.objects.bulk_create([RoleMembership(user_id=uid, role=role) for uid in chunk])
            accounts = Account.objects.bulk_create(
                [
                    Account(
                        resource=res,
                        owner_id=uid,
                        identifier=f"b1u{n + chunk_start:07d}",
                        account_type=AccountType.REGULAR,
                        management=Management.ROLE,
                        manual=False,
                    )
                    for n, uid in enumerate(chunk)
                ]
            )
            AccountRoleGrant.objects.bulk_create([AccountRoleGrant(account=a, role=role) for a in accounts])
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"B1 setup done in {time.perf_counter() - start:.1f} s", flush=True)

    from directory.services import access

    add = Figure("B1 add entitlement", "≤ 15 s (stretch ≤ 5 s)")
    remove = Figure("B1 remove entitlement", "≤ 15 s (stretch ≤ 5 s)")
    for _ in range(repeat):
        for figure, action in ((add, RoleChange.Action.ADD), (remove, RoleChange.Action.REMOVE)):
            before_entries = ProvisioningEntry.objects.count()
            before_audit = AuditEvent.objects.count()

            def run(action: str = action) -> None:
                with transaction.atomic():
                    access.role_change_submit(
                        actor=None, source="console", role=role, action=action, entitlement=ent
                    )
                # embedded mode: the fan-out task ran on commit, in this process

            elapsed, queries = timed(run)
            change = RoleChange.objects.filter(role=role).order_by("-id").first()
            assert change is not None and change.status == RoleChangeStatus.DONE, change and change.error
            memberships = EntitlementMembership.objects.filter(entitlement=ent).count()
            expected = members if action == RoleChange.Action.ADD else 0
            assert memberships == expected, (memberships, expected)
            figure.runs.append(elapsed)
            figure.queries.append(queries)
            figure.rss_after.append(peak_rss_mib())
            figure.note = (
                f"per run: {ProvisioningEntry.objects.count() - before_entries:,} provisioning entries, "
                f"{AuditEvent.objects.count() - before_audit:,} audit events"
            )
            print("  " + figure.line(), flush=True)
    return add, remove


# --------------------------------------------------------------------------------------------
# B2


def b2(users: int, repeat: int) -> Figure:
    from directory.services import users as users_service

    resources = [provisioning_resource(f"b2-r{i}", f"B2 resource {i}") for i in range(3)]
    figure = Figure("B2 bulk create users × 3 accounts", "≤ 60 s (stretch ≤ 20 s)")
    for run_no in range(repeat):
        rows = (
            {
                "username": f"b2r{run_no}u{i:07d}",
                "first_name": "Imported",
                "last_name": f"Person {i}",
                "email": f"b2r{run_no}u{i:07d}@bench.example",
                "department": "Import",
            }
            for i in range(users)
        )

        def run(rows=rows) -> None:
            users_service.users_bulk_create(
                actor=None, source="import", rows=rows, accounts_per_user=resources
            )

        before = Account.objects.filter(resource__in=resources).count()
        elapsed, queries = timed(run)
        created = Account.objects.filter(resource__in=resources).count() - before
        assert created == users * 3, (created, users * 3)
        figure.runs.append(elapsed)
        figure.queries.append(queries)
        figure.rss_after.append(peak_rss_mib())
        figure.note = f"{users / elapsed:,.0f} users/s, {created / elapsed:,.0f} accounts/s"
        print("  " + figure.line(), flush=True)
    return figure


# --------------------------------------------------------------------------------------------
# inactivation cascade


def cascade(repeat: int) -> tuple[Figure, Figure]:
    from directory.services import lifecycle

    password = make_password(None)
    user = User.objects.create(
        username="cascade.user", first_name="Cascade", last_name="User", password=password
    )
    for r in range(50):
        res = provisioning_resource(f"c-r{r:02d}", f"Cascade resource {r}")
        account = Account.objects.create(resource=res, owner=user, identifier="cascade.user")
        ents = Entitlement.objects.bulk_create(
            [Entitlement(resource=res, identifier=f"G{r}-{e}", name=f"Group {r}-{e}") for e in range(4)]
        )
        EntitlementMembership.objects.bulk_create(
            [EntitlementMembership(account=account, entitlement=e) for e in ents]
        )
    assert EntitlementMembership.objects.filter(account__owner=user).count() == 200
    inact = Figure("Inactivation cascade (50 accounts, 200 memberships)", "≤ 100 ms")
    act = Figure("Activation (the reverse)", "—")
    for _ in range(repeat):
        user.refresh_from_db()
        elapsed, queries = timed(lambda: lifecycle.user_inactivate(actor=None, source="console", user=user))
        assert User.objects.get(pk=user.pk).status == UserStatus.INACTIVE
        inact.runs.append(elapsed)
        inact.queries.append(queries)
        inact.rss_after.append(peak_rss_mib())
        user.refresh_from_db()
        elapsed, queries = timed(lambda: lifecycle.user_activate(actor=None, source="console", user=user))
        assert User.objects.get(pk=user.pk).status == UserStatus.ACTIVE
        act.runs.append(elapsed)
        act.queries.append(queries)
        act.rss_after.append(peak_rss_mib())
    print("  " + inact.line(), flush=True)
    print("  " + act.line(), flush=True)
    return inact, act


# --------------------------------------------------------------------------------------------
# CSV import of requests


def imports(rows: int, repeat: int) -> Figure:
    from directory.models import ConsoleRole
    from requests_workflow.models import ImportJob, ImportMode, ImportStatus, Request, RequestStatus
    from requests_workflow.services.imports import import_dry_run, import_execute, import_run

    password = make_password(None)
    admin = User.objects.create(
        username="import.admin", console_role=ConsoleRole.ADMINISTRATOR, password=password
    )
    res = provisioning_resource("imp-erp", "Import ERP")
    figure = Figure(f"CSV import of {rows:,} GRANT_ENTITLEMENT lines", "≤ 60 s")
    for run_no in range(repeat):
        ent = Entitlement.objects.create(
            resource=res, identifier=f"IMP-{run_no}", name=f"Import group {run_no}"
        )
        if run_no == 0:
            bulk_users("impu", rows, password)
        lines = ["type,beneficiary,resource,entitlement,justification"]
        lines += [f"GRANT_ENTITLEMENT,impu{i:07d},imp-erp,IMP-{run_no},Bulk onboarding" for i in range(rows)]
        data = ("\n".join(lines) + "\n").encode()
        timings: dict[str, float] = {}

        def run(data=data, timings=timings) -> None:
            start = time.perf_counter()
            job = import_dry_run(actor=admin, file=data, file_name="bench.csv")
            timings["dry run"] = time.perf_counter() - start
            assert job.error_count == 0, job.dry_run_errors[:3]
            start = time.perf_counter()
            with transaction.atomic():
                import_run(actor=admin, job=job, mode=ImportMode.BEST_EFFORT)
            # embedded mode: the task ran on commit, in this process, and each batch's requests
            # ran through stages 3-5 when the batch committed
            job = ImportJob.objects.get(pk=job.pk)
            if job.status == ImportStatus.RUNNING:  # a broker is configured: run it here
                import_execute(job_id=job.pk)
            timings["run"] = time.perf_counter() - start

        elapsed, queries = timed(run)
        done = Request.objects.filter(
            entitlement=ent, status__in=[RequestStatus.FINISHED, RequestStatus.WAITING_PROVISIONING]
        ).count()
        assert done == rows, (done, rows, Request.objects.filter(entitlement=ent).values("status").distinct())
        figure.runs.append(elapsed)
        figure.queries.append(queries)
        figure.rss_after.append(peak_rss_mib())
        figure.note = (
            f"dry run {timings['dry run']:.1f} s, run {timings['run']:.1f} s; {rows / elapsed:,.0f} lines/s; "
            f"{queries / rows:.0f} SQL statements per line"
        )
        print("  " + figure.line(), flush=True)
    return figure


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count()
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cores} cores ({cpu}), {mem:.0f} GiB, PostgreSQL {pg}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000, help="B1 role members (default 100,000)")
    parser.add_argument("--users", type=int, default=100_000, help="B2 users to create (default 100,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of B1 and the cascade (default 3)")
    parser.add_argument("--b2-repeat", type=int, default=1, help="runs of B2 (default 1)")
    parser.add_argument("--rows", type=int, default=10_000, help="IMPORT lines (default 10,000)")
    parser.add_argument("--import-repeat", type=int, default=1, help="runs of IMPORT (default 1)")
    parser.add_argument("--only", default="B1,B2,C,IMPORT", help="comma-separated subset of B1,B2,C,IMPORT")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("Benchmarks run on PostgreSQL: use ./bin/bench", file=sys.stderr)
        return 2
    only = {x.strip().upper() for x in args.only.split(",")}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(f"Blazon benchmarks — commit {commit or '?'} — {machine()}", flush=True)
    figures: list[Figure] = []
    if "B1" in only:
        figures.extend(b1(args.members, args.repeat))
    if "B2" in only:
        figures.append(b2(args.users, args.b2_repeat))
    if "C" in only:
        figures.extend(cascade(max(args.repeat, 5)))
    if "IMPORT" in only:
        figures.append(imports(args.rows, args.import_repeat))
    print("\n| workload | median | runs | SQL statements | peak RSS | target |")
    print("|---|---|---|---|---|---|")
    for f in figures:
        runs = ", ".join(f"{r:.3f}" for r in f.runs)
        print(
            f"| {f.name} | {f.median:.3f} s | {runs} | {max(f.queries)} | {max(f.rss_after):.0f} MiB | {f.target} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
