"""Sending a batch to a receiver, and knowing it was accepted.

* UDP (RFC 5426): one datagram per message, cut to ``BLAZON_SIEM_UDP_MAX_BYTES``. UDP has no
  acknowledgement: a batch counts as accepted once the datagrams left this host.
* TCP (RFC 6587, octet counting) and TLS (RFC 5425): one connection per batch; after the last
  frame this side closes its half (TCP ``shutdown``, TLS ``close_notify``) and waits until the
  receiver closes too, i.e. it read every byte. Only then is the batch accepted. Syslog over TLS
  uses TLS 1.2, where a refused client certificate fails the handshake (see ``send_syslog``).
* Webhook: ``POST`` of a JSON array of events over HTTPS (certificate checked), a 2xx answer.

Errors become ``SendFailed`` with a message for the console (never a secret).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from siem.formats import octet_frame, udp_datagram
from siem.models import SiemDestination, Transport


class SendFailed(Exception):
    """The receiver did not accept the batch (down, refused, TLS, HTTP status)."""


@contextmanager
def _client_cert_files(cert_pem: str, key_pem: str) -> Iterator[tuple[str, str]]:
    # ssl.load_cert_chain reads files only; they live for the handshake, readable by us alone
    with tempfile.TemporaryDirectory(prefix="blazon-siem-") as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for path, text in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        yield cert_path, key_path


def tls_context(dest: SiemDestination, secrets: dict[str, str]) -> ssl.SSLContext:
    """A client context: the receiver's certificate and name are checked (the destination's CA
    certificates, else the system's), with the client certificate when one is configured."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=dest.ca_cert or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if dest.client_cert and secrets.get("client_key"):
        with _client_cert_files(dest.client_cert, secrets["client_key"]) as (cert, key):
            context.load_cert_chain(cert, key)
    return context


def _timeout() -> float:
    return float(settings.BLAZON_SIEM_TIMEOUT_SECONDS)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def _drain_until_closed(sock: socket.socket) -> None:
    while sock.recv(4096):
        pass  # a syslog receiver sends nothing back; read until it closes


def send_syslog(dest: SiemDestination, messages: Sequence[str], secrets: dict[str, str]) -> None:
    """Send one batch of syslog messages; return only once the receiver accepted them."""
    host, port = dest.host, int(dest.port or 0)
    try:
        if dest.transport == Transport.SYSLOG_UDP:
            limit = int(settings.BLAZON_SIEM_UDP_MAX_BYTES)
            family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][0]
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.settimeout(_timeout())
                udp.connect((host, port))
                for message in messages:
                    udp.send(udp_datagram(message, limit))
            return
        payload = b"".join(octet_frame(m.encode("utf-8")) for m in messages)
        with socket.create_connection((host, port), timeout=_timeout()) as raw:
            if dest.transport == Transport.SYSLOG_TCP:
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
                _drain_until_closed(raw)
                return
            context = tls_context(dest, secrets)
            # TLS 1.2 (RFC 5425, RFC 9662): a TLS 1.3 server that refuses the client certificate
            # does so after this side finished its handshake, so a refused batch would look sent
            # (rsyslog just closes); in TLS 1.2 the refusal fails the handshake
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(payload)
                try:
                    tls.unwrap()  # close_notify; returns when the receiver answered with its own
                except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                    # the receiver closed after reading everything (rsyslog sends no close_notify);
                    # one that closed with our data unread resets the connection: an error
                    pass
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise SendFailed(_describe(exc)) from exc


def send_webhook(dest: SiemDestination, events: Sequence[dict[str, Any]], secrets: dict[str, str]) -> None:
    """``POST`` the events as one JSON array; a 2xx answer means accepted."""
    body = json.dumps(list(events), separators=(",", ":"), default=str).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "Blazon-SIEM/1"}
    if dest.secret_header and secrets.get("header_value"):
        headers[dest.secret_header] = secrets["header_value"]
    request = urllib.request.Request(dest.url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        context = tls_context(dest, secrets)
        handler = urllib.request.HTTPSHandler(context=context)
        # no redirects: a 3xx is an error (a redirect could carry the secret header elsewhere)
        opener = urllib.request.build_opener(handler, _NoRedirect())
        with opener.open(request, timeout=_timeout()) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise SendFailed(f"The webhook answered HTTP {exc.code}.") from exc
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise SendFailed(_describe(exc)) from exc
    if not 200 <= status < 300:
        raise SendFailed(f"The webhook answered HTTP {status}.")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
