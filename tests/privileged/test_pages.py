"""Console and workspace pages of privileged access: who sees what, and the flow by the pages."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from privileged.models import AccessGroup, AccessRequest, AccessStatus
from privileged.services.flow import access_request_create
from tests.privileged.conftest import PASSWORD, window
from worklist.models import Task, TaskStatus


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def test_console_pages_for_each_role(pam):
    access_request_create(
        actor=pam["dba1"],
        source="workspace",
        account=pam["postgres"],
        reason="x",
        governance_code="C-1",
        **window(),
    )
    req = AccessRequest.objects.get()
    pages = [
        "/console/privileged/groups/",
        f"/console/privileged/groups/{pam['group'].pk}/",
        "/console/privileged/requests/",
        f"/console/privileged/requests/{req.pk}/",
    ]
    for who in ("admin", "helpdesk", "auditor"):
        for url in pages:
            response = login(pam[who]).get(url)
            assert response.status_code == 200, (who, url)
    assert b"Production DBAs" in login(pam["auditor"]).get(pages[0]).content
    for url in pages + ["/console/privileged/groups/new/"]:
        assert login(pam["dba1"]).get(url).status_code == 403
    for who in ("helpdesk", "auditor"):
        assert login(pam[who]).get("/console/privileged/groups/new/").status_code == 403
    csv = login(pam["auditor"]).get("/console/privileged/requests/?export=csv&status=PENDING")
    text = b"".join(csv.streaming_content)
    assert csv.status_code == 200 and b"dba1" in text and b"postgres@proddb" in text
    assert b"dba1" not in login(pam["auditor"]).get("/console/privileged/requests/?status=EXPIRED").content


def test_an_administrator_creates_edits_and_deletes_a_group(pam):
    client = login(pam["admin"])
    form = {
        "code": "shared-ops",
        "name": "Shared ops",
        "members": "user:dba2\nrole:dba",
        "credentials": "proddb/shared-ops",
        "approval_required": "on",
        "justification_required": "on",
        "max_window_minutes": "60",
        "level1_kind": "USERS",
        "level1_mode": "ANY",
        "level1_users": "approver1",
        "active": "on",
    }
    response = client.post("/console/privileged/groups/new/", form)
    assert response.status_code == 302, response.content
    group = AccessGroup.objects.get(code="shared-ops")
    assert group.levels.get().users.get() == pam["approver1"]
    bad = client.post(f"/console/privileged/groups/{group.pk}/edit/", {**form, "credentials": "proddb/nope"})
    assert bad.status_code in (200, 400) and b"No account" in bad.content
    assert list(group.credentials.values_list("identifier", flat=True)) == ["shared-ops"]
    response = client.post(
        f"/console/privileged/groups/{group.pk}/edit/", {**form, "max_window_minutes": "30"}
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.max_window_minutes == 30
    assert client.post(f"/console/privileged/groups/{group.pk}/delete/").status_code == 302
    assert not AccessGroup.objects.filter(code="shared-ops").exists()
    assert (
        login(pam["helpdesk"]).post(f"/console/privileged/groups/{pam['group'].pk}/delete/").status_code
        == 403
    )
    assert AccessGroup.objects.filter(pk=pam["group"].pk).exists()


def test_the_flow_by_the_workspace_pages(pam, django_capture_on_commit_callbacks):
    dba = login(pam["dba1"])
    page = dba.get("/workspace/privileged/")
    assert page.status_code == 200 and b"postgres@proddb" in page.content and b"code required" in page.content
    url = f"/workspace/privileged/request/{pam['postgres'].pk}/"
    start = timezone.now() + timedelta(minutes=1)
    data = {
        "reason": "Failover test",
        "governance_code": "CHG-7",
        "window_start": local(start),
        "window_end": local(start + timedelta(hours=3)),
    }
    refused = dba.post(url, data)
    assert refused.status_code == 400 and b"longer than this credential allows" in refused.content
    assert not AccessRequest.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        sent = dba.post(url, {**data, "window_end": local(start + timedelta(hours=1))})
    assert sent.status_code == 302
    req = AccessRequest.objects.get()
    assert b"Pending" in dba.get("/workspace/privileged/requests/").content
    # the approver finds it in My approvals and in My tasks (the task page leads to the request)
    approver = login(pam["approver1"])
    assert b"Failover test" in approver.get("/workspace/privileged/approvals/").content
    task = Task.objects.get(subject_id=req.pk, status=TaskStatus.OPEN)
    assert (
        approver.get(f"/workspace/requests/tasks/{task.pk}/").url
        == f"/workspace/privileged/approvals/{req.pk}/"
    )
    assert login(pam["dba2"]).get(f"/workspace/privileged/approvals/{req.pk}/").status_code == 404
    shown = approver.get(f"/workspace/privileged/approvals/{req.pk}/")
    assert shown.status_code == 200 and b"Approve" in shown.content
    with django_capture_on_commit_callbacks(execute=True):
        approver.post(
            f"/workspace/privileged/approvals/{req.pk}/approve/",
            {"comment": "ok", "window_start": local(req.window_start), "window_end": local(req.window_end)},
        )
    req.refresh_from_db()
    assert req.level == 2
    with django_capture_on_commit_callbacks(execute=True):
        login(pam["approver2"]).post(f"/workspace/privileged/approvals/{req.pk}/approve/", {"comment": ""})
    req.refresh_from_db()
    assert req.status == AccessStatus.APPROVED
    # before the window starts the password is refused; then shown
    AccessRequest.objects.filter(pk=req.pk).update(window_start=timezone.now() - timedelta(minutes=1))
    revealed = dba.post(f"/workspace/privileged/requests/{req.pk}/reveal/")
    assert revealed.status_code == 200 and PASSWORD.encode() in revealed.content
    assert login(pam["dba2"]).post(f"/workspace/privileged/requests/{req.pk}/reveal/").status_code == 404
    # any approver revokes from My approvals
    login(pam["approver1"]).post(f"/workspace/privileged/approvals/{req.pk}/revoke/", {"comment": "done"})
    req.refresh_from_db()
    assert req.status == AccessStatus.REVOKED
    again = dba.post(f"/workspace/privileged/requests/{req.pk}/reveal/", follow=True)
    assert b"revoked" in again.content and PASSWORD.encode() not in again.content


def test_emergency_needs_a_confirmation(pam):
    dba = login(pam["dba1"])
    url = f"/workspace/privileged/request/{pam['postgres'].pk}/"
    data = {"reason": "Outage", "governance_code": "INC-9", "emergency": "on"}
    refused = dba.post(url, data)
    assert refused.status_code == 400 and b"Confirm the emergency" in refused.content
    assert not AccessRequest.objects.exists()
    assert dba.post(url, {**data, "emergency_confirmed": "on"}).status_code == 302
    req = AccessRequest.objects.get()
    assert req.emergency and req.status == AccessStatus.APPROVED
    assert b"emergency" in login(pam["auditor"]).get("/console/privileged/requests/?emergency=1").content


def test_workspace_pages_need_a_login(pam, client):
    for url in (
        "/workspace/privileged/",
        "/workspace/privileged/requests/",
        "/workspace/privileged/approvals/",
    ):
        assert client.get(url).status_code == 302
    assert (
        login(pam["stranger"]).get(f"/workspace/privileged/request/{pam['postgres'].pk}/").status_code == 404
    )
