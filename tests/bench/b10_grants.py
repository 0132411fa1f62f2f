"""B10 (second half): OAuth2 client-credentials grants per second, the token request every
resource adapter makes, against the production stack: gunicorn serving Blazon, PostgreSQL.

Run as ``python -m tests.bench.b10_grants`` with DATABASE_URL set to a scratch, migrated
database. It registers ``--adapters`` adapter clients (``adapter_client_register``, so secrets
are hashed as in production), starts gunicorn as a subprocess, then ``--clients`` threads POST
``grant_type=client_credentials`` to ``/o/token/`` for ``--seconds`` seconds, each on a
keep-alive connection, cycling through the adapters. ``--hasher pbkdf2_sha256`` (or any
Django hasher name) re-hashes the stored secrets with that hasher first, to compare with the
default client-secret verifier (``oidc.hashers``). Throughput = 200 answers / sending time;
latency = each request's round trip.

Not collected by pytest (no ``test_`` prefix): timings never belong in the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import threading
import time
from datetime import datetime
from urllib.parse import urlencode

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")

import django  # noqa: E402

django.setup()

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from django.contrib.auth.hashers import check_password, make_password  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

from directory.models import Resource, default_provisioning_modes  # noqa: E402
from provisioning.services.adapter import adapter_client_register  # noqa: E402
from tests.bench.server import gunicorn  # noqa: E402


def setup(adapters: int, hasher: str | None) -> list[tuple[str, str]]:
    public = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    stamp = int(time.time())
    resource = Resource.objects.create(
        code=f"b10-{stamp}", name=f"B10 application {stamp}", provisioning_modes=default_provisioning_modes()
    )
    credentials = []
    for n in range(adapters):
        _client, client_id, secret = adapter_client_register(
            actor=None, source="console", name=f"b10-{stamp}-{n}", resources=[resource], public_key=public
        )
        if hasher:
            Application.objects.filter(client_id=client_id).update(
                client_secret=make_password(secret, hasher=hasher)
            )
        credentials.append((client_id, secret))
    return credentials


def verify_cost(hasher: str, rounds: int = 5) -> float:
    """Milliseconds of CPU one secret check costs with ``hasher`` (what every grant pays)."""
    secret = "s" * 128
    try:
        encoded = make_password(secret, hasher=hasher)
    except (ValueError, ImportError):  # not configured, or its library (argon2-cffi) not installed
        return float("nan")
    t0 = time.process_time()
    for _ in range(rounds):
        assert check_password(secret, encoded)
    return (time.process_time() - t0) / rounds * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20, help="how long clients send (default 20)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients (default 16)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per gunicorn worker (gthread when > 1; default 1)"
    )
    parser.add_argument("--adapters", type=int, default=8, help="adapter clients cycled through (default 8)")
    parser.add_argument("--hasher", default=None, help="re-hash the stored secrets with this Django hasher")
    args = parser.parse_args()

    credentials = setup(args.adapters, args.hasher)
    stored = Application.objects.get(client_id=credentials[0][0]).client_secret.split("$", 1)[0]
    server, port = gunicorn(workers=args.web_workers, threads=args.threads)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}

        def grant(conn: http.client.HTTPConnection, n: int) -> tuple[int, bytes]:
            client_id, secret = credentials[n % len(credentials)]
            body = urlencode(
                {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
            )
            conn.request("POST", "/o/token/", body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()

        for n in range(args.web_workers * 4):  # warm every worker (imports, connections)
            grant(http.client.HTTPConnection("127.0.0.1", port, timeout=30), n)
        deadline = time.time() + args.seconds

        def client(index: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            n = index
            mine: list[float] = []
            while time.time() < deadline:
                t0 = time.perf_counter()
                status, data = grant(conn, n)
                if status != 200:
                    with lock:
                        errors.append(f"{status} {data[:200]!r}")
                else:
                    mine.append(time.perf_counter() - t0)
                n += args.clients
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        first = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - first
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(
        f"B10 grants: {len(latencies):,} client-credentials tokens in {elapsed:.1f} s by {args.clients} clients "
        f"({args.web_workers} gunicorn workers × {args.threads} threads, {args.adapters} adapters, secrets hashed with {stored}); "
        f"{len(errors)} refused" + (f" (first: {errors[0]})" if errors else "")
    )
    print(
        f"B10 grants: {len(latencies) / elapsed:,.0f} grants/s; latency p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {p(0.95) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms — target ≥ 250/s on 2 cores"
    )
    costs = ", ".join(
        f"{name} {verify_cost(name):.3f} ms" for name in ("blazon_client_secret", "pbkdf2_sha256", "argon2")
    )
    print(f"B10 grants: CPU per secret check: {costs}")
    print(f"at {datetime.now().isoformat(timespec='seconds')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
