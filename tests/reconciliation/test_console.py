"""The reconciliation console pages: every console role reads them, only administrators change
profiles, run, confirm, resolve cases or test expressions; others get 403 and nothing changes."""

from __future__ import annotations

import pytest
from django.test import Client

from directory.models import User, UserStatus
from reconciliation.models import (
    CaseStatus,
    ReconciliationCase,
    ReconciliationProfile,
    ReconciliationRun,
    RunStatus,
)
from reconciliation.services.runs import run_and_execute
from tests.api.factories import UserFactory
from tests.reconciliation.conftest import HR_HEADER, hr_profile, write

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_for_every_console_role_and_nobody_else(people, files):
    write(files / "hr.csv", HR_HEADER + "E1,Ana,Souza,ana@corp.test,Sales,Rep\nE1,dup\n")
    profile = hr_profile(people["admin"])
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    auditor = login(people["auditor"])
    for url in (
        "/console/reconciliation/profiles/",
        f"/console/reconciliation/profiles/{profile.pk}/",
        "/console/reconciliation/runs/",
        f"/console/reconciliation/runs/{run.pk}/",
        "/console/reconciliation/cases/",
    ):
        assert auditor.get(url).status_code == 200, url
    page = auditor.get(f"/console/reconciliation/runs/{run.pk}/").content.decode()
    assert "Entry found" in page and "Expected 6 columns, found 2." in page
    detail = auditor.get(f"/console/reconciliation/profiles/{profile.pk}/").content.decode()
    assert "attributes.employee_id" in detail and "Run now" not in detail
    workspace_only = login(UserFactory(username="plain"))
    assert workspace_only.get("/console/reconciliation/profiles/").status_code == 403
    assert Client().get("/console/reconciliation/profiles/").status_code == 302


def test_create_edit_and_delete_a_profile_from_the_console(people, files):
    admin, helpdesk = login(people["admin"]), login(people["helpdesk"])
    form = {
        "code": "hr2", "name": "HR two", "kind": "USERS", "source_type": "csv",
        "source_settings": '{"file": "hr.csv"}', "key_field": "employee_id",
        "rules": "attributes.employee_id EQUALS {[employee_id]}",
        "mappings": "first_name = {[first_name]}\nlast_name = {[last_name]}\nusername := lower(first_name) + '.' + lower(last_name)\ndepartment = Sales",
        "safety_share": "5", "max_row_errors": "10", "schedule": "0 2 * * *", "active": "on",
    }  # fmt: skip
    assert helpdesk.post("/console/reconciliation/profiles/new/", form).status_code == 403
    assert not ReconciliationProfile.objects.exists()
    bad = admin.post("/console/reconciliation/profiles/new/", {**form, "schedule": "every day"})
    assert bad.status_code == 200 and "A schedule has five fields" in bad.content.decode()
    saved = admin.post("/console/reconciliation/profiles/new/", form)
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    profile = ReconciliationProfile.objects.get(code="hr2")
    modes = {m.target: m.mode for m in profile.mappings.all()}
    assert modes == {
        "first_name": "FIELD",
        "last_name": "FIELD",
        "username": "EXPRESSION",
        "department": "STATIC",
    }
    edit = admin.get(f"/console/reconciliation/profiles/{profile.pk}/edit/").content.decode()
    assert "When: In the directory, not in the source" in edit
    changed = admin.post(
        f"/console/reconciliation/profiles/{profile.pk}/edit/",
        {
            **form,
            "action_FOUND": "UPDATE",
            "action_NOT_FOUND": "IGNORE",
            "action_CONFLICT": "MANUAL",
            "action_MISSING": "REVOKE",
        },
    )
    assert changed.status_code == 302
    assert {a.situation: a.action for a in profile.actions.all()}["NOT_FOUND"] == "IGNORE"
    assert helpdesk.post(f"/console/reconciliation/profiles/{profile.pk}/delete/").status_code == 403
    assert admin.post(f"/console/reconciliation/profiles/{profile.pk}/delete/").status_code == 302
    assert not ReconciliationProfile.objects.exists()


