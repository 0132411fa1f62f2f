"""What the HTTP benchmarks share: a free port and Blazon served by gunicorn as in production
(DEBUG off, warnings only), ready when ``/healthz`` answers."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn(*, workers: int, threads: int = 1, ready_seconds: float = 30) -> tuple[subprocess.Popen, int]:
    """Start gunicorn serving Blazon on a free port; return it and the port once it answers."""
    port = free_port()
    env = {**os.environ, "BLAZON_LOG_LEVEL": "WARNING", "BLAZON_DEBUG": os.environ.get("BLAZON_DEBUG", "0")}
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "blazon.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            f"--threads={threads}",
            "--log-level=warning",
        ],
        cwd=REPO,
        env=env,
    )
    deadline = time.monotonic() + ready_seconds
    while True:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
            return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise RuntimeError(f"gunicorn did not answer on port {port}") from None
            time.sleep(0.2)
