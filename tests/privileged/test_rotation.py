"""Rotation policies: by age (the periodic task), after a check-out, when a shared account's
member leaves; /api/v1/rotation-policies/ for administrators; bad input refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from blazon.errors import ValidationFailed
from directory.models import DirectoryEvent, DirectoryEventKind, DirectoryEventStatus, SharedAccountMember
from directory.services import lifecycle
from privileged.models import AccessRequest, AccessStatus, RotationPolicy
from privileged.services.flow import access_request_create, access_requests_expire, access_reveal
from privileged.services.rotation import (
    rotation_policy_create,
    rotation_policy_update,
    rotations_run,
    secrets_due,
)
from privileged.tasks import rotate_due_passwords
from provisioning.models import ProvisioningEntry
from tests.api.factories import AccountFactory
from tests.api.helpers import client_for
from tests.privileged.conftest import PASSWORD
from tests.vault.rotations import application_answers
from vault.models import Secret
from vault.services import checkout_open, secret_reveal, secret_store


def value(account):
    return secret_reveal(actor=None, source="test", secret=Secret.objects.get(account=account))


def age(account, days):
    Secret.objects.filter(account=account).update(
        created_at=timezone.now() - timedelta(days=days), rotated_at=None
    )


def test_passwords_older_than_the_policy_are_rotated_by_the_periodic_task(pam):
    rotation_policy_create(
        actor=pam["admin"],
        source="console",
        name="DB 30 days",
        resource=pam["resource"],
        account_type="ADMINISTRATIVE",
        every_days=30,
    )
    age(pam["postgres"], 10)
    age(pam["shared"], 90)  # a shared account: no policy covers it
    assert rotate_due_passwords.apply().get() == 0
    age(pam["postgres"], 31)
    assert [s.account_id for s in secrets_due(timezone.now())] == [pam["postgres"].pk]
    assert rotate_due_passwords.apply().get() == 1
    assert value(pam["postgres"]) == PASSWORD  # until the application confirms it
    assert rotations_run() == 0  # one rotation at a time
    assert application_answers() == 1
    assert value(pam["postgres"]) != PASSWORD and value(pam["shared"]) == PASSWORD
    entry = ProvisioningEntry.objects.get(account=pam["postgres"], event_type="CHANGE_PASSWORD")
    assert "rotation policy" in entry.payload["reason"]
    assert rotations_run() == 0  # young again: idempotent


def test_a_password_in_use_is_not_rotated_under_its_holder(pam):
    rotation_policy_create(
        actor=pam["admin"], source="console", name="All admin", account_type="ADMINISTRATIVE", every_days=1
    )
    age(pam["postgres"], 5)
    checkout_open(actor=pam["admin"], source="console", account=pam["postgres"], user=pam["dba1"])
    assert rotations_run() == 0
    assert value(pam["postgres"]) == PASSWORD


def test_a_leaving_member_of_a_shared_account_triggers_its_rotation_and_ends_their_access(pam):
    rotation_policy_create(
        actor=pam["admin"],
        source="console",
        name="Shared on leave",
        account_type="SHARED",
        on_member_leave=True,
    )
    SharedAccountMember.objects.create(account=pam["shared"], user=pam["dba2"])
    req = access_request_create(
        actor=pam["dba2"],
        source="workspace",
        account=pam["postgres"],
        reason="r",
        governance_code="C-1",
        emergency=True,
    )
    access_reveal(actor=pam["dba2"], source="workspace", request=req)
    lifecycle.user_revoke(actor=pam["admin"], source="console", user=pam["dba2"])
    assert application_answers() == 2
    assert value(pam["shared"]) != PASSWORD  # rotated at once, not only an alert
    event = DirectoryEvent.objects.get(kind=DirectoryEventKind.SHARED_MEMBER_REMOVED, user=pam["dba2"])
    assert event.status == DirectoryEventStatus.RESOLVED and event.decision == "DONE"
    req.refresh_from_db()
    assert req.status == AccessStatus.REVOKED
    assert value(pam["postgres"]) != PASSWORD  # the vault's check-out rotated it


def test_without_a_policy_a_leaving_member_leaves_only_the_alert(pam):
    SharedAccountMember.objects.create(account=pam["shared"], user=pam["dba2"])
    lifecycle.user_revoke(actor=pam["admin"], source="console", user=pam["dba2"])
    assert value(pam["shared"]) == PASSWORD
    assert (
        DirectoryEvent.objects.get(kind=DirectoryEventKind.SHARED_MEMBER_REMOVED).status
        == DirectoryEventStatus.OPEN
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"account_type": "REGULAR", "every_days": 5}, "account_type"),
        ({"account_type": "ADMINISTRATIVE", "every_days": 0}, "every_days"),
        ({"account_type": "ADMINISTRATIVE"}, "every_days"),
        ({"account_type": "ADMINISTRATIVE", "on_member_leave": True}, "on_member_leave"),
        ({"account_type": "SHARED", "after_checkout": True}, "after_checkout"),
    ],
)
def test_bad_policies_are_refused(pam, data, field):
    with pytest.raises(ValidationFailed) as caught:
        rotation_policy_create(actor=pam["admin"], source="console", name="x", **data)
    assert field in caught.value.fields
    assert not RotationPolicy.objects.exists()


def test_the_api_is_for_administrators(pam):
    body = {"name": "DB", "resource": "proddb", "account_type": "ADMINISTRATIVE", "every_days": 7}
    for who in ("helpdesk", "auditor", "dba1"):
        assert client_for(pam[who]).post("/api/v1/rotation-policies/", body, format="json").status_code == 403
    assert client_for(pam["auditor"]).get("/api/v1/rotation-policies/").status_code == 200
    created = client_for(pam["admin"]).post("/api/v1/rotation-policies/", body, format="json")
    assert created.status_code == 201 and created.json()["resource"] == "proddb"
    pk = created.json()["id"]
    bad = client_for(pam["admin"]).patch(f"/api/v1/rotation-policies/{pk}/", {"every_days": 0}, format="json")
    assert bad.status_code == 400
    changed = client_for(pam["admin"]).patch(
        f"/api/v1/rotation-policies/{pk}/", {"every_days": 14}, format="json"
    )
    assert changed.json()["every_days"] == 14
    rotation_policy_update(
        actor=pam["admin"], source="console", policy=RotationPolicy.objects.get(), data={"active": False}
    )
    assert client_for(pam["admin"]).delete(f"/api/v1/rotation-policies/{pk}/").status_code == 204


def test_application_accounts_rotate_after_check_out_under_a_policy(pam, run):
    app = AccountFactory(
        resource=pam["resource"],
        identifier="etl",
        owner=None,
        account_type="APPLICATION",
        responsible=pam["owner"],
    )
    secret_store(
        actor=pam["admin"],
        source="console",
        owner=None,
        kind="ACCOUNT_PASSWORD",
        name="etl",
        value=PASSWORD,
        account=app,
    )
    pam["group"].credentials.add(app)
    rotation_policy_create(
        actor=pam["admin"], source="console", name="Apps", account_type="APPLICATION", after_checkout=True
    )
    req = access_request_create(
        actor=pam["dba1"], source="workspace", account=app, reason="r", governance_code="C-1", emergency=True
    )
    assert access_reveal(actor=pam["dba1"], source="workspace", request=req) == PASSWORD
    access_requests_expire(now=req.window_end)
    assert AccessRequest.objects.get(pk=req.pk).status == AccessStatus.EXPIRED
    assert application_answers() == 1
    assert value(app) != PASSWORD


def test_rotation_policies_in_the_console(pam):
    def login(user):
        client = Client()
        client.force_login(user)
        return client

    admin = login(pam["admin"])
    form = {
        "name": "DB 30 days",
        "resource": "proddb",
        "account_type": "ADMINISTRATIVE",
        "every_days": "30",
        "active": "on",
    }
    assert admin.post("/console/privileged/rotation-policies/new/", form).status_code == 302
    policy = RotationPolicy.objects.get()
    assert policy.resource == pam["resource"] and policy.every_days == 30
    bad = admin.post(
        f"/console/privileged/rotation-policies/{policy.pk}/edit/",
        {**form, "account_type": "SHARED", "every_days": "", "active": "on"},
    )
    assert bad.status_code in (200, 400) and b"Say when to rotate" in bad.content
    for who in ("admin", "helpdesk", "auditor"):
        page = login(pam[who]).get("/console/privileged/rotation-policies/")
        assert page.status_code == 200 and b"DB 30 days" in page.content
    assert login(pam["helpdesk"]).get("/console/privileged/rotation-policies/new/").status_code == 403
    assert login(pam["dba1"]).get("/console/privileged/rotation-policies/").status_code == 403
    assert admin.post(f"/console/privileged/rotation-policies/{policy.pk}/delete/").status_code == 302
    assert not RotationPolicy.objects.exists()
