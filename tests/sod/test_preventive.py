"""Preventive SoD through real requests: the conflict stops the request in WAITING_SOD_APPROVAL
with a task for the rule's owner; approving grants an exception and the access; rejecting
rejects the request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed, ValidationFailed
from directory.models import EntitlementMembership, RoleMembership
from requests_workflow.models import RequestStatus
from requests_workflow.services.requests import request_create
from sod.models import SoDException, SoDRequestConflict
from sod.services import sod_check_requests
from tests.sod.conftest import give
from worklist.models import Task, TaskKind, TaskStatus
from worklist.services import task_decide

pytestmark = pytest.mark.django_db
R = RequestStatus


def ask(run, w, *, who=None, **kw):
    who = who or w["alice"]
    return run(
        request_create,
        actor=who,
        source="workspace",
        beneficiary=who,
        justification="month-end",
        **kw,
    )


def holds(user, ent):
    return EntitlementMembership.objects.filter(account__owner=user, entitlement=ent).exists()


def test_a_conflicting_grant_waits_for_the_rule_owner_who_sees_how_the_other_side_is_held(sap, run):
    give(sap["alice"], sap["create"])
    req = ask(run, sap, request_type="GRANT_ENTITLEMENT", entitlement=sap["pay"])
    assert req.status == R.WAITING_SOD_APPROVAL
    assert not holds(sap["alice"], sap["pay"])
    (task,) = Task.objects.filter(request=req, kind=TaskKind.SOD)
    assert list(task.assignees.all()) == [sap["cfo"]]
    assert "Create supplier vs approve payment" in task.title
    conflict = SoDRequestConflict.objects.get(task=task)
    assert [r["label"] for r in conflict.requested] == ["Approve payment (sap)"]
    assert conflict.held[0]["label"] == "Create supplier (sap)"
    assert conflict.held[0]["how"] == ["directly"]
    messages = list(req.events.values_list("message", flat=True))
    assert any("already holds Create supplier (sap) (directly)" in m for m in messages)
    assert AuditEvent.objects.filter(action="sod_conflict.found").count() == 1


def test_approving_needs_reason_and_expiry_then_grants_an_exception_and_the_access(sap, run):
    give(sap["alice"], sap["create"])
    req = ask(run, sap, request_type="GRANT_ENTITLEMENT", entitlement=sap["pay"])
    task = Task.objects.get(request=req, kind=TaskKind.SOD)
    with pytest.raises(ValidationFailed) as missing:
        task_decide(actor=sap["cfo"], source="api", task=task, decision="approve", comment="")
    assert set(missing.value.fields) == {"reason", "expires_at"}
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and not SoDException.objects.exists()
    with pytest.raises(NotAllowed):  # the beneficiary never decides their own conflict
        task_decide(
            actor=sap["alice"],
            source="api",
            task=task,
            decision="approve",
            comment="x",
            exception_expires_at=timezone.now() + timedelta(days=30),
        )
    expiry = timezone.now() + timedelta(days=30)
    run(
        task_decide,
        actor=sap["cfo"],
        source="workspace",
        task=task,
        decision="approve",
        comment="Interim cover while Bob is away",
        exception_expires_at=expiry,
    )
    req.refresh_from_db()
    assert req.status == R.FINISHED
    assert holds(sap["alice"], sap["pay"])
    exc = SoDException.objects.get()
    assert (exc.rule, exc.user, exc.request_id, exc.reason) == (
        sap["rule"],
        sap["alice"],
        req.pk,
        "Interim cover while Bob is away",
    )
    assert exc.valid
    # with the exception, a further conflicting request of the same rule goes through
    req2 = ask(run, sap, request_type="GRANT_ROLE", role=sap["payer"])
    assert req2.status == R.FINISHED


def test_rejecting_rejects_the_request_and_grants_nothing(sap, run):
    give(sap["alice"], sap["create"])
    req = ask(run, sap, request_type="GRANT_ENTITLEMENT", entitlement=sap["pay"])
    task = Task.objects.get(request=req, kind=TaskKind.SOD)
    run(task_decide, actor=sap["cfo"], source="workspace", task=task, decision="reject", comment="No.")
    req.refresh_from_db()
    assert req.status == R.REJECTED
    assert not holds(sap["alice"], sap["pay"]) and not SoDException.objects.exists()


def test_a_role_brings_the_other_side_and_holding_it_via_a_role_is_named(sap, run):
    # the role brings "Approve payment": asking for it conflicts with a direct "Create supplier"
    give(sap["alice"], sap["create"])
    req = ask(run, sap, request_type="GRANT_ROLE", role=sap["payer"])
    assert req.status == R.WAITING_SOD_APPROVAL
    assert not RoleMembership.objects.filter(user=sap["alice"], role=sap["payer"]).exists()
    conflict = SoDRequestConflict.objects.get(request=req)
    assert {r["label"] for r in conflict.requested} == {"role Payments clerk", "Approve payment (sap)"}
    # bob holds the payer role; asking for Create supplier names the role as the other side
    from directory.services import access

    access.role_grant(actor=None, source="console", user=sap["bob"], role=sap["payer"])
    req_b = ask(run, sap, who=sap["bob"], request_type="GRANT_ENTITLEMENT", entitlement=sap["create"])
    assert req_b.status == R.WAITING_SOD_APPROVAL
    held = SoDRequestConflict.objects.get(request=req_b).held
    how = {h["label"]: h["how"] for h in held}
    assert "via role Payments clerk" in how["Approve payment (sap)"]
    assert how["role Payments clerk"] == ["directly (role member)"]


def test_no_conflict_and_inactive_rules_let_requests_through(sap, run):
    req = ask(run, sap, request_type="GRANT_ENTITLEMENT", entitlement=sap["pay"])
    assert req.status == R.FINISHED
    sap["rule"].active = False
    sap["rule"].save()
    req2 = ask(run, sap, request_type="GRANT_ENTITLEMENT", entitlement=sap["create"])
    assert req2.status == R.FINISHED


def test_batch_check_loads_rules_once_and_counts_requests_of_one_batch_together(
    sap, django_assert_max_num_queries
):
    from requests_workflow.models import Request

    users = [sap["alice"], sap["bob"]]
    reqs = []
    for user in users:
        for ent in (sap["create"], sap["pay"], sap["other"]):
            reqs.append(
                Request.objects.create(
                    type="GRANT_ENTITLEMENT",
                    requester=user,
                    beneficiary=user,
                    source="import",
                    entitlement=ent,
                )
            )
    with django_assert_max_num_queries(12):
        conflicts = sod_check_requests(reqs)
    flagged = {pk for pk, found in conflicts.items() if found}
    # the second side asked for in the same batch conflicts with the first
    assert flagged == {reqs[1].pk, reqs[4].pk}
    assert f"request #{reqs[0].pk} of the same batch" in conflicts[reqs[1].pk][0].conflicting_with[0]


def test_the_import_batch_path_stops_a_conflict_and_the_rest_goes_on(sap, run):
    from requests_workflow.models import Request
    from requests_workflow.services.bulk import requests_process_many

    give(sap["alice"], sap["create"])

    def new(user, ent):
        return Request.objects.create(
            type="GRANT_ENTITLEMENT",
            requester=sap["admin"],
            beneficiary=user,
            source="import",
            entitlement=ent,
            justification="bulk",
            stage=2,
        )

    clash = new(sap["alice"], sap["pay"])  # alice already holds the other side
    fine = new(sap["alice"], sap["other"])
    first, second = new(sap["bob"], sap["create"]), new(sap["bob"], sap["pay"])  # both sides in one batch
    run(requests_process_many, request_ids=[clash.pk, fine.pk, first.pk, second.pk])
    status = {r.pk: r.status for r in Request.objects.filter(pk__in=[clash.pk, fine.pk, first.pk, second.pk])}
    assert status[clash.pk] == R.WAITING_SOD_APPROVAL
    assert status[fine.pk] == R.FINISHED and status[first.pk] == R.FINISHED
    assert status[second.pk] == R.WAITING_SOD_APPROVAL
    assert not holds(sap["bob"], sap["pay"]) and not holds(sap["alice"], sap["pay"])
    assert Task.objects.filter(kind=TaskKind.SOD, status=TaskStatus.OPEN).count() == 2


def test_the_rule_owner_is_emailed_a_link_to_the_request_sod_task(sap, run, mailoutbox):
    sap["cfo"].email = "cfo@example.com"
    sap["cfo"].save()
    give(sap["alice"], sap["create"])
    req = ask(run, sap, request_type="GRANT_ENTITLEMENT", entitlement=sap["pay"])
    task = Task.objects.get(request=req, kind=TaskKind.SOD)
    (mail,) = [m for m in mailoutbox if m.to == ["cfo@example.com"]]
    assert mail.subject == f"SoD decision needed: Create supplier vs approve payment (request #{req.pk})"
    assert (
        f"/workspace/requests/tasks/{task.pk}/" in mail.body
        and "Create supplier (sap) (directly)" in mail.body
    )
