"""The role-change approval flow (seed 004): the role owner's approval, the SoD check of the added
items against the members, the access owners' approval and the conflicts with the role's own
items, each switchable; a denial leaves the role unchanged; approved changes are fanned out.
Decided through the worklist (services, My tasks, /api/v1/tasks/) and shown on the change's page
and in /api/v1/role-changes/."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed
from directory.models import ConsoleRole, EntitlementMembership, RoleChangeStatus, RoleEntitlement
from directory.services import access
from sod.models import RoleChangeStep
from tests.api.factories import RoleFactory, UserFactory
from tests.sod.conftest import give
from worklist.models import Task, TaskKind, TaskStatus
from worklist.services import task_decide

pytestmark = pytest.mark.django_db
W = RoleChangeStatus


def holds(user, ent):
    return EntitlementMembership.objects.filter(account__owner=user, entitlement=ent).exists()


def add(run, sap, role, ent, actor=None):
    return run(
        access.role_change_submit,
        actor=actor or sap["admin"],
        source="console",
        role=role,
        action="ADD",
        entitlement=ent,
    )


def steps(change):
    return {s.kind: s.status for s in RoleChangeStep.objects.filter(role_change=change)}


@pytest.fixture
def owned(sap, run):
    """A role with an owner and one member (bob), holding nothing yet."""
    sap["rowner"] = UserFactory(username="rowner")
    role = RoleFactory(code="reports", name="Reporting", owner=sap["rowner"])
    run(access.role_grant, actor=sap["admin"], source="console", user=sap["bob"], role=role)
    sap["reports"] = role
    return sap


def test_owner_approves_then_the_change_is_fanned_out(owned, run):
    change = add(run, owned, owned["reports"], owned["other"])
    assert change.status == W.WAITING
    assert not holds(owned["bob"], owned["other"])
    assert not RoleEntitlement.objects.filter(role=owned["reports"]).exists()
    (task,) = Task.objects.filter(kind=TaskKind.ROLE_CHANGE, status=TaskStatus.OPEN)
    assert list(task.assignees.all()) == [owned["rowner"]]
    assert task.subject == change
    run(task_decide, actor=owned["rowner"], source="workspace", task=task, decision="approve", comment="ok")
    change.refresh_from_db()
    assert change.status == W.DONE
    assert holds(owned["bob"], owned["other"])
    assert steps(change) == {
        "OWNER": "APPROVED",
        "SOD": "SKIPPED",
        "ACCESS_OWNER": "SKIPPED",
        "INTRA_ROLE": "SKIPPED",
    }
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"role.change_step_opened", "role.change_step_approved", "role.change_applied"} <= actions


def test_owner_rejects_and_the_role_is_unchanged(owned, run):
    change = add(run, owned, owned["reports"], owned["other"])
    task = Task.objects.get(kind=TaskKind.ROLE_CHANGE)
    run(task_decide, actor=owned["rowner"], source="api", task=task, decision="reject", comment="not now")
    change.refresh_from_db()
    assert change.status == W.REJECTED
    assert "not now" in change.error
    assert not RoleEntitlement.objects.filter(role=owned["reports"]).exists()
    assert not holds(owned["bob"], owned["other"])
    assert steps(change) == {"OWNER": "REJECTED"}
    assert AuditEvent.objects.filter(action="role.change_rejected").exists()
    # the same change may be asked again (the denied one is over)
    again = add(run, owned, owned["reports"], owned["other"])
    assert again.status == W.WAITING


def test_a_removal_also_waits_for_the_owner(owned, run):
    RoleEntitlement.objects.create(role=owned["reports"], entitlement=owned["other"])
    change = run(
        access.role_change_submit,
        actor=owned["admin"],
        source="console",
        role=owned["reports"],
        action="REMOVE",
        entitlement=owned["other"],
    )
    assert change.status == W.WAITING and steps(change) == {"OWNER": "WAITING"}
    assert RoleEntitlement.objects.filter(role=owned["reports"], entitlement=owned["other"]).exists()


def test_the_owner_asking_passes_the_owner_step(owned, run):
    change = add(run, owned, owned["reports"], owned["other"], actor=owned["rowner"])
    assert change.status == W.DONE
    assert steps(change)["OWNER"] == "APPROVED"
    assert holds(owned["bob"], owned["other"])


def test_sod_conflict_of_a_member_waits_for_the_rule_owner(sap, run, client):
    give(sap["alice"], sap["create"])  # alice creates suppliers
    clerks = RoleFactory(code="clerks", name="Clerks")
    run(access.role_grant, actor=sap["admin"], source="console", user=sap["alice"], role=clerks)
    change = add(run, sap, clerks, sap["pay"])
    assert change.status == W.WAITING
    step = RoleChangeStep.objects.get(role_change=change, kind="SOD")
    assert step.status == "WAITING"
    (conflict,) = step.detail["conflicts"]
    assert (conflict["rule"], conflict["users"], conflict["usernames"]) == ("p2p", 1, ["alice"])
    assert list(step.task.assignees.all()) == [sap["cfo"]]
    assert not holds(sap["alice"], sap["pay"])
    client.force_login(sap["cfo"])  # the rule owner sees the conflict on the task's page
    html = client.get(f"/workspace/requests/tasks/{step.task.pk}/").content.decode()
    assert "Create supplier vs approve payment" in html and "1 member would hold both sides (alice)" in html
    run(
        task_decide,
        actor=sap["cfo"],
        source="workspace",
        task=step.task,
        decision="approve",
        comment="accepted",
    )
    change.refresh_from_db()
    assert change.status == W.DONE and holds(sap["alice"], sap["pay"])


def test_sod_conflict_on_a_rule_without_owner_denies_the_change(sap, run):
    sap["rule"].owner = None
    sap["rule"].save()
    give(sap["alice"], sap["create"])
    clerks = RoleFactory(code="clerks", name="Clerks")
    run(access.role_grant, actor=sap["admin"], source="console", user=sap["alice"], role=clerks)
    change = add(run, sap, clerks, sap["pay"])
    assert change.status == W.REJECTED
    assert "without an owner" in change.error
    assert not RoleEntitlement.objects.filter(role=clerks).exists()
    assert not Task.objects.filter(kind=TaskKind.ROLE_CHANGE).exists()


def test_access_owner_approves_the_added_entitlement(sap, run):
    owner = UserFactory(username="sapowner")
    sap["other"].owner = owner
    sap["other"].save()
    role = RoleFactory(code="viewers", name="Viewers")
    run(access.role_grant, actor=sap["admin"], source="console", user=sap["bob"], role=role)
    change = add(run, sap, role, sap["other"])
    step = RoleChangeStep.objects.get(role_change=change, kind="ACCESS_OWNER")
    assert step.status == "WAITING" and list(step.approvers.all()) == [owner]
    with pytest.raises(NotAllowed):  # only the step's approvers decide
        task_decide(actor=sap["cfo"], source="api", task=step.task, decision="approve")
    run(task_decide, actor=owner, source="api", task=step.task, decision="approve")
    change.refresh_from_db()
    assert change.status == W.DONE and holds(sap["bob"], sap["other"])


def test_intra_role_conflict_rejected_by_the_rule_owner(sap, run):
    # payer already gives "approve payment"; adding "create supplier" puts both sides in one role
    change = add(run, sap, sap["payer"], sap["create"])
    step = RoleChangeStep.objects.get(role_change=change, kind="INTRA_ROLE")
    assert step.status == "WAITING"
    # the rule names the entitlement and the role itself on the other side
    assert step.detail["conflicts"][0]["role_items"] == ["Approve payment (sap)", "role Payments clerk"]
    run(task_decide, actor=sap["cfo"], source="api", task=step.task, decision="reject", comment="never")
    change.refresh_from_db()
    assert change.status == W.REJECTED
    assert not RoleEntitlement.objects.filter(role=sap["payer"], entitlement=sap["create"]).exists()


def test_every_step_off_applies_at_once(owned, run, settings):
    settings.BLAZON_ROLE_CHANGE_OWNER_APPROVAL = False
    settings.BLAZON_ROLE_CHANGE_SOD_CHECK = False
    settings.BLAZON_ROLE_CHANGE_ACCESS_OWNER_APPROVAL = False
    settings.BLAZON_ROLE_CHANGE_INTRA_ROLE_CHECK = False
    change = add(run, owned, owned["reports"], owned["other"])
    assert change.status == W.DONE and holds(owned["bob"], owned["other"])
    assert not RoleChangeStep.objects.exists() and not Task.objects.exists()
    # the intra-role conflict is not checked either
    change = add(run, owned, owned["payer"], owned["create"])
    assert change.status == W.DONE


def test_requester_and_strangers_may_not_decide(owned, run):
    change = add(run, owned, owned["reports"], owned["other"], actor=owned["admin"])
    task = Task.objects.get(kind=TaskKind.ROLE_CHANGE)
    for who in (owned["admin"], owned["bob"]):
        with pytest.raises(NotAllowed):
            task_decide(actor=who, source="api", task=task, decision="approve")
    change.refresh_from_db()
    assert change.status == W.WAITING


def test_api_shows_steps_and_decides_through_tasks(owned, run, django_capture_on_commit_callbacks):
    change = add(run, owned, owned["reports"], owned["other"])
    task = Task.objects.get(kind=TaskKind.ROLE_CHANGE)
    admin = APIClient()
    admin.force_authenticate(owned["admin"])
    body = admin.get(f"/api/v1/role-changes/{change.pk}/").json()
    assert body["status"] == "WAITING"
    assert [(s["kind"], s["status"], s["approvers"]) for s in body["approval_steps"]] == [
        ("OWNER", "WAITING", ["rowner"])
    ]
    listed = admin.get("/api/v1/role-changes/").json()["results"]
    assert listed[0]["approval_steps"][0]["task"] == task.pk
    stranger = APIClient()
    stranger.force_authenticate(owned["bob"])
    assert stranger.post(f"/api/v1/tasks/{task.pk}/approve/", {}, format="json").status_code in (403, 404)
    assert stranger.get("/api/v1/role-changes/").status_code == 403
    # /api/v1/tasks/ is for users with a console role; the owner is an auditor here
    owned["rowner"].console_role = ConsoleRole.AUDITOR
    owned["rowner"].save()
    owner = APIClient()
    owner.force_authenticate(owned["rowner"])
    with django_capture_on_commit_callbacks(execute=True):
        answer = owner.post(f"/api/v1/tasks/{task.pk}/approve/", {"comment": "fine"}, format="json")
    assert answer.status_code == 200
    change.refresh_from_db()
    assert change.status == W.DONE and holds(owned["bob"], owned["other"])
    body = admin.get(f"/api/v1/role-changes/{change.pk}/").json()
    assert body["approval_steps"][0]["decided_by"] == "rowner"
    assert body["approval_steps"][0]["comment"] == "fine"


def test_console_page_shows_the_steps_and_my_tasks_decides(owned, run):
    change = add(run, owned, owned["reports"], owned["other"])
    task = Task.objects.get(kind=TaskKind.ROLE_CHANGE)
    admin = Client()
    admin.force_login(owned["admin"])
    page = admin.get(f"/console/roles/{owned['reports'].pk}/changes/{change.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Approval steps" in html and "waiting for rowner" in html
    assert "Waiting for approval" in html
    plain = Client()
    plain.force_login(owned["bob"])
    assert plain.get(f"/console/roles/{owned['reports'].pk}/changes/{change.pk}/").status_code in (302, 403)
    assert plain.post(f"/workspace/requests/tasks/{task.pk}/approve/").status_code in (403, 404)
    owner = Client()
    owner.force_login(owned["rowner"])
    assert owner.get("/workspace/requests/tasks/").status_code == 200
    task_page = owner.get(f"/workspace/requests/tasks/{task.pk}/")
    assert task_page.status_code == 200
    html = task_page.content.decode()
    assert "Role owner&#x27;s approval: role change #" in html and "Reporting" in html
    assert "Memberships to create" in html  # what it does to the members
    answer = owner.post(f"/workspace/requests/tasks/{task.pk}/reject/", {"comment": "no"})
    assert answer.status_code == 302
    change.refresh_from_db()
    assert change.status == W.REJECTED
    html = admin.get(f"/console/roles/{owned['reports'].pk}/changes/{change.pk}/").content.decode()
    assert "The change was denied" in html and "no" in html


def test_the_approver_is_emailed_a_link_to_the_task(owned, run, mailoutbox):
    owned["rowner"].email = "rowner@example.com"
    owned["rowner"].save()
    change = add(run, owned, owned["reports"], owned["other"])
    task = Task.objects.get(kind=TaskKind.ROLE_CHANGE)
    (mail,) = [m for m in mailoutbox if m.to == ["rowner@example.com"]]
    assert mail.subject == f"Role change to approve: Reporting (change #{change.pk})"
    assert f"/workspace/requests/tasks/{task.pk}/" in mail.body and "Waiting for the role owner." in mail.body
