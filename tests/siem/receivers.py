"""Real receivers for the SIEM tests, started by the tests on spare ports:

* ``Rsyslog``: Debian's rsyslogd with its own configuration in a temporary directory, listening
  on UDP (imudp), TCP (imtcp, octet-counted framing) and TLS (imtcp with the gtls driver, a
  client certificate required, ``x509/certvalid``), each input writing the raw messages it
  received to its own file.
* ``Webhook``: an HTTPS server (``http.server`` + ``ssl``) that records the JSON arrays posted
  to it and can be told to answer 503 (an outage).
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.siem.pki import Pki

RSYSLOGD = "/usr/sbin/rsyslogd"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check, what: str, timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something true (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Rsyslog:
    def __init__(self, pki: Pki) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="blazon-rsyslog-"))
        self.files = pki.write(self.dir)
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.tcp_port = free_port()
        self.tls_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        (self.dir / "rsyslog.conf").write_text(self._config())

    def _config(self) -> str:
        d, f = self.dir, self.files
        return f"""
global(workDirectory="{d}" maxMessageSize="64k"
  DefaultNetstreamDriverCAFile="{f["ca"]}"
  DefaultNetstreamDriverCertFile="{f["cert"]}"
  DefaultNetstreamDriverKeyFile="{f["key"]}")
module(load="imudp")
module(load="imtcp" maxSessions="200")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="udp") {{ action(type="omfile" file="{d}/udp.log" template="raw") }}
ruleset(name="tcp") {{ action(type="omfile" file="{d}/tcp.log" template="raw") }}
ruleset(name="tls") {{ action(type="omfile" file="{d}/tls.log" template="raw") }}
input(type="imudp" address="127.0.0.1" port="{self.udp_port}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="{self.tls_port}" ruleset="tls"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
"""

    def start(self) -> None:
        pid = self.dir / "rsyslogd.pid"
        pid.unlink(missing_ok=True)
        self.proc = subprocess.Popen(  # noqa: S603
            [RSYSLOGD, "-n", "-f", str(self.dir / "rsyslog.conf"), "-i", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self._listening(self.tcp_port) and self._listening(self.tls_port), "rsyslogd")

    @staticmethod
    def _listening(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None

    def lines(self, name: str) -> list[str]:
        path = self.dir / f"{name}.log"
        return path.read_text().splitlines() if path.exists() else []

    def wait_lines(self, name: str, count: int) -> list[str]:
        return wait_for(
            lambda: (lines := self.lines(name)) and len(lines) >= count and lines, f"{count} lines"
        )

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Webhook:
    """An HTTPS receiver: ``posts`` is the list of (headers, parsed JSON body) it accepted."""

    def __init__(self, pki: Pki) -> None:
        self.posts: list[tuple[dict[str, str], Any]] = []
        self.status = 200
        self.dir = Path(tempfile.mkdtemp(prefix="blazon-webhook-"))
        files = pki.write(self.dir)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.status // 100 == 2:
                    receiver.posts.append((dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files["cert"], files["key"])
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/siem"

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for _, body in self.posts for event in body]

    def cleanup(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)
