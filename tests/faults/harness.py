"""Real processes for the fault tests and the soak (``./bin/bench faults``): a Redis of our own
(``redis-server`` on a spare port, in a temporary directory), Blazon under gunicorn, a Celery
worker (prefork) and beat, an SMTP server (aiosmtpd) that counts the outcome e-mails, and API
clients posting no-approval GRANT_ENTITLEMENT requests. Each process is ours: stopped by its id.
"""

from __future__ import annotations

import email
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Redis:
    """redis-server on a spare port; ``kill()`` is SIGKILL, ``start()`` again on the same port
    and directory (the append-only file, when on, brings the queues back)."""

    def __init__(self, directory: Path, *, appendonly: bool) -> None:
        self.dir, self.appendonly, self.port = directory, appendonly, free_port()
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.dir)]
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        wait_until(self.ping, 20, "redis-server to answer")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def set_appendonly(self, on: bool) -> None:
        self.appendonly = on


@dataclass
class Proc:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter's tools
            self.command, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def children(self) -> list[int]:
        """The process's direct children (gunicorn's workers, Celery's pool processes)."""
        if not self.alive():
            return []
        assert self.process is not None
        pid = self.process.pid
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Mailbox:
    """An SMTP server (aiosmtpd) that keeps the subject and Message-ID of what it received."""

    def __init__(self) -> None:
        import logging

        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # one line per SMTP command otherwise
        self.received: list[tuple[str, str]] = []  # (subject, Message-ID)
        self.lock = threading.Lock()
        self.port = free_port()
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
                message = email.message_from_bytes(envelope.content)
                with box.lock:
                    box.received.append((str(message["Subject"]), str(message["Message-ID"])))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def outcome_mails(self) -> dict[int, list[str]]:
        """The Message-IDs of the outcome e-mails each request got, in the order received."""
        found: dict[int, list[str]] = {}
        with self.lock:
            for subject, message_id in self.received:
                m = re.match(r"Request #(\d+) ", subject)
                if m:
                    found.setdefault(int(m.group(1)), []).append(message_id)
        return found


@dataclass
class Load:
    """API clients posting GRANT_ENTITLEMENT requests, one (beneficiary, entitlement) pair each:
    what each POST was answered."""

    port: int
    token: str
    pairs: list[tuple[int, int]]
    answers: dict[tuple[int, int], Any] = field(default_factory=dict)
    ids: dict[tuple[int, int], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, *, clients: int, seconds: float, tag: str) -> None:
        todo = iter(self.pairs)
        deadline = time.monotonic() + seconds

        def client() -> None:
            conn = None
            while time.monotonic() < deadline:
                with self.lock:
                    pair = next(todo, None)
                if pair is None:
                    return
                body = json.dumps(
                    {
                        "type": "GRANT_ENTITLEMENT",
                        "beneficiary": pair[0],
                        "entitlement": pair[1],
                        "justification": tag,
                    }
                )
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    conn.request(
                        "POST",
                        "/api/v1/requests/",
                        body=body,
                        headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                    )
                    resp = conn.getresponse()
                    data = resp.read()
                    answer: Any = resp.status
                    if resp.status == 201:
                        with self.lock:
                            self.ids[pair] = json.loads(data)["id"]
                except (OSError, http.client.HTTPException) as exc:
                    answer, conn = type(exc).__name__, None
                    time.sleep(0.2)
                with self.lock:
                    self.answers[pair] = answer

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def statuses(self) -> Counter[Any]:
        return Counter(self.answers.values())


class Stack:
    """gunicorn (2 workers), a Celery worker (prefork 2) and beat on one Redis and one database,
    with short outbox leases so lost work comes back in seconds."""

    def __init__(self, *, database_url: str, redis: Redis, mail_port: int, workdir: Path) -> None:
        self.redis, self.workdir, self.port = redis, workdir, free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BLAZON_", "CELERY_"))},
            "DJANGO_SETTINGS_MODULE": "blazon.settings",
            "PYTHONPATH": str(REPO),
            "DATABASE_URL": database_url,
            "DB_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": redis.url,
            "BLAZON_LOG_LEVEL": "WARNING",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(mail_port),
            "BLAZON_OUTBOX_LEASE_SECONDS": "4",
            "BLAZON_OUTBOX_RELAY_SECONDS": "1",
            "BLAZON_OUTBOX_RETRY_SECONDS": "1",
            "BLAZON_SWEEP_SECONDS": "5",
            "BLAZON_STUCK_AFTER_SECONDS": "20",
        }
        celery = str(BIN / "celery")
        self.web = Proc(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "blazon.wsgi:application",
                f"--bind=127.0.0.1:{self.port}",
                "--workers=2",
                "--timeout=60",
                "--log-level=warning",
            ],
            self.env,
            workdir / "gunicorn.log",
        )
        self.worker = Proc(
            "worker",
            [
                celery,
                "-A",
                "blazon",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "-l",
                "info",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            self.env,
            workdir / "worker.log",
        )
        self.beat = Proc(
            "beat",
            [celery, "-A", "blazon", "beat", "-l", "info", "--schedule", str(workdir / "beat-schedule")],
            self.env,
            workdir / "beat.log",
        )

    def start(self) -> None:
        for proc in (self.web, self.worker, self.beat):
            proc.start()
        wait_until(self.web_ready, 90, "gunicorn to answer /healthz")
        wait_until(lambda: " ready." in self.worker.text(), 90, "the Celery worker to be ready")

    def web_ready(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def kill_worker(self) -> None:
        """SIGKILL the Celery worker and its pool processes (a container killed)."""
        pool = self.worker.children()
        self.worker.kill()
        for pid in pool:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        for proc in (self.beat, self.worker, self.web):
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.text()[-3000:]}" for p in (self.web, self.worker, self.beat))
