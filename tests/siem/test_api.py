"""``/api/v1/siem-destinations/``: administrators change, console roles read, secrets are
write-only, bad input is a clear 400 with nothing saved, every change is audited."""

from __future__ import annotations

import json

import pytest

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole
from siem.models import SiemDestination
from tests.api.factories import UserFactory
from tests.api.helpers import assert_error, client_for
from tests.siem.parse import parse_5424

URL = "/api/v1/siem-destinations/"


@pytest.fixture
def admin(db):
    return client_for(UserFactory(username="siem-admin", console_role=ConsoleRole.ADMINISTRATOR))


@pytest.fixture
def auditor(db):
    return client_for(UserFactory(username="siem-auditor", console_role=ConsoleRole.AUDITOR))


@pytest.fixture
def helpdesk(db):
    return client_for(UserFactory(username="siem-helpdesk", console_role=ConsoleRole.HELPDESK))


@pytest.fixture
def plain(db):
    return client_for(UserFactory(username="siem-plain"))


TCP = {"name": "soc", "transport": "syslog-tcp", "host": "127.0.0.1", "port": 6514}


def test_create_read_update_delete_audited(admin, auditor):
    created = admin.post(URL, TCP, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["transport"] == "syslog-tcp" and body["format"] == "rfc5424"
    assert body["backlog"] == 1  # its own creation event: it starts from the head before it
    assert body["secrets_set"] == [] and body["enabled"] is True
    pk = body["id"]
    event = AuditEvent.objects.get(action="siem_destination.create")
    assert event.new_values["host"] == "127.0.0.1" and event.actor_repr == "siem-admin"

    listed = auditor.get(URL)
    assert listed.status_code == 200 and listed.json()["results"][0]["name"] == "soc"
    assert listed.json()["results"][0]["backlog"] >= 1  # its own creation event, at least

    changed = admin.patch(f"{URL}{pk}/", {"format": "cef", "action_prefix": "vault."}, format="json")
    assert changed.status_code == 200 and changed.json()["format"] == "cef"
    update = AuditEvent.objects.get(action="siem_destination.update")
    assert update.old_values == {"format": "rfc5424", "action_prefix": ""}

    assert admin.delete(f"{URL}{pk}/").status_code == 204
    assert not SiemDestination.objects.exists()
    assert AuditEvent.objects.get(action="siem_destination.delete").old_values["name"] == "soc"


def test_webhook_secret_is_write_only_and_kept_in_the_vault(admin):
    data = {
        "name": "hook",
        "transport": "webhook-https",
        "url": "https://siem.example.com/ingest",
        "secret_header": "Authorization",
        "header_value": "Bearer very-secret-value",
    }
    created = admin.post(URL, data, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["secrets_set"] == ["header_value"]
    assert "very-secret-value" not in created.content.decode()
    assert "very-secret-value" not in admin.get(f"{URL}{created.json()['id']}/").content.decode()
    dest = SiemDestination.objects.get()
    assert dest.secret is not None and b"very-secret-value" not in bytes(dest.secret.ciphertext)
    everything = json.dumps(list(AuditEvent.objects.values("old_values", "new_values")))
    assert "very-secret-value" not in everything
    # an update without the secret keeps it; an empty one removes it
    admin.patch(f"{URL}{dest.pk}/", {"enabled": False}, format="json")
    dest.refresh_from_db()
    assert dest.secret_keys == ["header_value"] and not dest.enabled
    cleared = admin.patch(f"{URL}{dest.pk}/", {"header_value": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["secrets_set"] == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"transport": "webhook-https", "url": "http://siem.example.com/in"}, "url"),
        ({"transport": "webhook-https", "url": "https:///nohost"}, "url"),
        ({"transport": "webhook-https", "url": "https://user:pw@siem.example.com/"}, "url"),
        ({"transport": "syslog-tcp", "host": "not a host!", "port": 514}, "host"),
        ({"transport": "syslog-tcp", "host": "siem.example.com"}, "port"),
        ({"transport": "syslog-udp", "host": "siem.example.com", "port": 70000}, "port"),
        ({"transport": "syslog-udp", "host": "", "port": 514}, "host"),
        (
            {
                "transport": "syslog-tls",
                "host": "siem",
                "port": 6514,
                "ca_cert": "-----BEGIN CERTIFICATE-----\nnope\n",
            },
            "ca_cert",
        ),
        ({"transport": "syslog-tls", "host": "siem", "port": 6514, "client_cert": "garbage"}, "client_cert"),
        ({"transport": "syslog-tcp", "host": "siem", "port": 514, "format": "leef"}, "format"),
        ({"transport": "carrier-pigeon", "host": "siem", "port": 514}, "transport"),
        ({"transport": "syslog-tcp", "host": "siem", "port": 514, "action_prefix": "a b"}, "action_prefix"),
        (
            {"transport": "webhook-https", "url": "https://x.example/", "header_value": "v"},
            "secret_header",
        ),
        (
            {"transport": "webhook-https", "url": "https://x.example/", "secret_header": "Bad Header:"},
            "secret_header",
        ),
    ],
)
def test_bad_input_is_a_clear_400_and_saves_nothing(admin, data, field):
    before = AuditEvent.objects.count()
    error = assert_error(admin.post(URL, {"name": "bad", **data}, format="json"), 400)
    assert field in error["fields"], error
    assert not SiemDestination.objects.exists()
    assert AuditEvent.objects.count() == before


