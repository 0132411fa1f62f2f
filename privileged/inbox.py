"""The reply inbox: an IMAP mailbox Blazon reads for approvers' answers (``manage.py
poll_replies``, the periodic task ``privileged.tasks.poll_reply_inbox``).

Each run fetches the unseen messages (``BODY.PEEK``: reading does not mark them), hands each to
``reply_handle``, then marks it ``\\Seen`` — or moves it to ``BLAZON_REPLY_IMAP_DONE_MAILBOX``
when one is set — so it is applied once. A message whose handling failed unexpectedly (the
database down) stays unseen and is read again next run; a decision is never applied twice
anyway (a decided task refuses it). One poller at a time (a PostgreSQL advisory lock); the
password is never logged.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from privileged.links import inbox_configured
from privileged.services.replies import reply_handle

logger = logging.getLogger(__name__)
_LOCK_KEY = 0x7265706C79  # "reply": one poller at a time
MAX_BYTES = 1_048_576


def _setting(name: str, default: str = "") -> str:
    return str(getattr(settings, name, default) or default)


def _open() -> imaplib.IMAP4:
    host = _setting("BLAZON_REPLY_IMAP_HOST")
    tls = _setting("BLAZON_REPLY_IMAP_TLS", "ssl").lower()
    timeout = int(_setting("BLAZON_REPLY_IMAP_TIMEOUT", "30"))
    context = ssl.create_default_context(cafile=_setting("BLAZON_REPLY_IMAP_CA_FILE") or None)
    if tls == "ssl":
        port = int(_setting("BLAZON_REPLY_IMAP_PORT", "993"))
        return imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
    imap = imaplib.IMAP4(host, int(_setting("BLAZON_REPLY_IMAP_PORT", "143")), timeout=timeout)
    if tls == "starttls":
        imap.starttls(ssl_context=context)
    elif tls != "none":
        imap.logout()
        raise ValueError("BLAZON_REPLY_IMAP_TLS must be ssl, starttls or none")
    return imap


@contextmanager
def _one_poller() -> Iterator[bool]:
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


def inbox_poll(*, limit: int = 200) -> Counter[str]:
    """Read the unseen replies (at most ``limit``) and apply each; how many were applied,
    refused, ignored, or failed (left unseen for the next run). Nothing without an inbox."""
    counts: Counter[str] = Counter()
    if not inbox_configured():
        return counts
    with _one_poller() as mine:
        if not mine:
            logger.info("Reply inbox: another poller is running")
            return counts
        imap = _open()
        try:
            imap.login(_setting("BLAZON_REPLY_IMAP_USER"), _setting("BLAZON_REPLY_IMAP_PASSWORD"))
            status, _ = imap.select(_setting("BLAZON_REPLY_IMAP_MAILBOX", "INBOX"))
            if status != "OK":
                raise imaplib.IMAP4.error("the reply mailbox cannot be opened")
            _, caps = imap.capability()  # after login: the greeting's list may lack MOVE
            can_move = b"MOVE" in (caps[0] or b"").upper().split()
            _, found = imap.uid("SEARCH", "UNSEEN")
            for uid in (found[0] or b"").split()[:limit]:
                counts[_one(imap, uid.decode(), can_move)] += 1
        finally:
            try:
                imap.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
    return counts


def inbox_wait(seconds: int) -> bool:
    """Wait, with IMAP IDLE (RFC 2177), until a message arrives in the reply mailbox or
    ``seconds`` pass; whether one arrived. A server without IDLE: sleep ``seconds``, False."""
    imap = _open()
    try:
        imap.login(_setting("BLAZON_REPLY_IMAP_USER"), _setting("BLAZON_REPLY_IMAP_PASSWORD"))
        imap.select(_setting("BLAZON_REPLY_IMAP_MAILBOX", "INBOX"), readonly=True)
        _, caps = imap.capability()
        if b"IDLE" not in (caps[0] or b"").upper().split():
            time.sleep(seconds)
            return False
        imap.send(b"BLZIDLE IDLE\r\n")
        if not imap.readline().startswith(b"+"):
            return False
        arrived = False
        imap.sock.settimeout(seconds)
        try:
            while not arrived:
                line = imap.readline()
                if not line:
                    break
                arrived = line.startswith(b"* ") and line.rstrip().upper().endswith(b"EXISTS")
        except TimeoutError:
            pass
        imap.sock.settimeout(int(_setting("BLAZON_REPLY_IMAP_TIMEOUT", "30")))
        imap.send(b"DONE\r\n")
        while (line := imap.readline()) and not line.startswith(b"BLZIDLE "):
            pass
        return arrived
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def _one(imap: imaplib.IMAP4, uid: str, can_move: bool) -> str:
    # at most the first MAX_BYTES of a message: an approval reply is small, a huge mail is not one
    _, data = imap.uid("FETCH", uid, f"(BODY.PEEK[]<0.{MAX_BYTES}>)")
    raw = next((part[1] for part in data if isinstance(part, tuple)), None)
    if raw is None:
        return "failed"
    try:
        outcome = reply_handle(raw)
    except Exception:  # the database or the mail server failed: keep it for the next run
        logger.exception("Reply inbox: a message could not be handled; it stays unseen")
        return "failed"
    done = _setting("BLAZON_REPLY_IMAP_DONE_MAILBOX")
    imap.uid("STORE", uid, "+FLAGS.SILENT", r"(\Seen)")
    if done and can_move:
        imap.uid("MOVE", uid, done)
    elif done and imap.uid("COPY", uid, done)[0] == "OK":
        imap.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")  # expunged by the server's own rules
    return outcome.status
