"""Stage 3: approval policies (matching, levels, ANY/ALL, who may decide, period changes) and
the SoD stage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed, TransitionNotAllowed, ValidationFailed
from directory.models import EntitlementMembership, RoleMembership
from requests_workflow.models import RequestStatus
from requests_workflow.services.approvals import approval_policy_match, task_approve, task_reject
from requests_workflow.services.requests import request_create
from tests.api.factories import UserFactory
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory, QueueFactory
from worklist.models import Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db
R = RequestStatus


def grant(run, c, *, actor=None, **kw):
    return run(
        request_create,
        actor=actor or c["alice"],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=c["alice"],
        entitlement=c["ent"],
        justification="month-end close",
        **kw,
    )


def open_tasks(req):
    return list(Task.objects.filter(request=req, status=TaskStatus.OPEN).order_by("id"))


def holds(c):
    return EntitlementMembership.objects.filter(account__owner=c["alice"], entitlement=c["ent"]).exists()


def test_manager_then_owner_levels_run_in_order(company, run):
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, position=1, approver_kind="MANAGER")
    ApprovalLevelFactory(policy=policy, position=2, approver_kind="OWNER")
    req = grant(run, company)
    assert req.status == R.WAITING_APPROVAL
    (first,) = open_tasks(req)
    assert list(first.assignees.all()) == [company["boss"]] and first.level == 1
    assert not holds(company)

    run(task_approve, actor=company["boss"], source="workspace", task=first)
    req.refresh_from_db()
    assert req.status == R.WAITING_APPROVAL  # level 2 now
    (second,) = open_tasks(req)
    assert second.level == 2 and list(second.assignees.all()) == [company["owner"]]

    run(task_approve, actor=company["owner"], source="workspace", task=second, comment="ok")
    req.refresh_from_db()
    assert req.status == R.FINISHED and holds(company)
    messages = " | ".join(req.events.values_list("message", flat=True))
    assert "Approval policy" in messages and "Level 1 approved by boss" in messages
    assert "no SoD policy matched" in messages
    assert AuditEvent.objects.filter(action="task.approved").count() == 2


def test_all_mode_needs_every_approver(company, run):
    a, b = UserFactory(), UserFactory()
    level = ApprovalLevelFactory(policy=ApprovalPolicyFactory(), mode="ALL", approver_kind="USERS")
    level.users.add(a, b)
    req = grant(run, company)
    tasks = open_tasks(req)
    assert len(tasks) == 2
    run(
        task_approve,
        actor=a,
        source="workspace",
        task=next(t for t in tasks if t.assignees.filter(pk=a.pk).exists()),
    )
    req.refresh_from_db()
    assert req.status == R.WAITING_APPROVAL and not holds(company)
    run(task_approve, actor=b, source="workspace", task=open_tasks(req)[0])
    req.refresh_from_db()
    assert req.status == R.FINISHED and holds(company)


def test_any_mode_one_approver_is_enough_and_queue_members_decide(company, run):
    queue = QueueFactory()
    member = UserFactory()
    queue.members.add(member)
    ApprovalLevelFactory(policy=ApprovalPolicyFactory(), approver_kind="QUEUE", queue=queue)
    req = grant(run, company)
    (task,) = open_tasks(req)
    assert task.queue == queue
    with pytest.raises(NotAllowed, match="not an approver"):
        task_approve(actor=company["eve"], source="workspace", task=task)
    run(task_approve, actor=member, source="workspace", task=task)
    req.refresh_from_db()
    assert req.status == R.FINISHED


def test_nobody_approves_their_own_request(company, run):
    level = ApprovalLevelFactory(policy=ApprovalPolicyFactory(), approver_kind="USERS")
    level.users.add(company["boss"])
    req = grant(run, company, actor=company["boss"])  # the manager asks for alice
    (task,) = open_tasks(req)
    # the requester is never made an approver: the task falls to a console administrator
    assert not task.assignees.exists()
    with pytest.raises(NotAllowed, match="own request"):
        task_approve(actor=company["boss"], source="workspace", task=task)
    with pytest.raises(NotAllowed, match="own request"):
        task_approve(actor=company["alice"], source="workspace", task=task)
    run(task_approve, actor=company["admin"], source="console", task=task)
    req.refresh_from_db()
    assert req.status == R.FINISHED


def test_rejection_needs_a_reason_and_ends_the_request(company, run):
    ApprovalLevelFactory(policy=ApprovalPolicyFactory(), approver_kind="MANAGER")
    req = grant(run, company)
    (task,) = open_tasks(req)
    with pytest.raises(ValidationFailed, match="reason"):
        task_reject(actor=company["boss"], source="workspace", task=task, reason="  ")
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    run(task_reject, actor=company["boss"], source="workspace", task=task, reason="not in your job")
    req.refresh_from_db()
    task.refresh_from_db()
    assert req.status == R.REJECTED and task.status == TaskStatus.REJECTED and not holds(company)
    assert "not in your job" in req.events.last().message
    with pytest.raises(TransitionNotAllowed):
        task_approve(actor=company["boss"], source="workspace", task=task)


def test_approver_shortens_the_access_period_within_the_requested_one(company, run):
    ApprovalLevelFactory(policy=ApprovalPolicyFactory(), approver_kind="OWNER")
    now = timezone.now()
    end = now + timedelta(days=30)
    req = run(
        request_create,
        actor=company["alice"],
        source="workspace",
        request_type="GRANT_ROLE",
        beneficiary=company["alice"],
        role=company["role"],
        justification="audit season",
        end_at=end,
    )
    (task,) = open_tasks(req)
    with pytest.raises(ValidationFailed, match="cannot end after"):
        task_approve(actor=company["owner"], source="workspace", task=task, end_at=end + timedelta(days=1))
    shorter = now + timedelta(days=7)
    run(task_approve, actor=company["owner"], source="workspace", task=task, end_at=shorter)
    req.refresh_from_db()
    assert req.end_at == shorter and req.status == R.FINISHED
    membership = RoleMembership.objects.get(user=company["alice"], role=company["role"])
    assert membership.end_date == shorter
    assert "Access period changed by owner" in " ".join(req.events.values_list("message", flat=True))


def test_policy_matching_by_type_object_criticality_and_beneficiary(company, run):
    alice = company["alice"]
    alice.department = "Finance"
    alice.save()
    ApprovalPolicyFactory(name="other type", request_types=["GRANT_ROLE"], priority=1)
    ApprovalPolicyFactory(name="critical only", criticality="CRITICAL", priority=2)
    ApprovalPolicyFactory(name="sales only", beneficiary_conditions={"department": "Sales"}, priority=3)
    finance = ApprovalPolicyFactory(
        name="finance payments",
        entitlement=company["ent"],
        beneficiary_conditions={"department": "Finance"},
        priority=4,
    )
    ApprovalPolicyFactory(name="catch-all", priority=50)
    req = grant(run, company)
    req.refresh_from_db()
    assert approval_policy_match(req) == finance
    assert req.approval_policy == finance


def test_sod_stage_is_recorded_and_never_invents_conflicts(company, run):
    req = grant(run, company)
    assert req.status == R.FINISHED
    assert req.events.filter(stage=3, message="SoD check: no SoD policy matched.").exists()
    assert not Task.objects.filter(kind=TaskKind.SOD).exists()


def test_new_user_request_goes_to_the_manager_named_in_it(company, run):
    from directory.models import User

    ApprovalLevelFactory(policy=ApprovalPolicyFactory(request_types=["CREATE_USER"]), approver_kind="MANAGER")
    req = run(
        request_create,
        actor=company["admin"],
        source="console",
        request_type="CREATE_USER",
        payload={"user": {"first_name": "Nina", "last_name": "Souza", "username": "nina", "manager": "boss"}},
    )
    (task,) = open_tasks(req)
    assert list(task.assignees.all()) == [company["boss"]]
    assert not User.objects.filter(username="nina").exists()
    run(task_approve, actor=company["boss"], source="workspace", task=task)
    req.refresh_from_db()
    assert req.status == R.FINISHED and req.beneficiary.username == "nina"
    assert req.beneficiary.manager == company["boss"]
