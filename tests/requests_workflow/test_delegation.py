"""Out-of-office delegation (issue #3, section 6): while a delegation is active the delegate sees
and decides the delegator's tasks, recorded as theirs "on behalf of" the delegator; not before it
starts, not after it ends or is revoked; never for their own request. Invalid delegations are
refused and change nothing; only the user themselves or an administrator / help desk set one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.models import ConsoleRole, UserStatus
from requests_workflow.models import Delegation, DelegationScope, RequestEvent, RequestStatus
from requests_workflow.selectors import attach_delegators, open_tasks_for
from requests_workflow.services.approvals import task_approve, task_reject
from requests_workflow.services.delegation import delegation_create, delegation_revoke
from requests_workflow.services.requests import request_create
from tests.api.factories import EntitlementFactory, UserFactory
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory
from worklist.models import Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db
R = RequestStatus
OOO = reverse("workspace_requests:out_of_office")


@pytest.fixture
def approval(company):
    """GRANT_ENTITLEMENT requests are approved by the named user ``owner``."""
    level = ApprovalLevelFactory(
        policy=ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"]), approver_kind="USERS"
    )
    level.users.add(company["owner"])
    return level


def delegate(run, company, *, frm="owner", to="eve", days=7, actor=None, **kwargs) -> Delegation:
    return run(
        delegation_create,
        actor=actor or company[frm],
        source="workspace",
        delegator=company[frm],
        delegate=company[to],
        end_at=timezone.now() + timedelta(days=days),
        **kwargs,
    )


def grant(run, company, *, requester="alice", beneficiary="alice", entitlement=None):
    return run(
        request_create,
        actor=company[requester],
        source="workspace",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=company[beneficiary],
        entitlement=entitlement or company["ent"],
        justification="month-end close",
    )


def open_task(req) -> Task:
    return Task.objects.get(request=req, status=TaskStatus.OPEN)


def state() -> tuple[int, int, list]:
    return (
        Delegation.objects.count(),
        AuditEvent.objects.count(),
        list(Delegation.objects.order_by("pk").values_list("pk", "revoked_at", "end_at")),
    )


# --- effect -----------------------------------------------------------------------------------


def test_delegate_decides_on_behalf_while_active(run, company, approval):
    d = delegate(run, company, reason="holidays")
    req = grant(run, company)
    task = open_task(req)

    (seen,) = attach_delegators(open_tasks_for(company["eve"]))
    assert seen.pk == task.pk and seen.delegated_from == company["owner"]
    # the delegator keeps their task; in their list it is their own
    (own,) = attach_delegators(open_tasks_for(company["owner"]))
    assert own.pk == task.pk and own.delegated_from is None

    run(task_approve, actor=company["eve"], source="workspace", task=task, comment="covering")
    task.refresh_from_db()
    req.refresh_from_db()
    assert task.status == TaskStatus.APPROVED
    assert task.decided_by == company["eve"] and task.on_behalf_of == company["owner"]
    assert req.status in (R.FINISHED, R.WAITING_PROVISIONING)
    event = RequestEvent.objects.get(request=req, message__startswith="Level 1 approved")
    assert event.actor == company["eve"]
    assert event.message.startswith(
        f"Level 1 approved by eve on behalf of owner (out-of-office delegation #{d.pk})"
    )
    audit = AuditEvent.objects.get(action="task.approved", object_id=str(task.pk))
    assert audit.actor_id == company["eve"].pk
    assert audit.new_values["on_behalf_of"] == "owner" and audit.new_values["delegation"] == d.pk
    assert AuditEvent.objects.filter(action="delegation.created", object_id=str(d.pk)).count() == 1


def test_reject_by_the_delegate_is_recorded_on_behalf(run, company, approval):
    delegate(run, company)
    req = grant(run, company)
    task = run(task_reject, actor=company["eve"], source="workspace", task=open_task(req), reason="no budget")
    req.refresh_from_db()
    assert req.status == R.REJECTED and task.on_behalf_of == company["owner"]
    pk = Delegation.objects.get().pk
    message = f"Rejected by eve on behalf of owner (out-of-office delegation #{pk}): no budget"
    assert req.events.filter(message=message).exists()


def test_tasks_opened_before_the_delegation_are_covered_when_it_starts(run, company, approval):
    req = grant(run, company)
    assert not open_tasks_for(company["eve"]).exists()
    delegate(run, company)
    assert list(open_tasks_for(company["eve"]).values_list("pk", flat=True)) == [open_task(req).pk]


def test_direct_approver_acts_in_their_own_name(run, company, approval):
    approval.users.add(company["eve"])  # eve is an approver herself and owner's delegate
    delegate(run, company)
    req = grant(run, company)
    (seen,) = attach_delegators(open_tasks_for(company["eve"]))
    assert seen.delegated_from is None
    task = run(task_approve, actor=company["eve"], source="workspace", task=open_task(req))
    assert task.on_behalf_of is None


def test_revoked_delegation_takes_the_undecided_tasks_away(run, company, approval):
    d = delegate(run, company)
    req = grant(run, company)
    task = open_task(req)
    run(delegation_revoke, actor=company["owner"], source="workspace", delegation=d)
    assert not open_tasks_for(company["eve"]).exists()
    before = (AuditEvent.objects.count(), RequestEvent.objects.count())
    with pytest.raises(NotAllowed, match="not an approver"):
        task_approve(actor=company["eve"], source="workspace", task=task)
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and task.decided_by is None
    assert (AuditEvent.objects.count(), RequestEvent.objects.count()) == before
    assert AuditEvent.objects.filter(action="delegation.revoked", object_id=str(d.pk)).count() == 1
    # the delegator still decides
    run(task_approve, actor=company["owner"], source="workspace", task=task)


def test_a_delegate_inactivated_since_loses_the_tasks(run, company, approval):
    delegate(run, company)
    req = grant(run, company)
    company["eve"].status = UserStatus.INACTIVE
    company["eve"].save()
    assert not open_tasks_for(company["eve"]).exists()
    with pytest.raises(NotAllowed):
        task_approve(actor=company["eve"], source="workspace", task=open_task(req))


def test_ended_and_upcoming_delegations_give_nothing(run, company, approval):
    d = delegate(run, company)
    req = grant(run, company)
    past = timezone.now() - timedelta(days=1)
    Delegation.objects.filter(pk=d.pk).update(start_at=past - timedelta(days=3), end_at=past)
    assert not open_tasks_for(company["eve"]).exists()
    with pytest.raises(NotAllowed):
        task_approve(actor=company["eve"], source="workspace", task=open_task(req))
    # a planned absence: the delegate gets nothing before it starts
    Delegation.objects.filter(pk=d.pk).update(
        start_at=timezone.now() + timedelta(days=1), end_at=timezone.now() + timedelta(days=5)
    )
    assert not open_tasks_for(company["eve"]).exists()
    with pytest.raises(NotAllowed):
        task_reject(actor=company["eve"], source="workspace", task=open_task(req), reason="x")


def test_the_delegate_never_decides_their_own_request(run, company, approval):
    delegate(run, company, to="alice")  # alice covers for owner...
    req = grant(run, company)  # ...and asks for access for herself
    task = open_task(req)
    assert not open_tasks_for(company["alice"]).exists()
    with pytest.raises(NotAllowed, match="Nobody approves their own request"):
        task_approve(actor=company["alice"], source="workspace", task=task)
    # nor a request made for them by someone else
    other = EntitlementFactory(resource=company["app"], identifier="reports", owner=company["owner"])
    req2 = grant(run, company, requester="admin", beneficiary="alice", entitlement=other)
    with pytest.raises(NotAllowed, match="Nobody approves their own request"):
        task_approve(actor=company["alice"], source="workspace", task=open_task(req2))
    assert Task.objects.filter(status=TaskStatus.OPEN).count() == 2


def test_all_mode_a_delegate_does_not_give_two_of_the_approvals(run, company, approval):
    approval.mode = "ALL"
    approval.save()
    approval.users.add(company["eve"])
    delegate(run, company)
    req = grant(run, company)
    owner_task = Task.objects.get(request=req, assignees=company["owner"])
    eve_task = Task.objects.get(request=req, assignees=company["eve"])
    assert list(open_tasks_for(company["eve"]).values_list("pk", flat=True)) == [eve_task.pk]
    with pytest.raises(NotAllowed):
        task_approve(actor=company["eve"], source="workspace", task=owner_task)


def test_scope_approval_only_leaves_other_task_kinds(run, company, approval):
    delegate(run, company, scope=DelegationScope.APPROVAL)
    req = grant(run, company)
    manual = Task.objects.create(kind=TaskKind.PROVISIONING, request=req, title="Provision by hand")
    manual.assignees.add(company["owner"])
    assert set(open_tasks_for(company["eve"]).values_list("kind", flat=True)) == {TaskKind.APPROVAL}
    Delegation.objects.update(scope=DelegationScope.ALL)
    assert set(open_tasks_for(company["eve"]).values_list("kind", flat=True)) == {
        TaskKind.APPROVAL,
        TaskKind.PROVISIONING,
    }


# --- refused delegations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case,error,field",
    [
        ("self", ValidationFailed, "delegate"),
        ("inactive", ValidationFailed, "delegate"),
        ("locked", ValidationFailed, "delegate"),
        ("end_before_start", ValidationFailed, "end_at"),
        ("end_in_past", ValidationFailed, "end_at"),
        ("no_end", ValidationFailed, "end_at"),
        ("too_long", ValidationFailed, "end_at"),
        ("bad_scope", ValidationFailed, "scope"),
        ("loop", Conflict, "delegate"),
        ("delegate_away", Conflict, "delegate"),
        ("delegator_covers", Conflict, "delegator"),
        ("overlap", Conflict, "start_at"),
    ],
)
def test_invalid_delegations_are_refused_and_change_nothing(run, company, case, error, field):
    now = timezone.now()
    carol = UserFactory(username="carol")
    if case == "loop":
        delegate(run, company, frm="eve", to="owner")
    elif case == "delegate_away":
        delegate(run, company, frm="eve", to="boss")
    elif case == "delegator_covers":
        delegate(run, company, frm="boss", to="owner")
    elif case == "overlap":
        delegate(run, company, to="boss", days=10)
    elif case == "inactive":
        company["eve"].status = UserStatus.INACTIVE
        company["eve"].save()
    elif case == "locked":
        company["eve"].login_locked = True
        company["eve"].save()
    kwargs = {"delegate": company["eve"], "end_at": now + timedelta(days=5)}
    if case == "self":
        kwargs["delegate"] = company["owner"]
    elif case == "end_before_start":
        kwargs.update(start_at=now + timedelta(days=3), end_at=now + timedelta(days=2))
    elif case == "end_in_past":
        kwargs["end_at"] = now - timedelta(hours=1)
    elif case == "no_end":
        kwargs["end_at"] = None
    elif case == "too_long":
        kwargs["end_at"] = now + timedelta(days=91)
    elif case == "bad_scope":
        kwargs["scope"] = "EVERYTHING"
    elif case == "overlap":
        kwargs.update(start_at=now + timedelta(days=3), delegate=carol)
    before = state()
    with pytest.raises(error) as caught:
        delegation_create(actor=company["owner"], source="workspace", delegator=company["owner"], **kwargs)
    assert field in caught.value.fields, caught.value.fields
    assert caught.value.message
    assert state() == before


def test_loop_message_names_both_sides(run, company):
    delegate(run, company, frm="eve", to="owner")
    with pytest.raises(Conflict, match="eve delegates to owner during this period.*loop"):
        delegate(run, company)


def test_a_later_period_is_not_an_overlap(run, company):
    delegate(run, company, days=3)
    later = delegation_create(
        actor=company["owner"],
        source="workspace",
        delegator=company["owner"],
        delegate=company["boss"],
        start_at=timezone.now() + timedelta(days=4),
        end_at=timezone.now() + timedelta(days=6),
    )
    assert later.pk and Delegation.objects.filter(delegator=company["owner"]).count() == 2


def test_a_start_in_the_past_means_now(run, company):
    d = delegate(run, company, start_at=timezone.now() - timedelta(days=2))
    assert abs((d.start_at - timezone.now()).total_seconds()) < 60


# --- who may -----------------------------------------------------------------------------------


def test_a_user_may_not_delegate_someone_elses_tasks(run, company):
    before = state()
    with pytest.raises(NotAllowed, match="only they or an administrator"):
        delegation_create(
            actor=company["alice"],
            source="workspace",
            delegator=company["owner"],
            delegate=company["eve"],
            end_at=timezone.now() + timedelta(days=3),
        )
    assert state() == before


def test_help_desk_sets_a_delegation_for_someone_who_fell_ill(run, company):
    helpdesk = UserFactory(username="desk", console_role=ConsoleRole.HELPDESK)
    d = delegate(run, company, actor=helpdesk, reason="sick leave")
    assert d.created_by == helpdesk and d.delegator == company["owner"]
    audit = AuditEvent.objects.get(action="delegation.created")
    assert audit.actor_id == helpdesk.pk and audit.subject_user_id == company["owner"].pk


def test_revoke_is_for_the_delegator_or_an_administrator(run, company):
    d = delegate(run, company)
    before = state()
    for someone in ("eve", "alice"):
        with pytest.raises(NotAllowed):
            delegation_revoke(actor=company[someone], source="workspace", delegation=d)
    assert state() == before
    d = run(delegation_revoke, actor=company["admin"], source="console", delegation=d)
    assert d.revoked_by == company["admin"] and d.state() == "REVOKED"
    with pytest.raises(Exception, match="already revoked"):
        delegation_revoke(actor=company["admin"], source="console", delegation=d)


# --- e-mail ------------------------------------------------------------------------------------


@pytest.fixture
def outbox(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.BLAZON_BASE_URL = "http://blazon.test"
    return mail.outbox  # the app connects the e-mail receivers at start-up


def _approve_link(message) -> str:
    line = next(x for x in message.body.splitlines() if x.startswith("Approve: "))
    return line.split("Approve: ", 1)[1].strip().replace("http://blazon.test", "")


def test_new_tasks_are_emailed_to_the_delegate_with_links_bound_to_them(run, company, approval, outbox):
    company["eve"].email = "eve@example.com"
    company["eve"].save()
    delegate(run, company)
    req = grant(run, company)
    to_eve = [m for m in outbox if m.to == ["eve@example.com"]]
    to_owner = [m for m in outbox if m.to == [company["owner"].email]]
    assert len(to_eve) == 1 and len(to_owner) == 1
    assert "on behalf of" in to_eve[0].body and "out-of-office delegate" in to_eve[0].body
    link = _approve_link(to_eve[0])
    assert link != _approve_link(to_owner[0])

    client = Client()  # the link is the credential: no sign-in
    page = client.get(link)
    assert page.status_code == 200
    response = client.post(link, {"comment": "ok"})
    assert response.status_code == 200, response.content
    task = Task.objects.get(request=req)
    assert task.decided_by == company["eve"] and task.on_behalf_of == company["owner"]


def test_delegate_link_dies_with_the_delegation(run, company, approval, outbox):
    company["eve"].email = "eve@example.com"
    company["eve"].save()
    d = delegate(run, company)
    req = grant(run, company)
    (message,) = [m for m in outbox if m.to == ["eve@example.com"]]
    run(delegation_revoke, actor=company["owner"], source="workspace", delegation=d)
    client = Client()
    response = client.post(_approve_link(message), {"comment": "late"})
    assert response.status_code == 410
    assert b"delegation" in response.content
    assert open_task(req).status == TaskStatus.OPEN


def test_no_email_to_a_delegate_for_their_own_request(run, company, approval, outbox):
    company["alice"].email = "alice@example.com"
    company["alice"].save()
    delegate(run, company, to="alice")
    outbox.clear()
    grant(run, company)
    assert not [m for m in outbox if m.to == ["alice@example.com"] and "needs your approval" in m.body]


# --- workspace -----------------------------------------------------------------------------------


def _more_tasks(run, company, approval, frm: int, to: int) -> None:
    """Open tasks for eve, each from another out-of-office colleague."""
    for i in range(frm, to):
        colleague = UserFactory(username=f"colleague{i}")
        approval.users.set([colleague])
        ent = EntitlementFactory(resource=company["app"], identifier=f"ent{i}", owner=company["owner"])
        delegation_create(
            actor=colleague,
            source="workspace",
            delegator=colleague,
            delegate=company["eve"],
            end_at=timezone.now() + timedelta(days=3),
        )
        grant(run, company, entitlement=ent)


def test_my_tasks_marks_on_behalf_of_without_n_plus_one(
    run, company, approval, django_assert_max_num_queries
):
    _more_tasks(run, company, approval, 0, 2)
    client = logged_in(company["eve"])
    with CaptureQueriesContext(connection) as few:
        response = client.get(reverse("workspace_requests:tasks"))
    assert response.status_code == 200
    assert response.content.count(b"on behalf of") == 2
    _more_tasks(run, company, approval, 2, 8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("workspace_requests:tasks"))
    assert response.content.count(b"on behalf of") == 8


def test_task_page_and_decision_through_the_workspace(
    run, company, approval, django_capture_on_commit_callbacks
):
    delegate(run, company)
    req = grant(run, company)
    task = open_task(req)
    client = logged_in(company["eve"])
    page = client.get(reverse("workspace_requests:task", args=[task.pk]))
    assert page.status_code == 200 and b"on behalf of" in page.content
    client.post(reverse("workspace_requests:task_decide", args=[task.pk, "comment"]), {"comment": "looking"})
    assert req.events.filter(message="Comment by eve on behalf of owner: looking").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("workspace_requests:task_decide", args=[task.pk, "approve"]))
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.decided_by == company["eve"] and task.on_behalf_of == company["owner"]
    detail = logged_in(company["alice"]).get(reverse("workspace_requests:detail", args=[req.pk]))
    assert b"on behalf of owner" in detail.content


def test_out_of_office_page_sets_and_revokes_my_delegation(run, company):
    client = logged_in(company["owner"])
    page = client.get(OOO)
    assert page.status_code == 200 and b"Delegate my tasks" in page.content
    home = client.get(reverse("workspace_requests:tasks"))
    assert OOO.encode() in home.content  # linked in the workspace navigation
    end = (timezone.localdate() + timedelta(days=5)).isoformat()
    response = client.post(OOO, {"delegate": "eve", "end": end, "scope": "APPROVAL", "reason": "holidays"})
    assert response.status_code == 302
    d = Delegation.objects.get()
    assert (d.delegator, d.delegate, d.scope, d.reason) == (
        company["owner"],
        company["eve"],
        "APPROVAL",
        "holidays",
    )
    assert d.state() == "ACTIVE" and d.created_by == company["owner"]
    assert b"eve" in client.get(OOO).content
    # eve sees it under "Delegated to me"
    assert b"delegations-received" in logged_in(company["eve"]).get(OOO).content
    response = client.post(reverse("workspace_requests:out_of_office_revoke", args=[d.pk]))
    assert response.status_code == 302
    d.refresh_from_db()
    assert d.revoked_at is not None


def test_out_of_office_form_errors_change_nothing(run, company):
    client = logged_in(company["owner"])
    end = (timezone.localdate() + timedelta(days=5)).isoformat()
    for data, text in (
        ({"delegate": "owner", "end": end}, b"cannot delegate to themselves"),
        ({"delegate": "nobody", "end": end}, b"No user with username"),
        ({"delegate": "eve"}, b"An end date is required"),
        (
            {"delegate": "eve", "end": (timezone.localdate() + timedelta(days=200)).isoformat()},
            b"at most 90 days",
        ),
    ):
        response = client.post(OOO, data)
        assert response.status_code == 400 and text in response.content, (data, response.content[:300])
    assert not Delegation.objects.exists()
    # someone else's delegation cannot be revoked from the workspace
    d = delegate(run, company, frm="boss", to="eve")
    assert client.post(reverse("workspace_requests:out_of_office_revoke", args=[d.pk])).status_code == 404
    d.refresh_from_db()
    assert d.revoked_at is None


# --- console -------------------------------------------------------------------------------------


def test_console_user_page_shows_delegations_and_an_admin_adds_one(run, company):
    delegate(run, company, frm="eve", to="boss", reason="conference")
    admin = logged_in(company["admin"])
    url = reverse("console:user_detail", args=[company["owner"].pk]) + "?tab=delegations"
    page = admin.get(url)
    assert page.status_code == 200 and b"delegation-form" in page.content
    end = (timezone.localdate() + timedelta(days=10)).isoformat()
    response = admin.post(
        reverse("console_requests:delegation_add", args=[company["owner"].pk]),
        {"delegate": "alice", "end": end, "reason": "sick leave"},
    )
    assert response.status_code == 302 and response.url.endswith("?tab=delegations")
    d = Delegation.objects.get(delegator=company["owner"])
    assert d.created_by == company["admin"] and d.delegate == company["alice"]
    assert b"sick leave" in admin.get(url).content
    # a refused one says why and changes nothing
    response = admin.post(
        reverse("console_requests:delegation_add", args=[company["owner"].pk]),
        {"delegate": "boss", "end": end},
        follow=True,
    )
    assert b"already delegates to alice" in response.content
    assert Delegation.objects.filter(delegator=company["owner"]).count() == 1
    eve_page = admin.get(reverse("console:user_detail", args=[company["eve"].pk]) + "?tab=delegations")
    assert b"conference" in eve_page.content
    admin.post(reverse("console_requests:delegation_revoke", args=[d.pk]))
    d.refresh_from_db()
    assert d.revoked_by == company["admin"]


def test_console_auditor_sees_but_may_not_add(run, company):
    auditor = logged_in(UserFactory(username="auditor", console_role=ConsoleRole.AUDITOR))
    page = auditor.get(reverse("console:user_detail", args=[company["owner"].pk]) + "?tab=delegations")
    assert page.status_code == 200 and b"delegation-form" not in page.content
    end = (timezone.localdate() + timedelta(days=10)).isoformat()
    response = auditor.post(
        reverse("console_requests:delegation_add", args=[company["owner"].pk]),
        {"delegate": "eve", "end": end},
    )
    assert response.status_code == 403
    assert not Delegation.objects.exists()


def test_period_is_checked_by_the_database_too(company):
    from django.db import IntegrityError, transaction

    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        Delegation.objects.create(
            delegator=company["owner"], delegate=company["eve"], start_at=now, end_at=now - timedelta(hours=1)
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Delegation.objects.create(
            delegator=company["owner"],
            delegate=company["owner"],
            start_at=now,
            end_at=now + timedelta(hours=1),
        )
    assert Delegation.objects.filter(end_at__gt=F("start_at")).count() == 0
