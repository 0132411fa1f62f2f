"""Forwarding the audit log to real receivers: Debian's rsyslogd (UDP, TCP with octet counting,
TLS with the gtls driver and a client certificate) and an HTTPS webhook; order, structure,
escaping, outages, restarts, the per-destination lock."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from blazon.audit.models import AuditChainHead, AuditEvent
from blazon.audit.services import audit_record
from siem import forwarder
from siem.forwarder import LOCK_CLASS, forward_all, forward_destination
from siem.models import SiemDestination
from siem.services import siem_destination_create
from siem.tasks import forward_audit_events
from tests.siem.parse import parse_5424, parse_cef

TRICKY = 'quote " bracket ] backslash \\ pipe | equals = newline\nend é'


def record(n: int, *, action: str = "test.event", **kw) -> list[int]:
    seqs = []
    for i in range(n):
        event = audit_record(
            actor=None,
            action=action,
            object_type="thing",
            object_id=str(i),
            object_repr=kw.get("repr", f"thing {i}"),
            new=kw.get("new", {"i": i}),
            source="automatic",
        )
        seqs.append(event.seq)
    return seqs


def head() -> int:
    return AuditChainHead.objects.get(pk=1).seq


def syslog_dest(name: str, transport: str, port: int, **kw) -> SiemDestination:
    return siem_destination_create(
        actor=None, source="automatic", name=name, transport=transport, host="127.0.0.1", port=port, **kw
    )


def forwarded_seqs(lines: list[str]) -> list[int]:
    return [int(parse_5424(line).sd["blazon@32473"]["seq"]) for line in lines]


@pytest.fixture
def base(postgres):
    record(1)  # the chain has a head before any destination starts
    forwarder._secret_cache.clear()


def test_tcp_rfc5424_in_order_with_escaping(base, rsyslog):
    dest = syslog_dest("tcp", "syslog-tcp", rsyslog.tcp_port)
    start = dest.cursor
    seqs = record(24) + record(1, repr=TRICKY, new={"note": TRICKY, "password": "hunter2"})
    result = forward_destination(dest.pk, batch=10)
    assert result.error == "" and result.sent == 25 + 1  # + the creation's own audit event
    assert result.batches == 3
    lines = rsyslog.wait_lines("tcp", 26)
    got = forwarded_seqs(lines)
    assert got == list(range(start + 1, head() + 1))  # in order, no gap, nothing twice
    assert set(seqs) <= set(got)
    last = parse_5424(lines[-1])
    assert last.pri == 13 * 8 + 5 and last.hostname == "blazon" and last.app == "blazon"
    assert last.msgid == "test.event" and last.procid == "-"
    assert last.timestamp.endswith("Z") and "T" in last.timestamp
    sd = last.sd["blazon@32473"]
    assert sd["object"] == "thing:0" and sd["action"] == "test.event" and sd["actor"] == "system"
    body = json.loads(last.msg)
    assert body["object"] == TRICKY and body["new"]["note"] == TRICKY
    assert body["new"]["password"] == "***" and "hunter2" not in "".join(lines)
    assert body["seq"] == seqs[-1] and body["hash"] == AuditEvent.objects.get(seq=seqs[-1]).hash
    dest.refresh_from_db()
    assert dest.cursor == head() and dest.last_success_at and dest.last_error == ""


def test_udp_cef(base, rsyslog):
    dest = syslog_dest("udp", "syslog-udp", rsyslog.udp_port, format="cef")
    record(3, repr=TRICKY, new={"note": TRICKY})
    assert forward_destination(dest.pk).sent == 4
    lines = rsyslog.wait_lines("udp", 4)
    cef = [m for m in (parse_5424(line) for line in lines) if m.msgid == "test.event"]
    assert len(cef) == 3
    header, ext = parse_cef(cef[0].msg)
    assert header[:3] == ["Blazon", "Blazon IGA", "1"]
    assert header[3] == "test.event"
    assert header[4] == "test.event thing " + TRICKY.replace("\n", " ")  # no line break in a header
    assert header[5] == "3"
    assert ext["act"] == "test.event" and ext["cs3"] == TRICKY and ext["cs1"] == "thing"
    assert json.loads(ext["cs6"])["new"] == {"note": TRICKY}
    assert [int(parse_cef(m.msg)[1]["externalId"]) for m in cef] == sorted(
        int(parse_cef(m.msg)[1]["externalId"]) for m in cef
    )


def test_tls_verifies_the_receiver_and_presents_the_client_certificate(base, rsyslog, pki):
    good = syslog_dest(
        "tls",
        "syslog-tls",
        rsyslog.tls_port,
        ca_cert=pki.ca_pem,
        client_cert=pki.client_cert_pem,
        client_key=pki.client_key_pem,
    )
    wrong_ca = syslog_dest("tls-wrong-ca", "syslog-tls", rsyslog.tls_port, ca_cert=pki.other_ca_pem)
    no_client_cert = syslog_dest("tls-anonymous", "syslog-tls", rsyslog.tls_port, ca_cert=pki.ca_pem)
    record(5)
    assert forward_destination(good.pk).error == ""
    lines = rsyslog.wait_lines("tls", 5 + 2)
    assert forwarded_seqs(lines) == list(range(good.cursor + 1, head() + 1))

    failed = forward_destination(wrong_ca.pk)
    assert "CERTIFICATE_VERIFY_FAILED" in failed.error
    refused = forward_destination(no_client_cert.pk)
    assert refused.error  # rsyslog requires a client certificate (x509/certvalid)
    for dest in (wrong_ca, no_client_cert):
        before = dest.cursor
        dest.refresh_from_db()
        assert dest.cursor == before and dest.last_error and dest.failures == 1 and dest.next_attempt_at
    assert len(rsyslog.lines("tls")) == len(lines)  # nothing got through


def test_outage_backlog_drains_in_order_after_the_receiver_comes_back(base, rsyslog):
    dest = syslog_dest("tcp", "syslog-tcp", rsyslog.tcp_port)
    record(5)
    assert forward_destination(dest.pk).error == ""
    dest.refresh_from_db()
    cursor = dest.cursor

    rsyslog.stop()  # the SIEM is down
    record(30)
    failed = forward_destination(dest.pk, batch=7)
    assert "refused" in failed.error.lower()
    dest.refresh_from_db()
    assert dest.cursor == cursor  # not advanced
    assert "refused" in dest.last_error.lower() and dest.failures == 1 and dest.next_attempt_at
    assert forward_destination(dest.pk).skipped == "waiting after a failure"  # back-off
    assert forward_all()[0].skipped == "waiting after a failure"
    record(10)  # events keep accumulating

    rsyslog.start()  # back
    drained = forward_destination(dest.pk, batch=7, force=True)
    assert drained.error == "" and drained.sent == 40
    dest.refresh_from_db()
    assert (
        dest.cursor == head()
        and dest.failures == 0
        and dest.last_error == ""
        and dest.next_attempt_at is None
    )
    seqs = forwarded_seqs(rsyslog.wait_lines("tcp", 6 + 40))
    assert seqs == list(range(seqs[0], head() + 1))  # before and after the outage: no gap, in order


def test_restart_resumes_from_the_persisted_cursor(base, rsyslog, capsys):
    dest = syslog_dest("tcp", "syslog-tcp", rsyslog.tcp_port)
    record(4)
    call_command("forward_audit", "--destination", "tcp")
    assert "5 event(s) sent" in capsys.readouterr().out
    forwarder._secret_cache.clear()  # a new process
    record(3)
    call_command("forward_audit", "--destination", "tcp")
    assert "3 event(s) sent" in capsys.readouterr().out
    seqs = forwarded_seqs(rsyslog.wait_lines("tcp", 8))
    assert seqs == list(range(dest.cursor + 1, head() + 1)) and len(seqs) == len(set(seqs))


def test_action_prefix_forwards_only_matching_events_and_moves_past_the_rest(base, rsyslog):
    dest = syslog_dest("vault-only", "syslog-tcp", rsyslog.tcp_port, action_prefix="vault.")
    record(3, action="vault.secret.revealed")
    record(4, action="user.update")
    assert forward_destination(dest.pk).sent == 3
    lines = rsyslog.wait_lines("tcp", 3)
    assert {parse_5424(line).msgid for line in lines} == {"vault.secret.revealed"}
    dest.refresh_from_db()
    assert dest.cursor == head()  # the skipped events do not count as backlog


def test_a_destination_has_one_sender_at_a_time(base, rsyslog):
    dest = syslog_dest("tcp", "syslog-tcp", rsyslog.tcp_port)
    record(2)
    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)  # another worker
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, dest.pk])
        assert forward_destination(dest.pk).skipped == "another worker is forwarding it"
        dest.refresh_from_db()
        assert dest.cursor < head()
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, dest.pk])  # that run is over
    finally:
        other.close()
    assert forward_destination(dest.pk).sent == 3


def test_webhook_posts_json_arrays_with_the_secret_header_and_survives_an_outage(base, webhook, pki):
    dest = siem_destination_create(
        actor=None,
        source="automatic",
        name="hook",
        transport="webhook-https",
        url=webhook.url,
        ca_cert=pki.ca_pem,
        secret_header="Authorization",
        header_value="Bearer s3cr3t-token",
    )
    record(5)
    assert forward_destination(dest.pk, batch=4).error == ""
    # the secret's storing, the creation and the run's reveal, then the 5 events, by 4
    assert [len(body) for _, body in webhook.posts] == [4, 4]
    assert all(h["Authorization"] == "Bearer s3cr3t-token" for h, _ in webhook.posts)
    assert all(h["Content-Type"] == "application/json" for h, _ in webhook.posts)

    webhook.status = 503  # outage
    record(6)
    failed = forward_destination(dest.pk)
    assert failed.error == "The webhook answered HTTP 503."
    dest.refresh_from_db()
    cursor = dest.cursor
    assert cursor < head() and dest.last_error == failed.error

    webhook.status = 204
    assert forward_destination(dest.pk, force=True).error == ""
    seqs = [e["seq"] for e in webhook.events]
    assert seqs == list(range(seqs[0], head() + 1))
    event = webhook.events[-1]
    assert event["action"] == "test.event" and event["time"].endswith("Z")
    # the secret is in the vault only: not in the audit log, not in the events sent
    assert not AuditEvent.objects.filter(new_values__icontains="s3cr3t").exists()
    assert "s3cr3t" not in json.dumps(webhook.events)


def test_webhook_certificate_is_checked(base, webhook, pki):
    dest = siem_destination_create(
        actor=None,
        source="automatic",
        name="hook",
        transport="webhook-https",
        url=webhook.url,
        ca_cert=pki.other_ca_pem,
    )
    record(1)
    assert "CERTIFICATE_VERIFY_FAILED" in forward_destination(dest.pk).error
    assert webhook.posts == []


def test_status_shows_backlog_and_last_error(base, capsys):
    dest = syslog_dest("soc", "syslog-tcp", 9)  # the discard port: nothing listens
    record(2)
    assert forward_destination(dest.pk).error
    call_command("status")
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("soc"))
    assert "backlog 3" in line and "failing" in line and "last success never" in line


def test_the_periodic_task_forwards_every_enabled_destination(base, rsyslog):
    on = syslog_dest("on", "syslog-tcp", rsyslog.tcp_port)
    off = syslog_dest("off", "syslog-udp", rsyslog.udp_port, enabled=False)
    record(3)
    # the two creation events and the three; "off" is not even looked at
    assert forward_audit_events.apply().get() == {"on": 5}
    off.refresh_from_db()
    on.refresh_from_db()
    assert on.cursor == head() and off.cursor < head() and rsyslog.lines("udp") == []


def test_a_crash_between_send_and_cursor_save_resends_the_batch(base, rsyslog, monkeypatch):
    dest = syslog_dest("tcp", "syslog-tcp", rsyslog.tcp_port)
    record(4)
    real_send = forwarder._send

    def send_then_die(*args, **kwargs):
        real_send(*args, **kwargs)
        raise SystemExit("killed after the receiver accepted the batch")

    monkeypatch.setattr(forwarder, "_send", send_then_die)
    with pytest.raises(SystemExit):
        forward_destination(dest.pk)
    dest.refresh_from_db()
    start = dest.cursor  # not saved
    monkeypatch.setattr(forwarder, "_send", real_send)
    assert forward_destination(dest.pk).sent == 5
    seqs = forwarded_seqs(rsyslog.wait_lines("tcp", 10))
    batch = list(range(start + 1, head() + 1))
    assert seqs == batch + batch  # at least once: the batch twice, in order, nothing missing
