"""/api/v1/directory-events/: the life cycle's follow-up events, listed and resolved (issue 12
item 5), with the denied cases."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from directory.models import AccountType, DirectoryEvent, DirectoryEventStatus, Resource, Source
from directory.services import lifecycle
from tests.api.helpers import assert_error
from tests.directory.test_lifecycle import account, make_resource, make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/directory-events/"


@pytest.fixture
def inactivated(db):
    user = make_user(username="gone")
    res = make_resource("erp")
    res.owners.add(user)
    app_acc = account(res, account_type=AccountType.APPLICATION, responsible=user, identifier="svc")
    make_user(username="heir")
    lifecycle.user_inactivate(actor=None, source=Source.CONSOLE, user=user)
    return {"user": user, "res": res, "app_acc": app_acc}


def test_open_events_are_listed_with_their_decisions(auditor, inactivated):
    body = auditor.get(URL, {"status": "OPEN"}).json()
    kinds = {row["kind"]: row for row in body["results"]}
    assert set(kinds) == {"OWNER_CHANGE", "ACCOUNT_ADMIN_CHANGE"}
    assert kinds["OWNER_CHANGE"]["decisions"] == ["REASSIGN", "CONTINUITY"]
    assert kinds["OWNER_CHANGE"]["user"]["username"] == "gone"
    assert kinds["OWNER_CHANGE"]["object_type"] == "directory.Resource"


def test_admin_reassigns_a_resource_owner(admin, inactivated):
    event = DirectoryEvent.objects.get(kind="OWNER_CHANGE")
    response = admin.post(
        f"{URL}{event.pk}/resolve/", {"decision": "REASSIGN", "new_user": "heir"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "RESOLVED" and body["new_user"]["username"] == "heir"
    assert body["resolved_by"]["username"] == "api-admin"
    assert [u.username for u in Resource.objects.get(pk=inactivated["res"].pk).owners.all()] == ["heir"]
    assert AuditEvent.objects.filter(action="directory_event.resolved", source="api").exists()


def test_helpdesk_resolves_account_events_but_not_resource_ownership(helpdesk, inactivated):
    owner = DirectoryEvent.objects.get(kind="OWNER_CHANGE")
    assert_error(helpdesk.post(f"{URL}{owner.pk}/resolve/", {"decision": "CONTINUITY"}, format="json"), 403)
    admin_change = DirectoryEvent.objects.get(kind="ACCOUNT_ADMIN_CHANGE")
    response = helpdesk.post(f"{URL}{admin_change.pk}/resolve/", {"decision": "CONTINUITY"}, format="json")
    assert response.status_code == 200 and response.json()["decision"] == "CONTINUITY"
    owner.refresh_from_db()
    assert owner.status == DirectoryEventStatus.OPEN


def test_auditor_and_anonymous_cannot_resolve(auditor, anon, inactivated):
    event = DirectoryEvent.objects.get(kind="OWNER_CHANGE")
    assert_error(auditor.post(f"{URL}{event.pk}/resolve/", {"decision": "CONTINUITY"}, format="json"), 403)
    assert (
        anon.post(f"{URL}{event.pk}/resolve/", {"decision": "CONTINUITY"}, format="json").status_code == 401
    )
    event.refresh_from_db()
    assert event.status == DirectoryEventStatus.OPEN


def test_bad_decisions_are_400_and_a_closed_event_409(admin, inactivated):
    event = DirectoryEvent.objects.get(kind="OWNER_CHANGE")
    err = assert_error(admin.post(f"{URL}{event.pk}/resolve/", {"decision": "REMOVE"}, format="json"), 400)
    assert "decision" in err["fields"]
    assert_error(
        admin.post(
            f"{URL}{event.pk}/resolve/", {"decision": "REASSIGN", "new_user": "nobody"}, format="json"
        ),
        400,
    )
    assert_error(
        admin.post(f"{URL}{event.pk}/resolve/", {"decision": "REASSIGN", "new_user": "gone"}, format="json"),
        400,
    )
    assert_error(admin.post(f"{URL}{event.pk}/resolve/", {"decision": "EXPLODE"}, format="json"), 400)
    event.refresh_from_db()
    assert event.status == DirectoryEventStatus.OPEN
    assert (
        admin.post(f"{URL}{event.pk}/resolve/", {"decision": "CONTINUITY"}, format="json").status_code == 200
    )
    assert_error(admin.post(f"{URL}{event.pk}/resolve/", {"decision": "CONTINUITY"}, format="json"), 409)
