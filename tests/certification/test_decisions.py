"""Reviewers' decisions: keep, revoke through the request pipeline to a provisioned revocation,
one winner when two decide at once, refusals (not theirs, closed campaign, already decided)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from blazon.audit.models import AuditEvent
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from certification.models import CertificationItem, Decision, ObjectKind, Outcome
from certification.services.campaigns import campaign_cancel, campaign_finish, campaign_start
from certification.services.decisions import items_decide, outcomes_refresh
from certification.services.policies import certification_policy_create, certification_policy_update
from directory.models import Account, AccountStatus, EntitlementMembership, ProvisioningMode
from provisioning.models import ProvisioningEntry
from requests_workflow.models import Request, RequestStatus, RequestType
from requests_workflow.services.pipeline import request_provisioning_result
from tests.api.factories import EntitlementFactory, ResourceFactory, UserFactory
from tests.certification.conftest import give
from worklist.models import Queue, Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db


def item_of(campaign, kind):
    return CertificationItem.objects.get(campaign=campaign, kind=kind)


def test_periodic_policy_through_to_a_provisioned_revocation(world, postgres, run):
    w = world
    erp = w["erp"]
    erp.provisioning_modes = {**erp.provisioning_modes, "REVOKE_ENTITLEMENT": ProvisioningMode.AUTOMATIC}
    erp.save()
    membership = give(w["ana"], w["pay"])
    campaign = campaign_start(actor=None, source="automatic", policy=w["policy"])
    item = item_of(campaign, ObjectKind.ENTITLEMENT)
    assert item.reviewer == w["boss"]

    result = run(
        items_decide,
        actor=w["boss"],
        source="workspace",
        items=[item.pk],
        decision="REVOKE",
        comment="Left the payments team",
    )
    req = Request.objects.get(pk=result.requests[0])
    assert req.type == RequestType.REVOKE_ENTITLEMENT and req.source == "certification"
    assert req.requester == w["boss"] and req.beneficiary == w["ana"]
    assert "Left the payments team" in req.justification
    item.refresh_from_db()
    assert item.decision == Decision.REVOKE and item.decided_by == w["boss"] and item.request == req
    assert item.outcome == Outcome.REVOKING
    # the pipeline applied it and wrote a provisioning entry; the adapter reports success
    assert req.status == RequestStatus.WAITING_PROVISIONING
    assert not EntitlementMembership.objects.filter(pk=membership.pk).exists()
    entry = ProvisioningEntry.objects.get(request=req)
    assert entry.event_type == "REVOKE_ENTITLEMENT"
    request_provisioning_result(request=req, ok=True, detail="removed from the group")
    outcomes_refresh(CertificationItem.objects.filter(pk=item.pk))
    item.refresh_from_db()
    assert item.outcome == Outcome.REVOKED
    assert AuditEvent.objects.filter(action="certification_item.decide", object_id=str(item.pk)).exists()


def test_a_failed_revocation_is_rolled_back_and_the_item_says_so(world, postgres, run):
    w = world
    erp = w["erp"]
    erp.provisioning_modes = {**erp.provisioning_modes, "REVOKE_ENTITLEMENT": ProvisioningMode.AUTOMATIC}
    erp.save()
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    item = item_of(campaign, ObjectKind.ENTITLEMENT)
    result = run(items_decide, actor=w["boss"], source="workspace", items=[item.pk], decision="REVOKE")
    req = Request.objects.get(pk=result.requests[0])
    request_provisioning_result(request=req, ok=False, detail="the application refused")
    req.refresh_from_db()
    assert req.status == RequestStatus.FAILED
    assert EntitlementMembership.objects.filter(account__owner=w["ana"], entitlement=w["pay"]).exists()
    outcomes_refresh(CertificationItem.objects.all())
    item.refresh_from_db()
    assert item.outcome == Outcome.REVOKE_FAILED


def test_keep_records_reviewer_and_comment_and_closes_the_task_when_all_decided(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    ids = list(CertificationItem.objects.filter(campaign=campaign).values_list("pk", flat=True))
    task = Task.objects.get(kind=TaskKind.CERTIFICATION, assignees=w["boss"])
    items_decide(actor=w["boss"], source="workspace", items=ids[:1], decision="KEEP", comment="needed")
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN  # one left
    items_decide(actor=w["boss"], source="workspace", items=ids[1:], decision="KEEP", comment="needed")
    task.refresh_from_db()
    assert task.status == TaskStatus.APPROVED
    for item in CertificationItem.objects.filter(pk__in=ids):
        assert (item.decision, item.decided_by, item.comment, item.outcome) == (
            Decision.KEEP,
            w["boss"],
            "needed",
            Outcome.KEPT,
        )
    assert not Request.objects.exists()


def test_only_the_reviewer_decides(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    item = item_of(campaign, ObjectKind.ACCOUNT)
    for intruder in (w["ana"], w["bob"], w["admin"]):  # the beneficiary, a peer, even an administrator
        with pytest.raises(NotAllowed, match="You do not review"):
            items_decide(actor=intruder, source="api", items=[item.pk], decision="REVOKE")
    item.refresh_from_db()
    assert item.decision == Decision.NONE and not Request.objects.exists()


def test_a_decision_on_a_closed_campaign_is_refused(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    item = item_of(campaign, ObjectKind.ACCOUNT)
    campaign_cancel(actor=w["admin"], source="console", campaign=campaign)
    with pytest.raises(Conflict, match="cancelled: item .* can no longer be decided"):
        items_decide(actor=w["boss"], source="workspace", items=[item.pk], decision="KEEP")
    item.refresh_from_db()
    assert item.decision == Decision.NONE


def test_deciding_twice_says_who_decided(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    ids = list(CertificationItem.objects.filter(campaign=campaign).values_list("pk", flat=True))
    items_decide(actor=w["boss"], source="workspace", items=ids[:1], decision="KEEP")
    with pytest.raises(Conflict, match="already decided \\(keep\\) by boss"):
        items_decide(actor=w["boss"], source="workspace", items=ids, decision="REVOKE")
    # all or nothing: the other item was not revoked either
    assert CertificationItem.objects.get(pk=ids[1]).decision == Decision.NONE
    assert not Request.objects.exists()


def test_undecided_revoked_at_the_end_and_a_refused_revoke_is_reported(world, postgres, run):
    w = world
    certification_policy_update(
        actor=w["admin"], source="console", policy=w["policy"], data={"include_accounts": False}
    )
    give(w["bob"], w["pay"])
    membership = give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    # the membership goes by another way before the end: its revoke request cannot be made
    EntitlementMembership.objects.filter(pk=membership.pk).delete()
    Account.objects.filter(owner=w["ana"]).update(status=AccountStatus.ACTIVE)
    result = run(campaign_finish, actor=w["admin"], source="console", campaign=campaign)
    assert result.revoke_requests == 1 and result.revoke_refused == 1  # bob's goes, ana's is refused
    refused = CertificationItem.objects.get(campaign=campaign, beneficiary=w["ana"])
    assert refused.outcome == Outcome.REVOKE_FAILED and "refused" in refused.comment


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_deciding_the_same_item_at_once_one_wins(postgres):
    admin = UserFactory(username="admin2", console_role="ADMINISTRATOR")
    r1, r2 = UserFactory(username="rev1"), UserFactory(username="rev2")
    queue = Queue.objects.create(name="Reviewers")
    queue.members.add(r1, r2)
    app = ResourceFactory(code="crm", name="CRM")
    ent = EntitlementFactory(resource=app, identifier="sales")
    give(UserFactory(username="carol"), ent)
    policy = certification_policy_create(
        actor=admin,
        source="console",
        code="q",
        name="Queue review",
        reviewer_kind="QUEUE",
        reviewer_queue=queue,
        include_accounts=False,
        include_roles=False,
    )
    campaign = campaign_start(actor=admin, source="console", policy=policy)
    item = CertificationItem.objects.get(campaign=campaign)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(user, decision):
        try:
            barrier.wait(timeout=10)
            items_decide(actor=user, source="workspace", items=[item.pk], decision=decision)
            outcomes[user.username] = "won"
        except Conflict as error:
            outcomes[user.username] = error.message
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(r1, "KEEP")),
        threading.Thread(target=decide, args=(r2, "KEEP")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(v == "won" for v in outcomes.values()) == [False, True]
    loser = next(v for v in outcomes.values() if v != "won")
    assert "already decided (keep)" in loser
    item.refresh_from_db()
    assert item.decision == Decision.KEEP
    assert AuditEvent.objects.filter(action="certification_item.decide").count() == 1
    # the queue's task closes with its last item
    assert Task.objects.get(kind=TaskKind.CERTIFICATION, queue=queue).status == TaskStatus.APPROVED


def test_policy_rules_give_clear_errors(world, postgres):
    w = world
    with pytest.raises(ValidationFailed, match="Name the user who reviews"):
        certification_policy_update(
            actor=w["admin"], source="console", policy=w["policy"], data={"reviewer_kind": "USER"}
        )
    with pytest.raises(ValidationFailed, match="at least one kind"):
        certification_policy_update(
            actor=w["admin"],
            source="console",
            policy=w["policy"],
            data={"include_accounts": False, "include_entitlements": False, "include_roles": False},
        )
    with pytest.raises(ValidationFailed, match="longer than the period"):
        certification_policy_update(
            actor=w["admin"], source="console", policy=w["policy"], data={"duration_days": 400}
        )
    w["policy"].refresh_from_db()
    assert w["policy"].reviewer_kind == "MANAGER" and w["policy"].duration_days == 14


def test_revoking_an_account_and_its_entitlement_makes_one_request(world, postgres, run):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    ids = list(CertificationItem.objects.filter(campaign=campaign).values_list("pk", flat=True))
    result = run(
        items_decide, actor=w["boss"], source="workspace", items=ids, decision="REVOKE", comment="left"
    )
    (req,) = Request.objects.filter(source="certification")
    assert req.type == RequestType.REVOKE_ACCOUNT and result.requests == [req.pk]
    assert set(CertificationItem.objects.filter(pk__in=ids).values_list("request_id", flat=True)) == {req.pk}
    assert not EntitlementMembership.objects.filter(account__owner=w["ana"]).exists()
