"""B6: provisioning drain to a real slapd — N users × (CREATE_ACCOUNT + GRANT_ENTITLEMENT),
first with one adapter, then with two replicas of it.

Run: ``./bin/bench b6 --users 2000`` (or ``python -m tests.bench.b6`` with DATABASE_URL set to a
scratch database that is migrated). It starts its own slapd (tests/provisioning/adapter/slapd.py,
a temporary directory and port), gunicorn serving the core (``--web-workers``, DEBUG off), and
the adapter as the operator runs it: ``python -m provisioning.adapter --config FILE`` with the
LDAP connector, as real subprocesses. The adapters are polling before the work is written;
the clock starts when the 2N entries are committed (one transaction) and stops when the core
has every one SUCCEEDED. Then the same with two replicas (same client, own journals) on N new
users. It prints entries/s end to end, the CPU seconds of gunicorn, the adapters and slapd
(from /proc), checks LDAP (every account once, every membership once), and measures the core's
cost in this process: SQL statements of one pull of 100 entries, of one report call carrying
100 outcomes and of a single-entry report.

Not collected by pytest (no ``test_`` prefix): timings never belong in the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

import ldap3  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from directory.models import Entitlement, ProvisioningEvent, ProvisioningMode, Resource  # noqa: E402
from provisioning.models import AdapterClient, EntryStatus, ProvisioningEntry  # noqa: E402
from provisioning.services.adapter import adapter_client_register  # noqa: E402
from tests.bench import server as bench_server  # noqa: E402
from tests.provisioning.adapter.slapd import GROUPS, PEOPLE, Slapd, ldap_settings, slapd_binary  # noqa: E402
from tests.provisioning.adapter.workload import drain_entries  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its (waited-for and live) children, from /proc."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / TICK  # utime stime cutime cstime
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (OSError, IndexError, ValueError):
        pass
    return total


def keypair(directory: Path) -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "adapter.key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public.decode()


def toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def adapter_config(
    work: Path, name: str, *, url: str, client_id: str, key: Path, slapd: Slapd, batch: int, concurrency: int
) -> Path:
    runtime = {
        "journal": work / f"{name}.sqlite3",
        "poll_seconds": 0.05,
        "batch_size": batch,
        "concurrency": concurrency,
        "lease_seconds": 300,
        "attempts": 3,
    }
    core = {
        "url": url,
        "client_id": client_id,
        "client_secret_env": "BLAZON_ADAPTER_SECRET",
        "private_key": key,
        "timeout_seconds": 60,
    }
    text = "\n".join(
        [
            "[core]",
            *(f"{k} = {toml(v)}" for k, v in core.items()),
            "[runtime]",
            *(f"{k} = {toml(v)}" for k, v in runtime.items()),
            "[connector]",
            *(f"{k} = {toml(v)}" for k, v in ldap_settings(slapd, timeout_seconds=30).items()),
        ]
    )
    path = work / f"{name}.toml"
    path.write_text(text + "\n")
    return path


def ldap_counts(slapd: Slapd) -> tuple[int, int, int]:
    """(accounts, member values of the group, distinct member values)."""
    conn = slapd.connection()
    accounts = sum(
        1
        for e in conn.extend.standard.paged_search(
            PEOPLE,
            "(objectClass=inetOrgPerson)",
            ldap3.LEVEL,
            attributes=["uid"],
            paged_size=1000,
            generator=True,
        )
        if e.get("type") == "searchResEntry"
    )
    conn.search(f"cn=staff,{GROUPS}", "(objectClass=*)", ldap3.BASE, attributes=["member"])
    members = [m for m in conn.entries[0].entry_attributes_as_dict.get("member", []) if m != "cn=nobody"]
    conn.unbind()
    return accounts, len(members), len({m.lower() for m in members})


def drain(
    label: str,
    *,
    replicas: int,
    users: int,
    prefix: str,
    work: Path,
    url: str,
    client: AdapterClient,
    client_id: str,
    secret: str,
    key: Path,
    slapd: Slapd,
    batch: int,
    concurrency: int,
    resource: Resource,
    entitlement: Entitlement,
    gunicorn: subprocess.Popen,
) -> dict[str, float]:
    env = {**os.environ, "BLAZON_ADAPTER_SECRET": secret, "TEST_LDAP_BIND_PASSWORD": "slapd-test-secret"}
    AdapterClient.objects.filter(pk=client.pk).update(last_poll_at=None)
    procs = []
    for n in range(replicas):
        config = adapter_config(
            work,
            f"{prefix}{n}",
            url=url,
            client_id=client_id,
            key=key,
            slapd=slapd,
            batch=batch,
            concurrency=concurrency,
        )
        log = (work / f"{prefix}{n}.log").open("ab")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "provisioning.adapter",
                    "--config",
                    str(config),
                    "--log-level",
                    os.environ.get("B6_ADAPTER_LOG", "WARNING"),
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        for _ in range(600):  # every replica is up and polling before there is work
            client.refresh_from_db()
            if client.last_poll_at is not None and all(
                (work / f"{prefix}{n}.sqlite3").exists() for n in range(replicas)
            ):
                break
            time.sleep(0.1)
        time.sleep(1)
        cpu_before = {
            "gunicorn": cpu_seconds(gunicorn.pid),
            "adapters": sum(cpu_seconds(p.pid) for p in procs),
            "slapd": cpu_seconds(slapd.process.pid),
        }
        start = time.perf_counter()
        ids = drain_entries(resource=resource, entitlement=entitlement, users=users, prefix=prefix)
        written = time.perf_counter() - start
        start = time.perf_counter()
        while True:
            done = ProvisioningEntry.objects.filter(pk__in=ids, status=EntryStatus.SUCCEEDED).count()
            if done == len(ids):
                break
            stuck = ProvisioningEntry.objects.filter(pk__in=ids).exclude(
                status__in=[EntryStatus.SUCCEEDED, EntryStatus.PULLED, EntryStatus.PENDING]
            )
            if stuck.exists() or any(p.poll() is not None for p in procs):
                raise SystemExit(f"{label}: the drain failed ({stuck.first()}); see {work}/*.log")
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        cpu = {
            "gunicorn": cpu_seconds(gunicorn.pid) - cpu_before["gunicorn"],
            "adapters": sum(cpu_seconds(p.pid) for p in procs) - cpu_before["adapters"],
            "slapd": cpu_seconds(slapd.process.pid) - cpu_before["slapd"],
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
    attempts = set(ProvisioningEntry.objects.filter(pk__in=ids).values_list("attempts", flat=True))
    rate = len(ids) / elapsed
    print(
        f"{label}: {len(ids):,} entries ({users:,} users × CREATE_ACCOUNT + GRANT_ENTITLEMENT) in "
        f"{elapsed:.2f} s = {rate:,.0f} entries/s end to end (writing them took {written:.2f} s, not counted); "
        f"attempts per entry {sorted(attempts)}; CPU s: gunicorn {cpu['gunicorn']:.1f}, "
        f"adapter(s) {cpu['adapters']:.1f}, slapd {cpu['slapd']:.1f}",
        flush=True,
    )
    return {"rate": rate, "elapsed": elapsed, **cpu}


def core_cost(client_id: str, secret: str, resource: Resource, entitlement: Entitlement) -> str:
    """SQL statements of the adapter API calls, in this process (the views as gunicorn runs them)."""
    api = APIClient()
    token = api.post(
        "/o/token/", {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    ).json()["access_token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    drain_entries(resource=resource, entitlement=entitlement, users=101, prefix="cost")
    figures = []
    with CaptureQueriesContext(connection) as q:
        pulled = api.post("/api/v1/adapter/pull/", {"limit": 100}, format="json").json()["entries"]
    assert len(pulled) == 100, len(pulled)
    figures.append(f"pull of 100 entries: {len(q)} statements")
    reports = [{"entry": e["id"], "outcome": "success", "native_identifier": f"dn-{e['id']}"} for e in pulled]
    with CaptureQueriesContext(connection) as q:
        results = api.post("/api/v1/adapter/reports/", {"reports": reports[:99]}, format="json").json()[
            "results"
        ]
    assert all(r["ok"] for r in results)
    figures.append(f"one report call with 99 outcomes: {len(q)} statements")
    with CaptureQueriesContext(connection) as q:
        response = api.post(f"/api/v1/adapter/entries/{pulled[99]['id']}/success/", {}, format="json")
    assert response.status_code == 200
    figures.append(f"single-entry report: {len(q)} statements")
    return "; ".join(figures)


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    return f"{os.cpu_count()} cores ({cpu}), PostgreSQL {pg}, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--users", type=int, default=2000, help="users per drain (2 entries each; default 2,000)"
    )
    parser.add_argument("--batch", type=int, default=200, help="the adapter's batch_size (default 200)")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="the adapter's concurrency (entries at once; default 4)"
    )
    parser.add_argument(
        "--slapd-nosync",
        action="store_true",
        help="slapd without a disk flush per write (dbnosync): measures Blazon, not the disk",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--replicas", type=int, default=2, help="replicas of the second drain (default 2)")
    args = parser.parse_args()
    if connection.vendor != "postgresql" or slapd_binary() is None:
        print("B6 needs PostgreSQL (./bin/bench b6) and slapd", file=sys.stderr)
        return 2
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(f"B6 — commit {commit or '?'} — {machine()}", flush=True)
    print(
        f"adapter batch_size {args.batch}, concurrency {args.concurrency}; {args.web_workers} gunicorn workers; "
        f"slapd {'dbnosync' if args.slapd_nosync else 'synchronous writes (default)'}",
        flush=True,
    )

    work = Path(tempfile.mkdtemp(prefix="blazon-b6-"))
    slapd = Slapd(work / "slapd", slapd_binary())
    conf = work / "slapd" / "slapd.conf"
    conf.write_text(
        conf.read_text().replace(
            "maxsize 10485760", "maxsize 1073741824" + ("\ndbnosync" if args.slapd_nosync else "")
        )
    )
    slapd.start()
    slapd.seed(groups=("staff",))
    modes = {e: ProvisioningMode.AUTOMATIC for e in ProvisioningEvent.values}
    resource = Resource.objects.create(
        code=f"b6-ldap-{os.getpid()}", name="B6 LDAP", provisioning_modes=modes
    )
    entitlement = Entitlement.objects.create(resource=resource, identifier="staff", name="Staff")
    key, public = keypair(work)
    client, client_id, secret = adapter_client_register(
        actor=None, source="console", name=f"b6-{os.getpid()}", resources=[resource], public_key=public
    )
    gunicorn, port = bench_server.gunicorn(workers=args.web_workers)
    url = f"http://127.0.0.1:{port}"
    try:
        common = {
            "work": work,
            "url": url,
            "client": client,
            "client_id": client_id,
            "secret": secret,
            "key": key,
            "slapd": slapd,
            "batch": args.batch,
            "concurrency": args.concurrency,
            "resource": resource,
            "entitlement": entitlement,
            "gunicorn": gunicorn,
        }
        one = drain("B6 one adapter", replicas=1, users=args.users, prefix="one", **common)
        two = drain(
            f"B6 {args.replicas} replicas", replicas=args.replicas, users=args.users, prefix="two", **common
        )
        accounts, members, distinct = ldap_counts(slapd)
        expected = 2 * args.users
        print(
            f"LDAP: {accounts:,} accounts, {members:,} member values ({distinct:,} distinct) — expected {expected:,}",
            flush=True,
        )
        assert accounts == members == distinct == expected
        print("core cost: " + core_cost(client_id, secret, resource, entitlement), flush=True)
        print(
            f"\n| drain | entries | seconds | entries/s | CPU s gunicorn / adapters / slapd |\n|---|---|---|---|---|\n"
            f"| one adapter | {2 * args.users:,} | {one['elapsed']:.2f} | **{one['rate']:,.0f}** | "
            f"{one['gunicorn']:.1f} / {one['adapters']:.1f} / {one['slapd']:.1f} |\n"
            f"| {args.replicas} replicas | {2 * args.users:,} | {two['elapsed']:.2f} | **{two['rate']:,.0f}** | "
            f"{two['gunicorn']:.1f} / {two['adapters']:.1f} / {two['slapd']:.1f} |"
        )
        print(f"at {datetime.now().isoformat(timespec='seconds')}; target ≥ 500 entries/s with one adapter")
    finally:
        gunicorn.terminate()
        gunicorn.wait(30)
        slapd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
