"""Adapter API latency with 10 concurrent adapters: p50/p95/p99 of ``pull`` and of the batched
``reports`` call against gunicorn, PostgreSQL behind it.

Run: ``./bin/bench pull-latency --adapters 10 --seconds 20`` (or ``python -m
tests.bench.pull_latency`` with DATABASE_URL set to a migrated scratch database). It registers
``--adapters`` adapter clients, each with its own resource (``--shared``: all on one resource,
so their pulls compete for the same rows under ``FOR UPDATE SKIP LOCKED``), writes
``--users`` users × (CREATE_ACCOUNT + GRANT_ENTITLEMENT) per resource, starts gunicorn, and runs
one thread per adapter for ``--seconds``: get an OAuth2 token, then loop pull (``--batch``
entries) → report them all as succeeded in one call, as the runtime does, timing each call on
the client side (keep-alive session per adapter, as the runtime's). No LDAP here: this measures
the core.

Not collected by pytest (no ``test_`` prefix): timings never belong in the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from datetime import datetime

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from django.db import connection  # noqa: E402

from directory.models import Entitlement, ProvisioningEvent, ProvisioningMode, Resource  # noqa: E402
from provisioning.services.adapter import adapter_client_register  # noqa: E402
from tests.bench.server import gunicorn  # noqa: E402
from tests.provisioning.adapter.workload import drain_entries  # noqa: E402


def public_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def quantiles(values: list[float]) -> str:
    if not values:
        return "no calls"
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return (
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {q(0.95):.0f} ms, p99 {q(0.99):.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms ({len(ordered):,} calls)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--adapters", type=int, default=10, help="concurrent adapters (default 10)")
    parser.add_argument("--seconds", type=float, default=20, help="how long they run (default 20)")
    parser.add_argument("--batch", type=int, default=50, help="entries per pull (default 50, the runtime's)")
    parser.add_argument(
        "--users", type=int, default=2000, help="users per resource, 2 entries each (default 2,000)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--shared", action="store_true", help="all adapters on one resource")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("Run on PostgreSQL: ./bin/bench pull-latency", file=sys.stderr)
        return 2
    modes = {e: ProvisioningMode.AUTOMATIC for e in ProvisioningEvent.values}
    tag = os.getpid()
    resources = []
    for n in range(1 if args.shared else args.adapters):
        res = Resource.objects.create(
            code=f"pl-{tag}-{n}", name=f"Pull latency {n}", provisioning_modes=modes
        )
        ent = Entitlement.objects.create(resource=res, identifier="staff", name="Staff")
        users = args.users * (args.adapters if args.shared else 1)
        drain_entries(resource=res, entitlement=ent, users=users, prefix=f"pl{n}-")
        resources.append(res)
    key = public_key()
    creds = []
    for n in range(args.adapters):
        _client, client_id, secret = adapter_client_register(
            actor=None,
            source="console",
            name=f"pl-{tag}-{n}",
            resources=[resources[0 if args.shared else n]],
            public_key=key,
        )
        creds.append((client_id, secret))
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    server, port = gunicorn(workers=args.web_workers)
    url = f"http://127.0.0.1:{port}"
    pulls: list[float] = []
    reports: list[float] = []
    entries = [0]
    errors: list[str] = []
    lock = threading.Lock()
    try:
        started: list[float] = []  # when every adapter holds its token: the measured time starts
        barrier = threading.Barrier(args.adapters, action=lambda: started.append(time.perf_counter()))

        def adapter(client_id: str, secret: str) -> None:
            session = requests.Session()
            token = session.post(
                f"{url}/o/token/",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
                timeout=60,
            ).json()["access_token"]
            session.headers["Authorization"] = f"Bearer {token}"
            barrier.wait(timeout=120)
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                response = session.post(f"{url}/api/v1/adapter/pull/", json={"limit": args.batch}, timeout=60)
                t1 = time.perf_counter()
                if response.status_code != 200:
                    with lock:
                        errors.append(f"pull {response.status_code}")
                    continue
                batch = response.json()["entries"]
                with lock:
                    pulls.append(t1 - t0)
                if not batch:
                    time.sleep(0.05)
                    continue
                body = {"reports": [{"entry": e["id"], "outcome": "success"} for e in batch]}
                t0 = time.perf_counter()
                response = session.post(f"{url}/api/v1/adapter/reports/", json=body, timeout=60)
                t1 = time.perf_counter()
                with lock:
                    if response.status_code != 200:
                        errors.append(f"reports {response.status_code}")
                        continue
                    reports.append(t1 - t0)
                    entries[0] += sum(1 for r in response.json()["results"] if r["ok"])

        threads = [threading.Thread(target=adapter, args=c) for c in creds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started[0]
    finally:
        server.terminate()
        server.wait(30)
    where = "one shared resource" if args.shared else "a resource each"
    print(
        f"pull latency: {args.adapters} adapters ({where}), batches of {args.batch}, "
        f"{args.web_workers} gunicorn workers, {elapsed:.1f} s, load {os.getloadavg()[0]:.1f}"
    )
    print(f"  pull:    {quantiles(pulls)}")
    print(f"  reports: {quantiles(reports)}")
    print(
        f"  {entries[0]:,} entries pulled and reported ({entries[0] / elapsed:,.0f}/s); "
        f"{len(errors)} errors" + (f" (first: {errors[0]})" if errors else "")
    )
    print(f"at {datetime.now().isoformat(timespec='seconds')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
