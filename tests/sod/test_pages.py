"""The SoD console pages (rules, matrix, CSV, violations, exceptions) with their denied cases,
and deciding SoD tasks from the workspace ("My tasks")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from directory.models import ConsoleRole
from requests_workflow.models import RequestStatus
from requests_workflow.services.requests import request_create
from sod.models import SoDException, SoDRule, SoDViolation, ViolationStatus
from sod.tasks import scan_violations
from tests.api.factories import UserFactory
from tests.sod.conftest import give
from worklist.models import Task, TaskKind

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_console_role_reads_the_sod_pages_and_others_are_refused(sap):
    give(sap["alice"], sap["create"])
    give(sap["alice"], sap["pay"])
    scan_violations()
    auditor = login(sap["auditor"])
    rule = sap["rule"]
    for url in (
        "/console/sod/rules/",
        f"/console/sod/rules/{rule.pk}/",
        "/console/sod/matrix/",
        "/console/sod/violations/",
        "/console/sod/exceptions/",
    ):
        page = auditor.get(url)
        assert page.status_code == 200, url
    assert "Create supplier vs approve payment" in auditor.get("/console/sod/rules/").content.decode()
    matrix = auditor.get("/console/sod/matrix/").content.decode()
    assert "Create supplier (sap)" in matrix and "p2p" in matrix
    violations = auditor.get("/console/sod/violations/").content.decode()
    assert "Approve payment (sap)" in violations and "directly" in violations
    # an auditor reads but does not change
    assert auditor.get("/console/sod/rules/new/").status_code == 403
    assert auditor.post(f"/console/sod/rules/{rule.pk}/delete/").status_code == 403
    assert auditor.post("/console/sod/violations/scan/").status_code == 403
    assert SoDRule.objects.filter(pk=rule.pk).exists()
    # someone without a console role sees nothing
    assert login(sap["bob"]).get("/console/sod/rules/").status_code == 403


def test_admin_creates_edits_exports_imports_and_deletes_rules(sap):
    admin = login(sap["admin"])
    form = {
        "code": "p2p2",
        "name": "Supplier vs reports",
        "severity": "MEDIUM",
        "owner": "cfo",
        "side_a": "entitlement:sap/vendor_create",
        "side_b": "entitlement:sap/report_view\nrole:payer",
        "active": "on",
    }
    made = admin.post("/console/sod/rules/new/", form)
    assert made.status_code == 302
    rule = SoDRule.objects.get(code="p2p2")
    assert rule.owner == sap["cfo"] and rule.items.count() == 3
    overlap = admin.post(
        f"/console/sod/rules/{rule.pk}/edit/", {**form, "side_b": "entitlement:sap/vendor_create"}
    )
    assert overlap.status_code == 200 and "must not overlap" in overlap.content.decode()
    assert rule.items.count() == 3
    export = admin.get("/console/sod/rules/?export=csv")
    text = b"".join(export.streaming_content).decode()
    assert text.splitlines()[0].startswith("code,name,severity,owner")
    assert "entitlement:sap/report_view; role:payer" in text
    upload = SimpleUploadedFile("rules.csv", text.replace("Supplier vs reports", "Renamed").encode())
    assert admin.post("/console/sod/rules/import/", {"file": upload}).status_code == 302
    assert SoDRule.objects.get(code="p2p2").name == "Renamed"
    assert admin.post(f"/console/sod/rules/{rule.pk}/delete/").status_code == 302
    assert not SoDRule.objects.filter(code="p2p2").exists()


def test_the_owner_decides_a_request_conflict_from_my_tasks_with_an_expiry(sap, run):
    give(sap["alice"], sap["create"])
    req = run(
        request_create,
        actor=sap["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=sap["alice"],
        entitlement=sap["pay"],
        justification="cover",
    )
    task = Task.objects.get(request=req, kind=TaskKind.SOD)
    cfo = login(sap["cfo"])
    page = cfo.get(f"/workspace/requests/tasks/{task.pk}/").content.decode()
    assert "Already held" in page and "Create supplier (sap)" in page and 'name="expires"' in page
    refused = cfo.post(f"/workspace/requests/tasks/{task.pk}/approve/", {"comment": "ok"})
    assert refused.status_code == 302
    req.refresh_from_db()
    assert req.status == RequestStatus.WAITING_SOD_APPROVAL  # no expiry: nothing happened
    day = (timezone.localdate() + timedelta(days=20)).isoformat()
    with_expiry = {"comment": "Cover for a month", "expires": day}
    cfo.post(f"/workspace/requests/tasks/{task.pk}/approve/", with_expiry)
    req.refresh_from_db()
    assert req.status in (RequestStatus.APPROVED, RequestStatus.FINISHED)
    exc = SoDException.objects.get()
    assert timezone.localtime(exc.expires_at).date().isoformat() == day


def test_the_owner_decides_a_detected_violation_from_my_tasks(sap):
    give(sap["alice"], sap["create"])
    give(sap["alice"], sap["pay"])
    scan_violations()
    violation = SoDViolation.objects.get()
    cfo = login(sap["cfo"])
    # My tasks sends the owner to the violation's page
    hop = cfo.get(f"/workspace/requests/tasks/{violation.task_id}/")
    assert hop.status_code == 302 and hop["Location"] == f"/workspace/sod/tasks/{violation.task_id}/"
    page = cfo.get(hop["Location"]).content.decode()
    assert "Approve payment (sap)" in page and "Create supplier (sap)" in page
    # someone else cannot see or decide it
    other = login(UserFactory(username="mallory"))
    assert other.get(hop["Location"]).status_code == 404
    day = (timezone.localdate() + timedelta(days=7)).isoformat()
    cfo.post(
        f"/workspace/sod/tasks/{violation.task_id}/approve/", {"comment": "Two-person branch", "expires": day}
    )
    violation.refresh_from_db()
    assert violation.status == ViolationStatus.ACCEPTED and violation.exception.reason == "Two-person branch"


def test_admin_revokes_an_exception_and_runs_a_scan_from_the_console(sap):
    give(sap["alice"], sap["create"])
    give(sap["alice"], sap["pay"])
    exc = SoDException.objects.create(
        rule=sap["rule"], user=sap["alice"], reason="r", expires_at=timezone.now() + timedelta(days=3)
    )
    admin = login(sap["admin"])
    admin.post("/console/sod/violations/scan/")
    assert SoDViolation.objects.get().status == ViolationStatus.ACCEPTED
    helpdesk = login(UserFactory(username="hd", console_role=ConsoleRole.HELPDESK))
    assert helpdesk.post(f"/console/sod/exceptions/{exc.pk}/revoke/").status_code == 403
    assert admin.get(f"/console/sod/exceptions/{exc.pk}/revoke/").status_code == 405
    revoked = admin.post(f"/console/sod/exceptions/{exc.pk}/revoke/", {"reason": "audit"}, follow=True)
    assert revoked.redirect_chain[-1][0] == "/console/sod/exceptions/"
    assert (
        f"Exception #{exc.pk} revoked: the next scan reports the violation again." in revoked.content.decode()
    )
    exc.refresh_from_db()
    assert exc.revoked_at is not None
    admin.post("/console/sod/violations/scan/")
    assert SoDViolation.objects.get().status == ViolationStatus.OPEN


def test_a_violation_of_a_rule_without_owner_is_decided_by_a_console_operator(sap):
    SoDRule.objects.filter(pk=sap["rule"].pk).update(owner=None)
    give(sap["alice"], sap["create"])
    give(sap["alice"], sap["pay"])
    scan_violations()
    violation = SoDViolation.objects.get()
    assert not violation.task.assignees.exists()
    admin = login(sap["admin"])
    assert "Decide" in admin.get("/console/sod/violations/").content.decode()
    assert login(sap["auditor"]).get(f"/workspace/sod/tasks/{violation.task_id}/").status_code == 404
    day = (timezone.localdate() + timedelta(days=3)).isoformat()
    admin.post(f"/workspace/sod/tasks/{violation.task_id}/reject/", {"comment": "Remove it", "expires": day})
    violation.refresh_from_db()
    assert violation.task.status == "REJECTED" and violation.status == ViolationStatus.OPEN