def test_run_now_dry_run_and_confirm_from_the_console(people, files, django_capture_on_commit_callbacks):
    write(files / "hr.csv", HR_HEADER)
    profile = hr_profile(people["admin"])
    profile.links.create(key="E2", user=people["bruno"])
    admin, auditor = login(people["admin"]), login(people["auditor"])
    assert auditor.post(f"/console/reconciliation/profiles/{profile.pk}/run/").status_code == 403
    assert not ReconciliationRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        dry = admin.post(f"/console/reconciliation/profiles/{profile.pk}/run/", {"dry_run": "1"})
    run = ReconciliationRun.objects.get()
    assert dry.url == f"/console/reconciliation/runs/{run.pk}/" and run.dry_run
    assert "Nothing was changed" in admin.get(dry.url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(f"/console/reconciliation/profiles/{profile.pk}/run/")
    run = ReconciliationRun.objects.latest("pk")
    assert run.status == RunStatus.WAITING_CONFIRMATION
    page = admin.get(f"/console/reconciliation/runs/{run.pk}/").content.decode()
    assert "Confirm and apply" in page and "safety limit" in page
    assert auditor.post(f"/console/reconciliation/runs/{run.pk}/confirm/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(f"/console/reconciliation/runs/{run.pk}/confirm/")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert User.objects.get(username="bruno.lima").status == UserStatus.INACTIVE


def test_resolve_a_case_and_test_an_expression(people, files):
    write(files / "hr.csv", HR_HEADER + "E30,Nova,Pessoa,nova@corp.test,IT,Dev\n")
    profile = hr_profile(people["admin"], actions={"NOT_FOUND": "MANUAL"})
    run_and_execute(actor=people["admin"], source="console", profile=profile)
    case = ReconciliationCase.objects.get()
    admin, auditor = login(people["admin"]), login(people["auditor"])
    page = auditor.get(f"/console/reconciliation/cases/{case.pk}/").content.decode()
    assert "Nova" in page and "Create the user" not in page  # read-only for the auditor
    assert "Create the user" in admin.get(f"/console/reconciliation/cases/{case.pk}/").content.decode()
    assert (
        auditor.post(
            f"/console/reconciliation/cases/{case.pk}/resolve/", {"resolution": "create"}
        ).status_code
        == 403
    )
    done = admin.post(f"/console/reconciliation/cases/{case.pk}/resolve/", {"resolution": "create"})
    assert done.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.RESOLVED and User.objects.filter(attributes__employee_id="E30").exists()
    url = f"/console/reconciliation/profiles/{profile.pk}/test-expression/"
    sample = "first_name,last_name\nJosé,Araújo\n"
    assert auditor.post(url, {"expression": "lower(first_name)", "sample": sample}).status_code == 403
    ok = admin.post(
        url, {"expression": "lower(ascii(first_name)) + '.' + lower(ascii(last_name))", "sample": sample}
    )
    assert "jose.araujo" in ok.content.decode()
    bad = admin.post(url, {"expression": "first_name.__class__", "sample": sample})
    assert bad.status_code == 400 and "Not allowed in an expression" in bad.content.decode()


def test_the_task_lists_name_the_case_and_its_page_leads_to_it(people, files):
    write(files / "hr.csv", HR_HEADER + "E31,Nova,Pessoa,nova@corp.test,IT,Dev\n")
    profile = hr_profile(people["admin"], actions={"NOT_FOUND": "MANUAL"})
    run_and_execute(actor=people["admin"], source="console", profile=profile)
    case = ReconciliationCase.objects.get()
    admin = login(people["admin"])
    mine = admin.get("/workspace/requests/tasks/")
    assert mine.status_code == 200 and "HR export: entry not found — E31" in mine.content.decode()
    page = admin.get(f"/workspace/requests/tasks/{case.task_id}/")
    assert page.status_code == 302 and page.url == f"/console/reconciliation/cases/{case.pk}/"
    queues = admin.get("/console/requests/queues/")
    assert queues.status_code == 200
