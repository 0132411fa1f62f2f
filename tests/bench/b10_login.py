"""B10 (login side): password logins per second and latency under concurrent clients, against a
real server — gunicorn serving Blazon on PostgreSQL, clients speaking HTTP like a browser (GET
the login page for the CSRF cookie and token, POST username + password, expect the redirect).

Run as ``python -m tests.bench.b10_login`` with DATABASE_URL set to a scratch database (it is
migrated first); it creates ``--users`` users sharing one password hash made with the
configured hasher, and prints the hasher and its cost, since the hash dominates a login.
Latency of a login = the POST's round trip; throughput = successful logins / wall time.
Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse
from datetime import datetime

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import get_hasher, make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402

from directory.models import User  # noqa: E402
from tests.bench.server import gunicorn  # noqa: E402

PASSWORD = "b10 correct horse battery staple"
PREFIX = "b10u"
TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def hasher_description() -> str:
    hasher = get_hasher("default")
    cost = {
        name: getattr(hasher, name)
        for name in ("iterations", "time_cost", "memory_cost", "parallelism", "rounds")
        if hasattr(hasher, name)
    }
    return f"{hasher.algorithm} ({', '.join(f'{k}={v}' for k, v in cost.items())})"


def setup(users: int) -> None:
    User.objects.filter(username__startswith=PREFIX).delete()
    digest = make_password(PASSWORD)
    User.objects.bulk_create(
        [
            User(username=f"{PREFIX}{i:05d}", first_name="B10", last_name=str(i), password=digest)
            for i in range(users)
        ]
    )


def login_once(port: int, username: str) -> tuple[bool, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/login/")
    resp = conn.getresponse()
    body = resp.read()
    cookies = "; ".join(c.split(";", 1)[0] for c in resp.headers.get_all("Set-Cookie") or [])
    token = TOKEN.search(body).group(1).decode()
    form = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies}
    t0 = time.perf_counter()
    conn.request("POST", "/login/", body=form, headers=headers)
    resp = conn.getresponse()
    resp.read()
    elapsed = time.perf_counter() - t0
    conn.close()
    return resp.status == 302 and resp.headers["Location"] == "/workspace/", elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20, help="how long clients log in (default 20)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    setup(args.users)
    server, port = gunicorn(workers=args.web_workers)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    try:
        for i in range(args.web_workers * 2):  # warm every worker (imports, connections)
            login_once(port, f"{PREFIX}{i:05d}")
        deadline = time.time() + args.seconds
        counter = iter(range(10**9))

        def client() -> None:
            while time.time() < deadline:
                with lock:
                    n = next(counter)
                ok, elapsed = login_once(port, f"{PREFIX}{n % args.users:05d}")
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        failures[0] += 1

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        first = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - first
    finally:
        server.terminate()
        server.wait(timeout=30)
        User.objects.filter(username__startswith=PREFIX).delete()
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    print(f"B10 login: hasher {hasher_description()}")
    print(
        f"B10 login: {len(latencies):,} password logins in {wall:.1f} s by {args.clients} clients "
        f"({args.web_workers} gunicorn workers): {len(latencies) / wall:.1f} logins/s; "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; {failures[0]} failed — target ≥ 30/s"
    )
    print(f"at {datetime.now().isoformat(timespec='seconds')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
