"""B5: requests with no approval, from the API call to FINISHED, with the production stack:
gunicorn serving the API, a real Celery worker on Redis running the pipeline, PostgreSQL.

Run through ``./bin/bench --only B5`` (or ``python -m tests.bench.b5`` with DATABASE_URL set to
a scratch database). It sets up N users with an account on a resource that does not provision
(so the pipeline ends at FINISHED), starts gunicorn and a Celery worker as subprocesses, then
``--clients`` threads POST ``GRANT_ENTITLEMENT`` requests for ``--seconds`` seconds. Latency of
a request = its ``finished_at`` minus the moment its POST was sent (same machine, same clock);
throughput = requests finished / time from the first POST to the last FINISHED.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ["CELERY_BROKER_URL"] = REDIS_URL  # before Django reads its settings: real queue
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402

from blazon.api.services import api_token_issue  # noqa: E402
from directory.models import (  # noqa: E402
    Account,
    ConsoleRole,
    Entitlement,
    Resource,
    User,
    default_provisioning_modes,
)
from requests_workflow.models import Request, RequestStatus  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(users: int, entitlements: int) -> tuple[str, list[int], list[int]]:
    password = make_password(None)
    res = Resource.objects.create(
        code="b5-app", name="B5 application", provisioning_modes=default_provisioning_modes()
    )
    ents = Entitlement.objects.bulk_create(
        [Entitlement(resource=res, identifier=f"grp-{i}", name=f"Group {i}") for i in range(entitlements)]
    )
    people = User.objects.bulk_create(
        [
            User(username=f"b5u{i:06d}", first_name="B5", last_name=str(i), password=password)
            for i in range(users)
        ]
    )
    Account.objects.bulk_create([Account(resource=res, owner=u, identifier=u.username) for u in people])
    admin = User.objects.create(
        username="b5-admin", first_name="B5", last_name="Admin", console_role=ConsoleRole.ADMINISTRATOR
    )
    admin.set_password("b5-admin-password-not-secret")
    admin.save()
    _token, raw = api_token_issue(actor=None, source="console", user=admin, name="b5")
    return raw, [u.pk for u in people], [e.pk for e in ents]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30, help="how long clients send (default 30)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent API clients (default 16)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--celery-concurrency", type=int, default=2, help="Celery worker processes (default 2)"
    )
    parser.add_argument("--users", type=int, default=20_000)
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    token, user_ids, ent_ids = setup(args.users, 50)
    port = free_port()
    # DEBUG off as in production (the embedded default turns it on): the debug cursor wrapper
    # records every statement of the web and worker processes we are measuring.
    env = {
        **os.environ,
        "CELERY_BROKER_URL": REDIS_URL,
        "BLAZON_LOG_LEVEL": "WARNING",
        "BLAZON_DEBUG": os.environ.get("BLAZON_DEBUG", "0"),
    }
    procs = [
        subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "blazon.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                f"--workers={args.web_workers}",
                "--log-level=warning",
            ],
            cwd=REPO,
            env=env,
        ),
        subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "blazon",
                "worker",
                "--pool=prefork",
                f"--concurrency={args.celery_concurrency}",
                "--loglevel=WARNING",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPO,
            env=env,
        ),
    ]
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        from blazon.celery import app as celery_app

        for _ in range(120):  # the worker is up when it answers a ping
            if celery_app.control.ping(timeout=0.5):
                break
        for _ in range(args.web_workers * 2):  # each web worker imports the app on first use
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/v1/requests/?page_size=1", headers={"Authorization": f"Bearer {token}"})
            conn.getresponse().read()
        sent: dict[int, float] = {}
        errors: list[str] = []
        lock = threading.Lock()
        deadline = time.time() + args.seconds
        counter = iter(range(10**9))

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            while time.time() < deadline:
                with lock:
                    n = next(counter)
                if n >= len(user_ids) * len(ent_ids):
                    return
                body = json.dumps(
                    {
                        "type": "GRANT_ENTITLEMENT",
                        "beneficiary": user_ids[n % len(user_ids)],
                        "entitlement": ent_ids[(n // len(user_ids)) % len(ent_ids)],
                        "justification": "B5",
                    }
                )
                t0 = time.time()
                conn.request("POST", "/api/v1/requests/", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 201:
                    with lock:
                        errors.append(f"{resp.status} {data[:200]!r}")
                    continue
                with lock:
                    sent[json.loads(data)["id"]] = t0

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        first = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sending = time.time() - first
        # wait for the pipeline to drain
        done_states = [RequestStatus.FINISHED, RequestStatus.FAILED]
        for _ in range(600):
            if Request.objects.filter(pk__in=list(sent)).exclude(status__in=done_states).count() == 0:
                break
            time.sleep(0.5)
        rows = list(Request.objects.filter(pk__in=list(sent)).values_list("pk", "status", "finished_at"))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    finished = [(pk, fin) for pk, st, fin in rows if st == RequestStatus.FINISHED and fin is not None]
    failed = sum(1 for _pk, st, _f in rows if st == RequestStatus.FAILED)
    latencies = sorted(fin.timestamp() - sent[pk] for pk, fin in finished)
    last = max(fin.timestamp() for _pk, fin in finished)
    elapsed = last - first
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(
        f"B5: {len(sent):,} requests accepted in {sending:.1f} s by {args.clients} clients "
        f"({args.web_workers} web workers, {args.celery_concurrency} Celery processes); "
        f"{len(finished):,} FINISHED, {failed} FAILED, {len(errors)} refused"
        + (f" (first: {errors[0]})" if errors else "")
    )
    print(
        f"B5: throughput {len(finished) / elapsed:,.0f} requests/s to FINISHED; latency API call → FINISHED "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {p(0.95) * 1000:.0f} ms, "
        f"p99 {p(0.99) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms — target ≥ 200/s, p95 ≤ 500 ms"
    )
    print(f"at {datetime.now().isoformat(timespec='seconds')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
