"""The reconciliation API: profiles (CRUD, administrators only, audited, secrets never shown
back) and runs (start in the background, read progress and result, confirm a stopped run),
with the denied cases."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from directory.models import User, UserStatus
from reconciliation.models import ReconciliationProfile, RunStatus
from tests.api.helpers import assert_error, client_for
from tests.reconciliation.conftest import HR_HEADER, hr_profile, write

pytestmark = pytest.mark.django_db
PROFILE = {
    "code": "hr-api",
    "name": "HR by API",
    "kind": "USERS",
    "source_type": "csv",
    "source_settings": {"file": "hr.csv"},
    "key_field": "employee_id",
    "rules": [{"attribute": "attributes.employee_id", "value": "{[employee_id]}"}],
    "mappings": [
        {"target": "first_name", "mode": "FIELD", "value": "{[first_name]}"},
        {"target": "last_name", "mode": "FIELD", "value": "{[last_name]}"},
        {"target": "attributes.employee_id", "mode": "FIELD", "value": "{[employee_id]}"},
    ],
    "actions": {"MISSING": "REVOKE"},
}


def test_profile_crud_is_audited_and_for_administrators_only(people, files):
    admin, auditor, helpdesk = (client_for(people[k]) for k in ("admin", "auditor", "helpdesk"))
    assert_error(auditor.post("/api/v1/reconciliation-profiles/", PROFILE, format="json"), 403)
    assert_error(helpdesk.post("/api/v1/reconciliation-profiles/", PROFILE, format="json"), 403)
    created = admin.post("/api/v1/reconciliation-profiles/", PROFILE, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["actions"]["MISSING"] == "REVOKE" and body["actions"]["FOUND"] == "UPDATE"
    assert body["rules"] == [
        {
            "target": "OBJECT",
            "attribute": "attributes.employee_id",
            "operator": "EQUALS",
            "value": "{[employee_id]}",
        }
    ]
    pk = body["id"]
    assert auditor.get(f"/api/v1/reconciliation-profiles/{pk}/").json()["code"] == "hr-api"
    assert_error(auditor.patch(f"/api/v1/reconciliation-profiles/{pk}/", {"name": "x"}, format="json"), 403)
    changed = admin.patch(f"/api/v1/reconciliation-profiles/{pk}/", {"safety_share": "10"}, format="json")
    assert changed.status_code == 200 and changed.json()["safety_share"] == "10.00"
    update = AuditEvent.objects.filter(action="reconciliation_profile.update").latest("seq")
    assert set(update.new_values) == {"safety_share"} and update.actor == people["admin"]
    assert_error(auditor.delete(f"/api/v1/reconciliation-profiles/{pk}/"), 403)
    assert admin.delete(f"/api/v1/reconciliation-profiles/{pk}/").status_code == 204
    assert not ReconciliationProfile.objects.filter(pk=pk).exists()
    assert AuditEvent.objects.filter(action="reconciliation_profile.delete").exists()


def test_bad_profiles_are_clear_400s(people, files):
    admin = client_for(people["admin"])
    bad = {**PROFILE, "actions": {"MISSING": "CREATE"}}
    error = assert_error(admin.post("/api/v1/reconciliation-profiles/", bad, format="json"), 400)
    assert "MISSING: the action is one of INACTIVATE, REVOKE, MANUAL, IGNORE." in error["fields"]["actions"]
    bad = {**PROFILE, "mappings": [{"target": "username", "mode": "EXPRESSION", "value": "first_name +"}]}
    error = assert_error(admin.post("/api/v1/reconciliation-profiles/", bad, format="json"), 400)
    assert error["fields"]["mappings"][0].startswith("username: The expression is not valid")
    bad = {**PROFILE, "source_settings": {"file": "../../etc/passwd"}}
    assert_error(admin.post("/api/v1/reconciliation-profiles/", bad, format="json"), 400)
    bad = {**PROFILE, "schedule": "61 * * * *"}
    error = assert_error(admin.post("/api/v1/reconciliation-profiles/", bad, format="json"), 400)
    assert error["fields"]["schedule"] == ["minute: '61' is outside 0-59."]
    assert not ReconciliationProfile.objects.exists()


def test_secret_settings_are_never_shown_back(people, files):
    admin = client_for(people["admin"])
    body = {**PROFILE, "code": "crm", "kind": "USERS", "source_type": "sql", "source_settings": {"schema": "x"},
            "secret_settings": {"dsn": "postgresql://u:topsecret@db/app"}}  # fmt: skip
    created = admin.post("/api/v1/reconciliation-profiles/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["vault_held_settings"] == ["dsn"]
    assert "topsecret" not in created.content.decode()
    assert (
        "topsecret"
        not in admin.get(f"/api/v1/reconciliation-profiles/{created.json()['id']}/").content.decode()
    )


def test_runs_start_show_progress_and_confirm(people, files, django_capture_on_commit_callbacks):
    write(files / "hr.csv", HR_HEADER + "E1,Ana,Souza,ana@corp.test,Sales,Rep\n")
    profile = hr_profile(people["admin"])
    profile.links.create(key="E2", user=people["bruno"])
    profile.links.create(key="E3", user=people["carla"])
    admin, auditor = client_for(people["admin"]), client_for(people["auditor"])
    assert_error(auditor.post("/api/v1/reconciliation-runs/", {"profile": "hr"}, format="json"), 403)
    with django_capture_on_commit_callbacks(execute=True):
        started = admin.post(
            "/api/v1/reconciliation-runs/", {"profile": "hr", "dry_run": True}, format="json"
        )
    assert started.status_code == 202, started.content
    dry = auditor.get(f"/api/v1/reconciliation-runs/{started.json()['id']}/").json()
    assert dry["status"] == "SUCCEEDED" and dry["dry_run"] is True
    assert dry["situations"] == {"FOUND": 1, "MISSING": 2} and dry["actions"]["INACTIVATE"] == 2
    with django_capture_on_commit_callbacks(execute=True):
        started = admin.post("/api/v1/reconciliation-runs/", {"profile": "hr"}, format="json")
    run_id = started.json()["id"]
    waiting = auditor.get(f"/api/v1/reconciliation-runs/{run_id}/").json()
    assert waiting["status"] == "WAITING_CONFIRMATION" and waiting["destructive"] == 2
    assert_error(auditor.post(f"/api/v1/reconciliation-runs/{run_id}/confirm/"), 403)
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = admin.post(f"/api/v1/reconciliation-runs/{run_id}/confirm/")
    assert confirmed.status_code == 202
    done = auditor.get(f"/api/v1/reconciliation-runs/{run_id}/").json()
    assert done["status"] == RunStatus.SUCCEEDED and done["progress"] == 100
    assert set(User.objects.filter(status=UserStatus.INACTIVE).values_list("username", flat=True)) == {
        "bruno.lima",
        "carla.dias",
    }
    assert_error(admin.post(f"/api/v1/reconciliation-runs/{run_id}/confirm/"), 409)
    listed = auditor.get("/api/v1/reconciliation-runs/?profile=" + str(profile.pk)).json()
    assert [r["id"] for r in listed["results"]][:1] == [run_id]


def test_a_run_cannot_start_twice(people, files, django_capture_on_commit_callbacks):
    write(files / "hr.csv", HR_HEADER)
    profile = hr_profile(people["admin"])
    profile.links.create(key="E2", user=people["bruno"])
    admin = client_for(people["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        admin.post("/api/v1/reconciliation-runs/", {"profile": "hr"}, format="json")
    assert_error(
        admin.post("/api/v1/reconciliation-runs/", {"profile": "hr"}, format="json"), 409, "run_busy"
    )