def test_client_key_must_match_the_certificate(admin, pki):
    other = pki.server_key_pem  # a key, but not the client certificate's
    data = {**TCP, "transport": "syslog-tls", "client_cert": pki.client_cert_pem, "client_key": other}
    error = assert_error(admin.post(URL, data, format="json"), 400)
    assert "client_key" in error["fields"]
    error = assert_error(admin.post(URL, {**data, "client_key": "not a key"}, format="json"), 400)
    assert "client_key" in error["fields"]
    assert not SiemDestination.objects.exists()


def test_duplicate_name_is_a_conflict(admin):
    assert admin.post(URL, TCP, format="json").status_code == 201
    assert_error(admin.post(URL, TCP, format="json"), 409)


def test_roles_without_manage_config_cannot_change_or_test(admin, auditor, helpdesk, plain):
    pk = admin.post(URL, TCP, format="json").json()["id"]
    for client in (auditor, helpdesk):
        assert client.get(URL).status_code == 200
        assert_error(client.post(URL, {**TCP, "name": "x"}, format="json"), 403)
        assert_error(client.patch(f"{URL}{pk}/", {"enabled": False}, format="json"), 403)
        assert_error(client.delete(f"{URL}{pk}/"), 403)
        assert_error(client.post(f"{URL}{pk}/test/"), 403)
    assert_error(plain.get(URL), 403)
    assert SiemDestination.objects.get().enabled
    assert not AuditEvent.objects.filter(action="siem_destination.test").exists()


def test_the_test_action_sends_one_message(admin, rsyslog):
    pk = admin.post(URL, {**TCP, "port": rsyslog.tcp_port}, format="json").json()["id"]
    answer = admin.post(f"{URL}{pk}/test/")
    assert answer.status_code == 200 and answer.json() == {"accepted": True, "error": ""}
    message = parse_5424(rsyslog.wait_lines("tcp", 1)[0])
    assert message.msgid == "siem.test" and json.loads(message.msg)["object"] == "soc"
    assert AuditEvent.objects.get(action="siem_destination.test").new_values == {
        "accepted": True,
        "error": "",
    }

    rsyslog.stop()
    answer = admin.post(f"{URL}{pk}/test/")
    assert answer.status_code == 200 and answer.json()["accepted"] is False
    assert "refused" in answer.json()["error"].lower()
