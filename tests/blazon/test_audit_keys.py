"""The audit chain is keyed (HMAC, key outside the database), its head is authenticated, and
signed checkpoints catch what the database alone cannot: a rewrite by a key holder, a tail cut."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import stat
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.utils import timezone

from blazon.audit.chain import GENESIS, head_mac, keyed_hash, legacy_hash
from blazon.audit.keys import _build_keyring, audit_keyring
from blazon.audit.models import AuditChainHead, AuditEvent
from blazon.audit.services import audit_record, audit_verify

KEY_A = "a:" + base64.b64encode(b"A" * 32).decode()
KEY_B = "b:" + base64.b64encode(b"B" * 32).decode()
FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_repr",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "subject_user_id",
    "old_values",
    "new_values",
    "source",
    "correlation_id",
    "client_ip",
    "prev_hash",
    "key_id",
)


@pytest.fixture(autouse=True)
def _keys(tmp_path, settings):
    settings.BLAZON_AUDIT_KEYS = KEY_A
    settings.BLAZON_AUDIT_SIGNING_KEY_FILE = ""
    settings.BLAZON_AUDIT_DEFAULT_SIGNING_KEY_FILE = str(tmp_path / "signing.pem")


def _write(n: int, start: int = 0) -> None:
    with transaction.atomic():
        for i in range(start, start + n):
            audit_record(actor=None, action="test.change", object_type="thing", object_id=i, new={"v": i})


def _values(event: AuditEvent) -> dict:
    return {name: getattr(event, name) for name in FIELDS}


def _rehash_forward(from_seq: int, hasher) -> None:
    """What an attacker with database access does after editing an event: recompute every hash
    from there on, then move the head. ``hasher(values) -> (key_id, hash)``."""
    prev = AuditEvent.objects.get(seq=from_seq - 1).hash if from_seq > 1 else GENESIS
    for event in AuditEvent.objects.filter(seq__gte=from_seq).order_by("seq"):
        event.prev_hash = prev
        event.key_id, event.hash = hasher(_values(event))
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=prev, key_id=event.key_id, hash=event.hash)
        prev = event.hash
    last = AuditEvent.objects.order_by("-seq").first()
    AuditChainHead.objects.filter(pk=1).update(seq=last.seq, hash=last.hash)


def _edit(seq: int) -> None:
    with connection.cursor() as cur:
        cur.execute("UPDATE blazon_auditevent SET new_values = %s WHERE seq = %s", ['{"v": 999}', seq])


@pytest.mark.django_db
def test_events_are_keyed_with_the_current_key():
    _write(3)
    events = list(AuditEvent.objects.order_by("seq"))
    assert {e.key_id for e in events} == {"a"}
    # an HMAC, not a plain SHA-256 of the same bytes
    assert events[0].hash == keyed_hash(b"A" * 32, _values(events[0]))
    assert events[0].hash != legacy_hash({**_values(events[0]), "key_id": ""})
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash, head.key_id) == (3, events[-1].hash, "a")
    assert head.mac == head_mac(b"A" * 32, 3, events[-1].hash)
    assert audit_verify().ok


@pytest.mark.django_db
def test_every_append_path_keys_its_events_and_macs_the_head():
    from blazon.audit.services import AuditEntry, audit_batch, audit_record_many

    _write(1)  # one event: INSERT and head update in one statement
    with transaction.atomic(), audit_batch():  # a batch past the one-statement size: bulk insert
        for i in range(250):
            audit_record(actor=None, action="batched", object_type="thing", object_id=i)
    with transaction.atomic():  # COPY
        audit_record_many(
            (AuditEntry(action="bulk", object_type="thing", object_id=i) for i in range(300)),
            actor=None,
            source="api",
        )
    assert set(AuditEvent.objects.values_list("key_id", flat=True)) == {"a"}
    head = AuditChainHead.objects.get(pk=1)
    assert head.seq == 551 and head.mac == head_mac(b"A" * 32, 551, head.hash)
    result = audit_verify()
    assert result.ok and result.checked == 551 and result.legacy == 0


@pytest.mark.django_db
def test_tail_deletion_with_the_head_moved_back_is_detected():
    _write(5)
    AuditEvent.objects.filter(seq__gte=4).delete()
    third = AuditEvent.objects.get(seq=3)
    # the head now names the (real) event #3: seq and hash consistent with the remaining chain
    AuditChainHead.objects.filter(pk=1).update(seq=3, hash=third.hash)
    result = audit_verify()
    assert not result.ok
    assert "head" in result.reason and "altered" in result.reason
    with pytest.raises(CommandError, match="head"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_lowering_only_the_head_seq_is_detected():
    _write(5)
    AuditEvent.objects.filter(seq__gte=4).delete()
    AuditChainHead.objects.filter(pk=1).update(seq=3)  # hash still that of #5
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 4
    assert "deleted or the head was edited" in result.reason


@pytest.mark.django_db
def test_rewrite_rehashed_without_the_key_is_detected():
    _write(5)
    _edit(2)
    # the attacker does not hold the key: a guess keeps the key id, the hash cannot match
    _rehash_forward(2, lambda v: (v["key_id"], keyed_hash(b"guess" * 8, v)))
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 2
    assert "modified" in result.reason


@pytest.mark.django_db
def test_rewrite_downgraded_to_legacy_sha256_is_detected():
    _write(5)
    _edit(3)
    _rehash_forward(3, lambda v: ("", legacy_hash({**v, "key_id": ""})))
    AuditChainHead.objects.filter(pk=1).update(key_id="", mac="")
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 3
    assert "lost its chain key" in result.reason


@pytest.mark.django_db
def test_key_rotation_keeps_old_events_verifiable(settings):
    _write(3)
    settings.BLAZON_AUDIT_KEYS = f"{KEY_B},{KEY_A}"  # new key first, the old one kept after it
    _write(3, start=3)
    key_ids = list(AuditEvent.objects.order_by("seq").values_list("key_id", flat=True))
    assert key_ids == ["a", "a", "a", "b", "b", "b"]
    result = audit_verify()
    assert result.ok and result.checked == 6
    call_command("verify_audit")
    # dropping the old key from the keyring makes its events unverifiable, and says why
    settings.BLAZON_AUDIT_KEYS = KEY_B
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 1
    assert "'a' is not configured" in result.reason


def _insert_legacy(n: int) -> None:
    """Events as written before the chain was keyed: plain SHA-256, empty key id, head unMACed."""
    prev = GENESIS
    for seq in range(1, n + 1):
        values = {
            "seq": seq,
            "created_at": timezone.now(),
            "actor_id": None,
            "actor_repr": "system",
            "action": "old.change",
            "object_type": "thing",
            "object_id": str(seq),
            "object_repr": "",
            "subject_user_id": None,
            "old_values": None,
            "new_values": {"v": seq},
            "source": "console",
            "correlation_id": "",
            "client_ip": None,
            "prev_hash": prev,
        }
        # the pre-change formula, spelled out: SHA-256 of the canonical JSON, no key_id in it
        payload = {k: v for k, v in values.items() if k not in {"old_values", "new_values", "created_at"}}
        payload |= {"old": None, "new": {"v": seq}, "created_at": values["created_at"].isoformat()}
        digest = hashlib.sha256(
            json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
        AuditEvent.objects.create(**values, hash=digest)
        prev = digest
    AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": n, "hash": prev})


@pytest.mark.django_db
def test_legacy_events_still_verify_and_the_keyed_chain_continues_them():
    _insert_legacy(3)
    result = audit_verify()
    assert result.ok and result.legacy == 3
    _write(2)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.key_id for e in events] == ["", "", "", "a", "a"]
    assert events[3].prev_hash == events[2].hash
    result = audit_verify()
    assert result.ok and result.checked == 5 and result.legacy == 3
    # a legacy event is still checked: editing one is caught
    with connection.cursor() as cur:
        cur.execute("UPDATE blazon_auditevent SET action = 'x' WHERE seq = 2")
    assert audit_verify().first_bad_seq == 2


# --- checkpoints ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_checkpoint_is_signed_written_and_logged(tmp_path, caplog):
    _write(4)
    out = tmp_path / "cp.json"
    with caplog.at_level(logging.INFO, logger="blazon.audit.checkpoint"):
        call_command("audit_checkpoint", "--output", str(out), stdout=open(tmp_path / "stdout", "w"))
    data = json.loads(out.read_text())
    assert data["seq"] == 4 and data["hash"] == AuditEvent.objects.get(seq=4).hash and data["key_id"] == "a"
    assert any(
        json.loads(r.getMessage().split(" ", 2)[2])["signature"] == data["signature"] for r in caplog.records
    )
    _write(2, start=4)  # the chain grows past the checkpoint: still fine
    call_command("verify_audit", "--checkpoint", str(out))
    # an auditor holding only the public key verifies the same way
    pub = tmp_path / "pub.pem"
    call_command("audit_checkpoint", "--public-key", stdout=open(pub, "w"))
    assert "PUBLIC KEY" in pub.read_text()
    call_command("verify_audit", "--checkpoint", str(out), "--public-key", str(pub))


def _checkpoint(tmp_path: Path) -> Path:
    out = tmp_path / "cp.json"
    call_command("audit_checkpoint", "--output", str(out), stdout=open(tmp_path / "stdout", "w"))
    return out


@pytest.mark.django_db
def test_checkpoint_detects_a_rewrite_by_a_chain_key_holder(tmp_path):
    _write(5)
    cp = _checkpoint(tmp_path)
    _edit(2)
    # an insider with the HMAC key re-hashes forward and re-MACs the head: the chain alone verifies
    _rehash_forward(2, lambda v: ("a", keyed_hash(b"A" * 32, v)))
    head = AuditChainHead.objects.get(pk=1)
    AuditChainHead.objects.filter(pk=1).update(mac=head_mac(b"A" * 32, head.seq, head.hash))
    call_command("verify_audit")
    with pytest.raises(CommandError, match=r"rewritten at or below event #5"):
        call_command("verify_audit", "--checkpoint", str(cp))


@pytest.mark.django_db
def test_checkpoint_detects_truncation_below_it(tmp_path):
    _write(5)
    cp = _checkpoint(tmp_path)
    AuditEvent.objects.filter(seq__gte=4).delete()
    third = AuditEvent.objects.get(seq=3)
    AuditChainHead.objects.filter(pk=1).update(seq=3, hash=third.hash, mac=head_mac(b"A" * 32, 3, third.hash))
    call_command("verify_audit")  # a key holder (or a replayed head) hides it from the chain check
    with pytest.raises(CommandError, match="truncated below the checkpoint"):
        call_command("verify_audit", "--checkpoint", str(cp))


@pytest.mark.django_db
def test_checkpoint_detects_a_whole_chain_downgraded_to_legacy(tmp_path):
    _write(4)
    cp = _checkpoint(tmp_path)
    _rehash_forward(1, lambda v: ("", legacy_hash({**v, "key_id": ""})))
    AuditChainHead.objects.filter(pk=1).update(key_id="", mac="")
    assert audit_verify().legacy == 4  # every event now looks pre-keying: only the checkpoint knows
    with pytest.raises(CommandError, match="rewritten"):
        call_command("verify_audit", "--checkpoint", str(cp))


@pytest.mark.django_db
def test_a_forged_or_foreign_checkpoint_is_rejected(tmp_path, settings):
    _write(3)
    cp = _checkpoint(tmp_path)
    data = json.loads(cp.read_text())
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**data, "seq": 2, "hash": AuditEvent.objects.get(seq=2).hash}))
    with pytest.raises(CommandError, match="invalid signature"):
        call_command("verify_audit", "--checkpoint", str(forged))
    settings.BLAZON_AUDIT_DEFAULT_SIGNING_KEY_FILE = str(tmp_path / "other.pem")
    with pytest.raises(CommandError, match="signed by another key"):
        call_command("verify_audit", "--checkpoint", str(cp))


@pytest.mark.django_db
def test_no_checkpoint_of_a_broken_chain(tmp_path):
    _write(3)
    _edit(2)
    with pytest.raises(CommandError, match="broken"):
        call_command("audit_checkpoint", "--output", str(tmp_path / "cp.json"))
    assert not (tmp_path / "cp.json").exists()


# --- configuration ----------------------------------------------------------------------------


def test_embedded_default_creates_a_private_key_file_once(tmp_path, settings):
    settings.BLAZON_AUDIT_KEYS = ""
    settings.BLAZON_AUDIT_KEY_FILE = str(tmp_path / "var" / "audit-chain.keys")
    ring = audit_keyring()
    path = Path(settings.BLAZON_AUDIT_KEY_FILE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ring.current_id.startswith("local-") and len(ring.current_key) == 32
    assert ring.source == str(path)
    # created once: a later read (another process, a restart) gets the same key
    _build_keyring.cache_clear()
    assert audit_keyring().current_key == ring.current_key


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("a", "must look like"),
        ("bad id!:" + base64.b64encode(b"x" * 32).decode(), "key id"),
        ("a:not-base64!", "not valid base64"),
        ("a:" + base64.b64encode(b"short").decode(), "at least 32 bytes"),
        (f"{KEY_A},{KEY_A}", "more than once"),
    ],
)
def test_a_malformed_keyring_is_refused_without_showing_key_material(settings, raw, message):
    settings.BLAZON_AUDIT_KEYS = raw
    with pytest.raises(ImproperlyConfigured, match=message) as excinfo:
        audit_keyring()
    assert base64.b64encode(b"x" * 32).decode() not in str(excinfo.value)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_keyed_chain():
    assert connection.vendor == "postgresql"  # the head row lock is what serialises the writers
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(10):
                _write(1, start=k * 100 + i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = audit_verify()
    assert result.ok and result.checked == 40


def test_generated_key_entry_is_accepted_and_a_malformed_keyring_fails_the_system_check(settings):
    from io import StringIO

    from django.core import checks

    out = StringIO()
    call_command("audit_generate_key", "--key-id", "2027-01", stdout=out)
    entry = out.getvalue().strip()
    settings.BLAZON_AUDIT_KEYS = f"{entry},{KEY_A}"
    ring = audit_keyring()
    assert ring.current_id == "2027-01" and len(ring.current_key) == 32
    assert not [m for m in checks.run_checks() if m.id == "blazon.E001"]
    settings.BLAZON_AUDIT_KEYS = "2027-01:short"
    errors = [m for m in checks.run_checks() if m.id == "blazon.E001"]
    assert errors and "2027-01" in errors[0].msg
