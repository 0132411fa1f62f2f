"""SIEM forwarding benchmark (issue 17 item 8): a backlog of ``--events`` audit events (1,000,000
by default) drained over TCP (RFC 6587 octet counting, one connection per batch, each batch
accepted only once the receiver read it) to a local receiver in another process, through the
same ``forward_destination`` the Celery task and ``manage.py forward_audit`` run. Prints the
events/s and the process's resident memory sampled during the drain (start, quarter marks,
peak): a constant-memory forwarder's RSS does not grow with the backlog.

The receiver (``--receiver PORT``, started by the benchmark) is a plain Python socket server
that parses the octet-counted frames, counts them and checks the ``seq`` order.

The backlog is written set-based (``INSERT ... SELECT generate_series``); these rows are not
hash-chained (the benchmark measures the forwarder, not the chain), so run it on a throw-away
database: ``./bin/bench siem`` creates one.

Not collected by pytest (no ``test_`` prefix): timings never belong in the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time

SEQ = re.compile(rb'seq="(\d+)"')


def receiver(port: int) -> None:
    """Accept connections one after the other; read octet-counted frames until EOF; report."""
    server = socket.create_server(("127.0.0.1", port))
    count, last, disorder = 0, 0, 0
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        buf = b""
        with conn:
            while True:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
                pos = 0
                while True:
                    space = buf.find(b" ", pos)
                    if space < 0:
                        break
                    size = int(buf[pos:space])
                    if len(buf) < space + 1 + size:
                        break
                    frame = buf[space + 1 : space + 1 + size]
                    pos = space + 1 + size
                    seq = int(SEQ.search(frame).group(1))  # type: ignore[union-attr]
                    if seq != last + 1 and last:
                        disorder += 1
                    last, count = seq, count + 1
                buf = buf[pos:]
        if buf == b"STOP":
            break
        sys.stderr.write(f"{count} {last} {disorder}\n")
        sys.stderr.flush()
    print(f"received {count} last seq {last} out of order {disorder}", flush=True)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=None, help="events per batch (BLAZON_SIEM_BATCH)")
    parser.add_argument("--receiver", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receiver(args.receiver)
        return 0

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blazon.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from blazon.audit.models import AuditChainHead
    from siem.forwarder import forward_destination
    from siem.models import SiemDestination
    from siem.services import siem_destination_create
    from tests.bench.run import machine

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "tests.bench.siem", "--receiver", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    AuditChainHead.objects.get_or_create(pk=1)
    head = AuditChainHead.objects.get(pk=1).seq
    dest = siem_destination_create(
        actor=None, source="import", name=f"bench-{port}", transport="syslog-tcp", host="127.0.0.1", port=port
    )
    start = AuditChainHead.objects.get(pk=1).seq
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO blazon_auditevent (seq, created_at, actor_repr, action, object_type, object_id,
                object_repr, old_values, new_values, source, correlation_id, prev_hash, hash, key_id)
            SELECT %s + g, now(), 'bench', 'user.update', 'user', g::text, 'Bench User ' || g,
                jsonb_build_object('department', 'Sales'), jsonb_build_object('department', 'Finance', 'n', g),
                'import', md5(g::text), repeat('0', 64), md5(g::text) || md5(g::text), ''
            FROM generate_series(1, %s) AS g
            """,
            [start, args.events],
        )
        cur.execute("UPDATE blazon_auditchainhead SET seq = %s WHERE id = 1", [start + args.events])
        cur.execute("ANALYZE blazon_auditevent")
    print(
        f"wrote {args.events:,} audit events set-based in {time.perf_counter() - t0:.1f} s (head was {head})"
    )
    SiemDestination.objects.filter(pk=dest.pk).update(cursor=start)

    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.perf_counter(), rss_mib()))
            time.sleep(0.5)

    rss_before = rss_mib()
    sampler = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    sampler.start()
    result = forward_destination(dest.pk, max_seconds=float("inf"), batch=args.batch)
    elapsed = time.perf_counter() - t0
    done.set()
    sampler.join()
    with socket.create_connection(("127.0.0.1", port)) as stop:
        stop.sendall(b"STOP")
    summary = proc.communicate(timeout=60)[0].strip()
    assert not result.error, result.error
    rss = [r for _, r in samples]
    quarters = [rss[min(len(rss) - 1, int(len(rss) * q))] for q in (0.25, 0.5, 0.75)] if rss else []
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {machine()}")
    print(f"load average before the drain: {os.getloadavg()}")
    print(
        f"drained {result.sent:,} events in {result.batches:,} batches of {args.batch or settings.BLAZON_SIEM_BATCH} in {elapsed:.1f} s: "
        f"{result.sent / elapsed:,.0f} events/s"
    )
    print(
        f"RSS before {rss_before:.0f} MiB, at 25/50/75 % {', '.join(f'{q:.0f}' for q in quarters)} MiB, "
        f"at the end {rss_mib():.0f} MiB, peak (getrusage) {peak:.0f} MiB"
    )
    print(f"receiver: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
