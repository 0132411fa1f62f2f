"""Console: Settings -> SIEM forwarding (list with backlog and last error, edit, delete, send a
test message); administrators change, other console roles read, others are refused."""

from __future__ import annotations

import pytest
from django.test import Client

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole
from siem.models import SiemDestination
from siem.services import siem_destination_create
from tests.api.factories import UserFactory

LIST = "/console/siem/destinations/"


def logged_in(role: str | None, name: str) -> Client:
    client = Client()
    client.force_login(UserFactory(username=name, console_role=role or ""))
    return client


@pytest.fixture
def admin(db):
    return logged_in(ConsoleRole.ADMINISTRATOR, "c-admin")


@pytest.fixture
def auditor(db):
    return logged_in(ConsoleRole.AUDITOR, "c-auditor")


@pytest.fixture
def dest(db):
    dest = siem_destination_create(
        actor=None, source="automatic", name="soc", transport="syslog-tcp", host="127.0.0.1", port=9
    )
    SiemDestination.objects.filter(pk=dest.pk).update(
        last_error="ConnectionRefusedError: refused", failures=2
    )
    return dest


def test_list_shows_backlog_and_last_error(admin, auditor, dest):
    page = admin.get(LIST)
    assert page.status_code == 200
    text = page.content.decode()
    assert "soc" in text and "127.0.0.1:9" in text and "ConnectionRefusedError: refused" in text
    assert "New destination" in text and "Send a test message" in text
    read_only = auditor.get(LIST).content.decode()
    assert "soc" in read_only and "New destination" not in read_only
    csv = admin.get(LIST + "?export=csv")
    assert csv.status_code == 200 and b"soc" in b"".join(csv.streaming_content)


def test_create_edit_delete_from_the_console(admin, db):
    form = {
        "name": "hook",
        "transport": "webhook-https",
        "format": "rfc5424",
        "url": "http://x.example/",
        "enabled": "on",
    }
    refused = admin.post(LIST + "new/", form)
    assert refused.status_code == 400 and "https://" in refused.content.decode()
    assert not SiemDestination.objects.exists()
    form.update(url="https://x.example/in", secret_header="X-Token", header_value="tok-123")
    saved = admin.post(LIST + "new/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    dest = SiemDestination.objects.get()
    assert dest.secret_keys == ["header_value"]
    edit = admin.get(f"{LIST}{dest.pk}/edit/").content.decode()
    assert "tok-123" not in edit and "https://x.example/in" in edit
    form.update(header_value="", enabled="")  # an empty secret box leaves the secret alone
    form.pop("enabled")
    assert admin.post(f"{LIST}{dest.pk}/edit/", form).status_code == 302
    dest.refresh_from_db()
    assert not dest.enabled and dest.secret_keys == ["header_value"]
    assert admin.get(f"{LIST}{dest.pk}/delete/").status_code == 200
    assert admin.post(f"{LIST}{dest.pk}/delete/").status_code == 302
    assert not SiemDestination.objects.exists()
    assert AuditEvent.objects.filter(action="siem_destination.delete").exists()


def test_test_button_reports_the_outcome(admin, dest):
    answer = admin.post(f"{LIST}{dest.pk}/test/", follow=True)
    assert "did not accept the test message" in answer.content.decode()
    assert AuditEvent.objects.get(action="siem_destination.test").new_values["accepted"] is False


def test_non_administrators_are_refused(auditor, dest, db):
    plain = logged_in(None, "c-plain")
    assert plain.get(LIST).status_code == 403
    assert auditor.get(LIST + "new/").status_code == 403
    assert auditor.post(LIST + "new/", {"name": "x", "transport": "syslog-udp"}).status_code == 403
    assert auditor.post(f"{LIST}{dest.pk}/delete/").status_code == 403
    assert auditor.post(f"{LIST}{dest.pk}/test/").status_code == 403
    assert SiemDestination.objects.count() == 1
    assert not AuditEvent.objects.filter(action="siem_destination.test").exists()
