"""Embedded mode: the web app and the in-process adapters (``manage.py run_adapters``, as
``bin/run`` starts them) write to one SQLite file at the same time, and nobody ever sees
"database is locked" (issue 12, item 2).

Real processes, as ``bin/run`` runs them: ``runserver`` (threaded) and ``run_adapters`` on a
fresh SQLite database. Clients in several threads submit a few hundred access requests through
the API while the adapters pull, execute and report the provisioning entries those requests
write. Every request must be answered 201, every request must end FINISHED (its entries
executed and reported), and neither process may log a locked database or an unavailable core.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._env import REPO, clean_env, run

USERS = 70
ENTITLEMENTS = 3  # USERS x ENTITLEMENTS requests, each writing one or two provisioning entries
CLIENTS = 4

SETUP = f"""
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from blazon.api.services import api_token_issue
from directory.models import ConsoleRole, Entitlement, ProvisioningEvent, ProvisioningMode, Resource, User
from provisioning.services.inprocess import inprocess_adapter_configure

admin = User.objects.create(username="admin", console_role=ConsoleRole.ADMINISTRATOR, is_superuser=True)
User.objects.bulk_create(
    User(username=f"u{{i:03}}", first_name="User", last_name=str(i), email=f"u{{i}}@example.com")
    for i in range({USERS})
)
erp = Resource.objects.create(
    code="erp", name="ERP",
    provisioning_modes={{e: ProvisioningMode.AUTOMATIC for e in ProvisioningEvent.values}},
)
for n in range({ENTITLEMENTS}):
    Entitlement.objects.create(resource=erp, identifier=f"group{{n}}", name=f"Group {{n}}")
inprocess_adapter_configure(
    actor=admin, source="console", resource=erp, connector_type="csv", settings={{"directory": "erp"}}
)
# the application (a CSV file) already has the groups
from provisioning.runner import inprocess_dir
apps = inprocess_dir() / "apps" / "erp"
apps.mkdir(parents=True, exist_ok=True)
(apps / "entitlements.csv").write_text(
    "identifier,name\\n" + "".join(f"group{{n}},Group {{n}}\\n" for n in range({ENTITLEMENTS}))
)
_token, raw = api_token_issue(actor=None, source="console", user=admin, name="test", expires_at=None)
print(json.dumps({{"token": raw, "entitlements": list(Entitlement.objects.values_list("pk", flat=True))}}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the web server stopped: {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own local server
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the web server did not start")


def _post(base: str, token: str, body: dict) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/api/v1/requests/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:500]


def _statuses(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute(
            "SELECT status, COUNT(*) FROM requests_workflow_request GROUP BY status"
        ).fetchall()
    return dict(rows)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_web_and_adapters_write_one_sqlite_file_without_locked_errors(tmp_path):
    db = tmp_path / "blazon.sqlite3"
    env = clean_env(DATABASE_URL=f"sqlite:///{db}", BLAZON_INPROCESS_DIR=str(tmp_path / "var"))
    setup = run(["-c", "import json\n" + SETUP], env, timeout=300)
    assert setup.returncode == 0, setup.stderr[-3000:]
    data = json.loads(setup.stdout.strip().splitlines()[-1])
    token, entitlements = data["token"], data["entitlements"]

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    python = sys.executable
    # the logs go to files: a pipe nobody reads while the test runs would fill and block them
    web_out, adapters_out = tmp_path / "web.log", tmp_path / "adapters.log"
    with web_out.open("w") as handle:
        web = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    with adapters_out.open("w") as handle:
        adapters = subprocess.Popen(  # noqa: S603
            [python, "manage.py", "run_adapters", "--poll-seconds", "0.1"],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(f"{base}/login/", web)
        bodies = [
            {
                "type": "GRANT_ENTITLEMENT",
                "beneficiary": f"u{i:03}",
                "entitlement": ent,
                "justification": "concurrency test",
            }
            for ent in entitlements
            for i in range(USERS)
        ]
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(lambda body: _post(base, token, body), bodies))
        refused = [a for a in answers if a[0] != 201]
        assert not refused, f"{len(refused)} of {len(answers)} refused, e.g. {refused[:3]}"

        # the adapters execute and report every entry: every request ends FINISHED
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            statuses = _statuses(db)
            if statuses.get("FINISHED") == len(bodies) or adapters.poll() is not None:
                break
            time.sleep(1)
    finally:
        _stop(web)
        _stop(adapters)
    web_log, adapters_log = web_out.read_text(), adapters_out.read_text()
    assert statuses == {"FINISHED": len(bodies)}, f"{statuses}; run_adapters: …{adapters_log[-3000:]}"
    for name, log in (("web", web_log), ("run_adapters", adapters_log)):
        for bad in ("database is locked", "core unavailable", "Traceback", '" 500 '):
            assert bad not in log, (
                f"{name}: {bad!r} in …{log[max(log.find(bad) - 1500, 0) : log.find(bad) + 500]}"
            )
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
