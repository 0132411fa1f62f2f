"""B3: a full accounts reconciliation of N accounts from a CSV export (1 % rogue accounts the
directory lacks, 1 % of the directory's accounts missing from the export, 1 % attribute drift).

Run with ``DATABASE_URL`` set to a scratch PostgreSQL database (``./bin/bench b3 --accounts N``
creates one): it writes N users and N accounts with COPY, the CSV export, then times one
``run_and_execute`` of a profile whose actions are: found → update (drift), account and owner not
found → create (record the rogue account as an orphan), missing → revoke. Prints the phases'
durations, the counts and the peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from blazon.db import copy_rows  # noqa: E402
from directory.models import Account, ConsoleRole, Resource, User  # noqa: E402
from reconciliation.models import ReconciliationRun  # noqa: E402
from reconciliation.services.profiles import profile_create  # noqa: E402
from reconciliation.services.runs import run_and_execute  # noqa: E402


def setup(n: int, folder: Path) -> tuple[User, Resource]:
    admin = User.objects.create(
        username="b3-admin", first_name="B3", last_name="Admin", console_role=ConsoleRole.ADMINISTRATOR
    )
    res = Resource.objects.create(code="b3-app", name="B3 application")
    password = make_password(None)
    now = timezone.now()
    with transaction.atomic():
        copy_rows(
            User._meta.db_table,
            ("password", "username", "first_name", "last_name", "email", "is_superuser", "is_staff", "is_active",
             "date_joined", "display_name", "job_title", "department", "employee_type", "status", "login_locked",
             "console_role", "attributes", "created_source"),
            ((password, f"u{i:07d}", "B3", str(i), f"u{i:07d}@b3.test", False, False, True, now, "", "", "", "",
              "ACTIVE", False, "", "{}", "import") for i in range(n)),
        )  # fmt: skip
        first = User.objects.filter(username="u0000000").values_list("pk", flat=True).get()
        copy_rows(
            Account._meta.db_table,
            ("resource_id", "owner_id", "identifier", "account_type", "status", "management", "manual",
             "is_temporary", "attributes", "created_at", "updated_at"),
            ((res.pk, first + i, f"u{i:07d}", "REGULAR", "ACTIVE", "MANUAL", True, False,
              f'{{"mail": "u{i:07d}@b3.test"}}', now, now) for i in range(n)),
        )  # fmt: skip
    one = max(n // 100, 1)
    with (folder / "b3.csv").open("w", encoding="utf-8") as out:
        out.write("identifier,mail\n")
        for i in range(one, n):  # the first 1 %: missing from the application
            mail = f"u{i:07d}@b3.test" if i >= 2 * one else f"changed{i}@b3.test"  # the next 1 %: drift
            out.write(f"u{i:07d},{mail}\n")
        for i in range(one):  # 1 % rogue accounts
            out.write(f"rogue{i:07d},rogue{i}@evil.test\n")
    return admin, res


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="b3-"))
    settings.BLAZON_RECONCILIATION_DIR = str(folder)
    started = time.monotonic()
    admin, res = setup(args.accounts, folder)
    print(f"setup: {args.accounts} users and accounts, CSV written in {time.monotonic() - started:.1f} s")
    profile = profile_create(
        actor=admin, source="console", code="b3", name="B3", kind="ACCOUNTS", resource=res, source_type="csv",
        source_settings={"file": "b3.csv"}, key_field="identifier", safety_share=5, max_row_errors=0,
        rules=[{"target": "OBJECT", "attribute": "identifier", "value": "{[identifier]}"},
               {"target": "OWNER", "attribute": "username", "value": "{[identifier]}"}],
        mappings=[{"target": "mail", "mode": "FIELD", "value": "{[mail]}"}],
        actions={"FOUND": "UPDATE", "ACCOUNT_OWNER_NOT_FOUND": "CREATE", "MISSING": "REVOKE"},
    )  # fmt: skip
    started = time.monotonic()
    run = run_and_execute(actor=admin, source="console", profile=profile)
    total = time.monotonic() - started
    run = ReconciliationRun.objects.get(pk=run.pk)
    assert run.started_at is not None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"run #{run.pk}: {run.status} in {total:.1f} s ({args.accounts / total:,.0f} accounts/s); peak RSS {rss:.0f} MiB"
    )
    assert run.planned_at is not None and run.finished_at is not None
    print(f"  read, staged, classified and planned in {(run.planned_at - run.started_at).total_seconds():.1f} s; "
          f"applied in {(run.finished_at - run.planned_at).total_seconds():.1f} s")  # fmt: skip
    print(f"  situations {run.situations}")
    print(f"  actions    {run.actions}")
    print(f"  errors {run.errors} {run.error}")
    return 0 if run.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
