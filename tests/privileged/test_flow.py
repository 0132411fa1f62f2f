"""The access flow on the production database: pending -> level 1 -> level 2 -> approved -> use in
the window -> expiry (check-in to the vault, rotation); revoke; emergency; bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from privileged.models import AccessRequest, AccessStatus
from privileged.services.flow import (
    access_request_cancel,
    access_request_create,
    access_request_emergency,
    access_request_revoke,
    access_requests_expire,
    access_reveal,
)
from privileged.services.groups import access_group_update
from provisioning.models import ProvisioningEntry
from tests.privileged.conftest import PASSWORD, window
from tests.vault.rotations import application_answers
from vault.models import AdministrativeCheckout, CheckoutStatus, Secret
from vault.services import secret_reveal
from worklist.models import Queue, Task, TaskKind, TaskStatus
from worklist.services import task_decide


def ask(run, pam, who="dba1", account="postgres", **kw):
    data = {"reason": "Vacuum the orders table", "governance_code": "CHG-1001", **window(60), **kw}
    return run(access_request_create, actor=pam[who], source="workspace", account=pam[account], **data)


def open_task(req, level=None):
    tasks = Task.objects.filter(subject_kind="access_request", subject_id=req.pk, status=TaskStatus.OPEN)
    if level is not None:
        tasks = tasks.filter(level=level)
    return tasks.get()


def decide(run, pam, who, req, decision="approve", **kw):
    return run(task_decide, actor=pam[who], source="workspace", task=open_task(req), decision=decision, **kw)


def password_of(account):
    return secret_reveal(actor=None, source="test", secret=Secret.objects.get(account=account))


def test_two_levels_then_use_in_the_window_then_expiry_rotates(run, pam):
    req = ask(run, pam)
    assert req.status == AccessStatus.PENDING and req.level == 1
    task = open_task(req)
    assert task.kind == TaskKind.ACCESS and list(task.assignees.values_list("username", flat=True)) == [
        "approver1"
    ]
    # first-level approvers are e-mailed first, nobody of level 2 yet
    asked = [m for m in mail.outbox if m.subject.startswith("Approval needed")]
    assert [m.to for m in asked] == [["approver1@example.com"]]
    assert "CHG-1001" in asked[0].body and "Vacuum" in asked[0].body
    # the group's notified people hear of it too
    assert any(m.to == ["owner@example.com"] for m in mail.outbox)
    # nothing to use while pending
    with pytest.raises(Conflict, match="pending"):
        access_reveal(actor=pam["dba1"], source="workspace", request=req)

    decide(run, pam, "approver1", req)
    req.refresh_from_db()
    assert req.status == AccessStatus.PENDING and req.level == 2
    assert list(open_task(req).assignees.values_list("username", flat=True)) == ["approver2"]
    assert mail.outbox[-1].to == ["approver2@example.com"]

    decide(run, pam, "approver2", req)
    req.refresh_from_db()
    assert req.status == AccessStatus.APPROVED and req.approved_at is not None
    assert any(m.to == ["dba1@example.com"] and "approved" in m.subject for m in mail.outbox)

    # in the window: the credential, checked in to the requester's vault (audited reveal)
    assert access_reveal(actor=pam["dba1"], source="workspace", request=req) == PASSWORD
    req.refresh_from_db()
    assert req.checkout.status == CheckoutStatus.ACTIVE and req.checkout.user == pam["dba1"]
    assert AuditEvent.objects.filter(action="vault.secret.revealed", actor_id=pam["dba1"].pk).exists()
    # someone else may not use it
    with pytest.raises(NotAllowed):
        access_reveal(actor=pam["dba2"], source="workspace", request=req)

    # the window ends: back to the vault, a new password, a CHANGE_PASSWORD entry for the database
    assert access_requests_expire(now=req.window_end + timedelta(seconds=1)) == 1
    assert access_requests_expire(now=req.window_end + timedelta(seconds=2)) == 0  # idempotent
    req.refresh_from_db()
    assert req.status == AccessStatus.EXPIRED and req.close_reason == "the window ended"
    assert AdministrativeCheckout.objects.get(pk=req.checkout_id).status == CheckoutStatus.RELEASED
    assert password_of(pam["postgres"]) == PASSWORD  # until the application confirms the new one
    assert application_answers() == 1
    assert password_of(pam["postgres"]) != PASSWORD
    entry = ProvisioningEntry.objects.get(account=pam["postgres"], event_type="CHANGE_PASSWORD")
    # the entry referred to the new value kept aside, merged into the account's password on success
    assert entry.payload["secret_id"] != str(Secret.objects.get(account=pam["postgres"]).pk)
    assert not Secret.objects.filter(pk=entry.payload["secret_id"]).exists()
    assert PASSWORD not in str(entry.payload)
    event = AuditEvent.objects.filter(action="privileged.request.expired").get()
    assert event.new_values["rotated"] is True
    with pytest.raises(Conflict, match="expired"):
        access_reveal(actor=pam["dba1"], source="workspace", request=req)


def test_not_before_the_window_starts(run, pam):
    access_group_update(
        actor=pam["admin"],
        source="console",
        group=pam["group"],
        data={"approval_required": False, "levels": []},
    )
    req = ask(run, pam, **window(30, start_in=60))
    assert req.status == AccessStatus.APPROVED  # no approval: approved for its window at once
    with pytest.raises(Conflict, match="starts at"):
        access_reveal(actor=pam["dba1"], source="workspace", request=req)


def test_an_approver_may_move_or_extend_the_window_up_to_the_maximum(run, pam):
    req = ask(run, pam)
    before = (req.window_start, req.window_end)
    too_long = req.window_start + timedelta(minutes=121)
    with pytest.raises(ValidationFailed, match="longer than this credential allows"):
        decide(run, pam, "approver1", req, window_end=too_long)
    req.refresh_from_db()
    assert (req.window_start, req.window_end) == before and req.level == 1
    assert open_task(req).status == TaskStatus.OPEN
    longer = req.window_start + timedelta(minutes=120)
    decide(run, pam, "approver1", req, window_end=longer)
    req.refresh_from_db()
    assert req.window_end == longer and req.level == 2
    assert AuditEvent.objects.filter(action="privileged.request.window_changed").exists()


def test_nobody_approves_their_own_request(run, pam):
    access_group_update(
        actor=pam["admin"],
        source="console",
        group=pam["group"],
        data={"levels": [{"approver_kind": "USERS", "users": ["dba1", "approver1"]}]},
    )
    req = ask(run, pam)
    task = open_task(req)
    assert list(task.assignees.values_list("username", flat=True)) == ["approver1"]  # never the requester
    with pytest.raises(NotAllowed, match="your own"):
        task_decide(actor=pam["dba1"], source="workspace", task=task, decision="approve")
    req.refresh_from_db()
    assert req.status == AccessStatus.PENDING and open_task(req).status == TaskStatus.OPEN


def test_a_stranger_cannot_decide(run, pam):
    req = ask(run, pam)
    with pytest.raises(NotAllowed, match="not an approver"):
        task_decide(actor=pam["dba2"], source="workspace", task=open_task(req), decision="approve")


def test_disapproval_ends_it_and_a_late_reply_is_refused(run, pam):
    req = ask(run, pam)
    task = open_task(req)
    decide(run, pam, "approver1", req, decision="reject", comment="Not in a change window")
    req.refresh_from_db()
    assert req.status == AccessStatus.DISAPPROVED and req.close_reason == "Not in a change window"
    with pytest.raises(Conflict, match="already rejected"):
        task_decide(actor=pam["approver1"], source="workspace", task=task, decision="approve")
    req.refresh_from_db()
    assert req.status == AccessStatus.DISAPPROVED
    with pytest.raises(Conflict, match="disapproved"):
        access_reveal(actor=pam["dba1"], source="workspace", request=req)


def test_all_mode_waits_for_every_approver(run, pam):
    access_group_update(
        actor=pam["admin"],
        source="console",
        group=pam["group"],
        data={"levels": [{"approver_kind": "USERS", "mode": "ALL", "users": ["approver1", "approver2"]}]},
    )
    req = ask(run, pam)
    tasks = Task.objects.filter(subject_id=req.pk, subject_kind="access_request")
    assert tasks.count() == 2
    run(
        task_decide,
        actor=pam["approver1"],
        source="workspace",
        task=tasks.get(assignees=pam["approver1"]),
        decision="approve",
    )
    req.refresh_from_db()
    assert req.status == AccessStatus.PENDING
    run(
        task_decide,
        actor=pam["approver2"],
        source="workspace",
        task=tasks.get(assignees=pam["approver2"]),
        decision="approve",
    )
    req.refresh_from_db()
    assert req.status == AccessStatus.APPROVED


def test_a_queue_level_and_an_owner_level(run, pam):
    queue = Queue.objects.create(name="DBA leads")
    queue.members.add(pam["approver2"])
    access_group_update(
        actor=pam["admin"],
        source="console",
        group=pam["group"],
        data={"levels": [{"approver_kind": "QUEUE", "queue": "DBA leads"}, {"approver_kind": "OWNER"}]},
    )
    req = ask(run, pam)
    assert open_task(req).queue == queue
    decide(run, pam, "approver2", req)
    req.refresh_from_db()
    assert list(open_task(req).assignees.values_list("username", flat=True)) == [
        "owner"
    ]  # the account's responsible
    decide(run, pam, "owner", req)
    req.refresh_from_db()
    assert req.status == AccessStatus.APPROVED


def approved(run, pam, **kw):
    req = ask(run, pam, **kw)
    decide(run, pam, "approver1", req)
    decide(run, pam, "approver2", req)
    req.refresh_from_db()
    assert req.status == AccessStatus.APPROVED
    return req


def test_any_one_approver_revokes_at_once(run, pam):
    req = approved(run, pam)
    access_reveal(actor=pam["dba1"], source="workspace", request=req)
    for who in ("dba1", "stranger"):
        with pytest.raises(NotAllowed, match="Only an approver"):
            access_request_revoke(actor=pam[who], source="workspace", request=req)
    run(
        access_request_revoke,
        actor=pam["approver1"],
        source="workspace",
        request=req,
        reason="Incident closed",
    )
    req.refresh_from_db()
    assert req.status == AccessStatus.REVOKED and req.closed_by == pam["approver1"]
    assert req.checkout.status == CheckoutStatus.RELEASED
    assert password_of(pam["postgres"]) == PASSWORD  # until the application confirms the new one
    assert application_answers() == 1
    assert password_of(pam["postgres"]) != PASSWORD
    assert (
        ProvisioningEntry.objects.filter(account=pam["postgres"], event_type="CHANGE_PASSWORD").count() == 1
    )
    with pytest.raises(Conflict, match="revoked"):
        access_reveal(actor=pam["dba1"], source="workspace", request=req)
    with pytest.raises(Conflict, match="only an approved access"):
        access_request_revoke(actor=pam["approver2"], source="workspace", request=req)
    # coming back needs a new justification
    again = ask(run, pam)
    assert again.status == AccessStatus.PENDING


def test_a_shared_account_is_rotated_after_use(run, pam):
    req = approved(run, pam, account="shared")
    assert access_reveal(actor=pam["dba1"], source="workspace", request=req) == PASSWORD
    access_requests_expire(now=req.window_end)
    req.refresh_from_db()
    assert req.status == AccessStatus.EXPIRED
    assert password_of(pam["shared"]) == PASSWORD  # until the application confirms the new one
    assert application_answers() == 1
    assert password_of(pam["shared"]) != PASSWORD
    assert ProvisioningEntry.objects.filter(account=pam["shared"], event_type="CHANGE_PASSWORD").exists()


def test_an_unused_access_expires_without_rotation(run, pam):
    req = approved(run, pam)
    access_requests_expire(now=req.window_end)
    req.refresh_from_db()
    assert req.status == AccessStatus.EXPIRED
    assert password_of(pam["postgres"]) == PASSWORD


def test_a_pending_request_expires_with_its_tasks(run, pam):
    req = ask(run, pam)
    access_requests_expire(now=req.window_end)
    req.refresh_from_db()
    assert req.status == AccessStatus.EXPIRED
    assert not Task.objects.filter(
        subject_id=req.pk, subject_kind="access_request", status=TaskStatus.OPEN
    ).exists()


def test_cancel_by_the_requester_only(run, pam):
    req = ask(run, pam)
    with pytest.raises(NotAllowed):
        access_request_cancel(actor=pam["approver1"], source="workspace", request=req)
    run(access_request_cancel, actor=pam["dba1"], source="workspace", request=req)
    req.refresh_from_db()
    assert req.status == AccessStatus.CANCELED
    assert open_tasks_count(req) == 0
    with pytest.raises(Conflict, match="canceled"):
        access_request_cancel(actor=pam["dba1"], source="workspace", request=req)


def open_tasks_count(req):
    return Task.objects.filter(
        subject_id=req.pk, subject_kind="access_request", status=TaskStatus.OPEN
    ).count()


# --- emergency -------------------------------------------------------------------------------------


def test_emergency_skips_approval_tells_every_approver_and_opens_a_review(run, pam):
    mail.outbox.clear()
    req = ask(run, pam, emergency=True, reason="Production down")
    assert req.status == AccessStatus.APPROVED and req.emergency
    assert open_tasks_count(req) == 1
    review = open_task(req)
    assert review.kind == TaskKind.ACCESS_REVIEW and req.review_task == review
    assert sorted(review.assignees.values_list("username", flat=True)) == ["approver1", "approver2"]
    told = {tuple(m.to) for m in mail.outbox if "[EMERGENCY]" in m.subject}
    assert {("approver1@example.com",), ("approver2@example.com",), ("owner@example.com",)} <= told
    assert access_reveal(actor=pam["dba1"], source="workspace", request=req) == PASSWORD
    # the review finds it was not justified: revoked at once
    decide(run, pam, "approver2", req, decision="reject", comment="No incident on record")
    req.refresh_from_db()
    assert req.status == AccessStatus.REVOKED
    assert password_of(pam["postgres"]) == PASSWORD  # until the application confirms the new one
    assert application_answers() == 1
    assert password_of(pam["postgres"]) != PASSWORD


def test_emergency_declared_on_a_pending_request(run, pam):
    req = ask(run, pam)
    with pytest.raises(NotAllowed):
        access_request_emergency(actor=pam["approver1"], source="workspace", request=req)
    run(access_request_emergency, actor=pam["dba1"], source="workspace", request=req)
    req.refresh_from_db()
    assert req.status == AccessStatus.APPROVED and req.emergency
    assert Task.objects.get(subject_id=req.pk, kind=TaskKind.ACCESS).status == TaskStatus.CANCELED


def test_emergency_refused_when_the_group_does_not_allow_it(run, pam):
    access_group_update(
        actor=pam["admin"], source="console", group=pam["group"], data={"emergency_allowed": False}
    )
    with pytest.raises(NotAllowed, match="Emergency access is not allowed"):
        ask(run, pam, emergency=True)
    assert not AccessRequest.objects.exists()


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        (
            {
                "window_start": timezone.now() - timedelta(hours=2),
                "window_end": timezone.now() - timedelta(hours=1),
            },
            "window_end",
            "in the past",
        ),
        (
            {
                "window_start": timezone.now() - timedelta(hours=1),
                "window_end": timezone.now() + timedelta(minutes=30),
            },
            "window_start",
            "in the past",
        ),
        (
            {"window_start": timezone.now(), "window_end": timezone.now() + timedelta(minutes=121)},
            "window_end",
            "longer than",
        ),
        (
            {"window_start": timezone.now() + timedelta(hours=1), "window_end": timezone.now()},
            "window_end",
            "end after it starts",
        ),
        ({"window_start": None, "window_end": None}, "window_start", "Give the window"),
        ({"governance_code": "INC1'; DROP TABLE x;--"}, "governance_code", "letters, digits"),
        ({"governance_code": "<script>alert(1)</script>"}, "governance_code", "letters, digits"),
        ({"governance_code": ""}, "governance_code", "needs a governance code"),
        ({"reason": "   "}, "reason", "justification is required"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(run, pam, kw, field, words):
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        ask(run, pam, **kw)
    assert words in caught.value.fields[field][0]
    assert not AccessRequest.objects.exists() and not Task.objects.exists()
    assert AuditEvent.objects.count() == before
    assert not mail.outbox


def test_no_group_no_request(run, pam):
    with pytest.raises(NotAllowed, match="No access group gives you"):
        ask(run, pam, who="stranger")
    assert not AccessRequest.objects.exists()


def test_one_live_request_per_credential(run, pam):
    ask(run, pam)
    with pytest.raises(Conflict, match="already have a pending or approved request"):
        ask(run, pam)
    assert AccessRequest.objects.count() == 1


def test_each_approver_is_mailed_in_their_own_language(run, pam):
    """approver1 reads Portuguese (their preference); the group's notified owner English."""
    pam["approver1"].language = "pt-br"
    pam["approver1"].save(update_fields=["language"])
    ask(run, pam)
    asked = next(m for m in mail.outbox if m.to == ["approver1@example.com"])
    assert asked.subject.startswith("Aprovação necessária: acesso privilegiado a ")
    assert "Solicitante:" in asked.body and "Justificativa:" in asked.body and "Aprovar: http" in asked.body
    told = next(m for m in mail.outbox if m.to == ["owner@example.com"])
    assert "is waiting for approval" in told.subject and "Requester:" in told.body
