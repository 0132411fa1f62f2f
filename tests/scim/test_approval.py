"""A SCIM write that an approval policy holds: 202, nothing in the directory until approved."""

from __future__ import annotations

from directory.models import User
from requests_workflow.models import ApprovalLevel, ApprovalPolicy, Request, RequestStatus, RequestType
from tests.scim.conftest import PATCH, new_user


def _policy(types, approver):
    policy = ApprovalPolicy.objects.create(name="HR feed check", request_types=types)
    ApprovalLevel.objects.create(policy=policy, position=1, approver_kind="USERS").users.add(approver)
    return policy


def test_create_waiting_for_approval_is_202_with_the_request(scim, db):
    approver = User.objects.create(username="boss", first_name="B", last_name="Oss")
    _policy([RequestType.CREATE_USER], approver)
    r = scim.post("/Users", new_user())
    assert r.status_code == 202, r.content
    req = Request.objects.get(type=RequestType.CREATE_USER)
    assert req.status == RequestStatus.WAITING_APPROVAL
    assert str(req.pk) in r.json()["detail"]
    assert r["Location"].endswith(f"/api/v1/requests/{req.pk}/")
    assert not User.objects.filter(username="ada.lovelace").exists()


def test_update_waiting_for_approval_is_202_with_the_current_state(scim, db):
    uid = scim.post("/Users", new_user()).json()["id"]
    approver = User.objects.create(username="boss", first_name="B", last_name="Oss")
    _policy([RequestType.UPDATE_USER], approver)
    r = scim.patch(
        f"/Users/{uid}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "CEO"}]},
    )
    assert r.status_code == 202
    assert r.json()["title"] == "Engineer"  # as it is now; the change waits for approval
    assert Request.objects.get(type=RequestType.UPDATE_USER).status == RequestStatus.WAITING_APPROVAL
