"""/api/v1/access-groups/ and /api/v1/access-requests/: least privilege, the flow, denied cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from privileged.models import AccessGroup, AccessRequest, AccessStatus
from tests.api.helpers import client_for
from tests.privileged.conftest import PASSWORD

GROUPS = "/api/v1/access-groups/"
REQUESTS = "/api/v1/access-requests/"


def body(**kw):
    start = timezone.now()
    return {
        "credential": "proddb/postgres",
        "reason": "Rebuild an index",
        "governance_code": "CHG-42",
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(minutes=60)).isoformat(),
        **kw,
    }


def test_groups_are_read_by_console_roles_and_changed_by_administrators(pam):
    for who in ("admin", "helpdesk", "auditor"):
        response = client_for(pam[who]).get(GROUPS)
        assert response.status_code == 200, who
        row = response.json()["results"][0]
        assert row["code"] == "prod-dba"
        assert row["credentials"] == ["proddb/postgres", "proddb/shared-ops"]
        assert [lv["users"] for lv in row["levels"]] == [["approver1"], ["approver2"]]
    assert client_for(pam["dba1"]).get(GROUPS).status_code == 403
    new = {
        "code": "ro",
        "name": "Read-only",
        "members": ["user:dba2"],
        "credentials": ["proddb/shared-ops"],
        "approval_required": False,
    }
    for who in ("helpdesk", "auditor", "dba1"):
        assert client_for(pam[who]).post(GROUPS, new, format="json").status_code == 403
    assert AccessGroup.objects.count() == 1
    response = client_for(pam["admin"]).post(GROUPS, new, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["members"] == ["user:dba2"] and response.json()["levels"] == []
    pk = response.json()["id"]
    response = client_for(pam["admin"]).patch(f"{GROUPS}{pk}/", {"max_window_minutes": 30}, format="json")
    assert response.status_code == 200 and response.json()["max_window_minutes"] == 30
    assert response.json()["credentials"] == ["proddb/shared-ops"]  # left out: unchanged
    bad = client_for(pam["admin"]).patch(f"{GROUPS}{pk}/", {"credentials": ["proddb/nope"]}, format="json")
    assert bad.status_code == 400 and "credentials" in bad.json()["error"]["fields"]
    assert client_for(pam["admin"]).delete(f"{GROUPS}{pk}/").status_code == 204


def test_the_flow_through_the_api(pam):
    dba = client_for(pam["dba1"])
    created = dba.post(REQUESTS, body(), format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["status"] == "PENDING" and created.json()["level"] == 1
    # the requester cannot approve; a level-2 approver has nothing to decide yet
    assert dba.post(f"{REQUESTS}{pk}/approve/", {}, format="json").status_code == 403
    assert client_for(pam["approver2"]).post(f"{REQUESTS}{pk}/approve/", {}, format="json").status_code in (
        403,
        404,
    )
    first = client_for(pam["approver1"]).post(f"{REQUESTS}{pk}/approve/", {"comment": "ok"}, format="json")
    assert first.status_code == 200 and first.json()["level"] == 2
    second = client_for(pam["approver2"]).post(f"{REQUESTS}{pk}/approve/", {}, format="json")
    assert second.status_code == 200 and second.json()["status"] == "APPROVED"
    # only the requester reveals
    assert client_for(pam["approver1"]).post(f"{REQUESTS}{pk}/reveal/").status_code == 403
    revealed = dba.post(f"{REQUESTS}{pk}/reveal/")
    assert revealed.status_code == 200 and revealed.json() == {"value": PASSWORD}
    # a requester sees their own requests; another user none of them
    assert [r["id"] for r in dba.get(REQUESTS).json()["results"]] == [pk]
    assert client_for(pam["dba2"]).get(REQUESTS).json()["results"] == []
    assert client_for(pam["dba2"]).get(f"{REQUESTS}{pk}/").status_code == 404
    # revoke by an approver; a late approval answers 409
    revoked = client_for(pam["approver2"]).post(f"{REQUESTS}{pk}/revoke/", {"reason": "done"}, format="json")
    assert revoked.status_code == 200 and revoked.json()["status"] == "REVOKED"
    late = client_for(pam["approver1"]).post(f"{REQUESTS}{pk}/approve/", {}, format="json")
    assert late.status_code == 409 and "revoked" in late.json()["error"]["message"]
    assert dba.post(f"{REQUESTS}{pk}/reveal/").status_code == 409


def test_disapprove_cancel_and_emergency_through_the_api(pam):
    dba = client_for(pam["dba1"])
    pk = dba.post(REQUESTS, body(), format="json").json()["id"]
    response = client_for(pam["approver1"]).post(
        f"{REQUESTS}{pk}/disapprove/", {"comment": "no"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "DISAPPROVED"
    pk = dba.post(REQUESTS, body(), format="json").json()["id"]
    assert client_for(pam["approver1"]).post(f"{REQUESTS}{pk}/cancel/", {}, format="json").status_code == 403
    assert dba.post(f"{REQUESTS}{pk}/cancel/", {}, format="json").json()["status"] == "CANCELED"
    pk = dba.post(REQUESTS, body(), format="json").json()["id"]
    emergency = dba.post(f"{REQUESTS}{pk}/emergency/")
    assert emergency.status_code == 200 and emergency.json()["emergency"] is True
    assert emergency.json()["status"] == "APPROVED"


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"credential": "proddb/nope"}, 400, "credential"),
        ({"governance_code": "CHG-1 OR 1=1"}, 400, "governance_code"),
        ({"window_end": (timezone.now() + timedelta(days=1)).isoformat()}, 400, "window_end"),
        ({"window_start": "yesterday"}, 400, "window_start"),
        ({"credential": "proddb/shared-ops", "emergency": "maybe"}, 400, "emergency"),
    ],
)
def test_bad_requests_answer_400_and_change_nothing(pam, change, status, field):
    response = client_for(pam["dba1"]).post(REQUESTS, body(**change), format="json")
    assert response.status_code == status, response.content
    assert field in response.json()["error"]["fields"]
    assert not AccessRequest.objects.exists()


def test_a_user_without_a_group_is_refused(pam):
    response = client_for(pam["stranger"]).post(REQUESTS, body(), format="json")
    assert response.status_code == 403
    assert "No access group gives you" in response.json()["error"]["message"]


def test_anonymous_and_inactive_users_are_refused(pam, anon):
    assert anon.get(REQUESTS).status_code == 401
    client = client_for(pam["dba1"])
    pam["dba1"].status = "INACTIVE"
    pam["dba1"].save()
    assert client.post(REQUESTS, body(), format="json").status_code in (401, 403)
    assert not AccessRequest.objects.filter(status=AccessStatus.PENDING).exists()


def test_console_readers_see_every_request(pam):
    client_for(pam["dba1"]).post(REQUESTS, body(), format="json")
    assert len(client_for(pam["auditor"]).get(REQUESTS).json()["results"]) == 1


@pytest.fixture
def anon(db):
    return APIClient()
