"""Resolving an entry that waits for manual provisioning through /api/v1/provisioning-entries/."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole
from provisioning.models import EntryStatus
from tests.api.factories import UserFactory
from tests.api.helpers import client_for
from tests.provisioning.conftest import make_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(world, erp_api):
    entry = make_entry(world["erp"], account=world["account"])
    erp_api.post("/api/v1/adapter/pull/", {}, format="json")
    response = erp_api.post(
        f"/api/v1/adapter/entries/{entry.pk}/failure/", {"reason": "no API", "final": True}, format="json"
    )
    assert response.status_code == 200
    entry.refresh_from_db()
    return entry


def url(entry):
    return f"/api/v1/provisioning-entries/{entry.pk}/resolve/"


def test_an_administrator_resolves_done_with_values(waiting):
    admin = client_for(UserFactory(username="root", console_role=ConsoleRole.ADMINISTRATOR))
    assert (
        admin.get(f"/api/v1/provisioning-entries/{waiting.pk}/").json()["status"]
        == "WAITING_FAILOVER_RESOLVING"
    )
    response = admin.post(url(waiting), {"outcome": "DONE", "native_identifier": "E-7"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "SUCCEEDED" and body["result"]["native_identifier"] == "E-7"
    assert AuditEvent.objects.filter(action="provisioning.entry_resolved", source="api").exists()
    again = admin.post(url(waiting), {"outcome": "DONE"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "entry_not_waiting"


def test_who_may_resolve_and_bad_input(world, waiting):
    helpdesk = client_for(UserFactory(username="desk", console_role=ConsoleRole.HELPDESK))
    response = helpdesk.post(url(waiting), {"outcome": "FAILED", "reason": "x"}, format="json")
    assert response.status_code == 403 and "may not resolve" in response.json()["error"]["message"]
    owner = world["owner"]
    owner.console_role = ConsoleRole.AUDITOR
    owner.save()
    api = client_for(owner)
    for body, field in (({"outcome": "MAYBE"}, "outcome"), ({"outcome": "FAILED"}, "reason")):
        response = api.post(url(waiting), body, format="json")
        assert response.status_code == 400 and field in response.json()["error"]["fields"], body
    waiting.refresh_from_db()
    assert waiting.status == EntryStatus.WAITING_FAILOVER_RESOLVING
    response = api.post(url(waiting), {"outcome": "FAILED", "reason": "cannot"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "FAILED"
    assert client_for(UserFactory(username="nobody")).post(url(waiting), {}, format="json").status_code == 403
