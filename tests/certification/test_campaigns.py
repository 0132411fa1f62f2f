"""Eligibility, campaign generation, reviewers and their fallback, closing and cancelling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.errors import ValidationFailed
from certification.models import (
    CampaignStatus,
    CertificationCampaign,
    CertificationItem,
    Decision,
    ObjectKind,
    Outcome,
)
from certification.services.campaigns import (
    campaign_cancel,
    campaign_finish,
    campaign_start,
    certification_run,
)
from certification.services.policies import certification_policy_update
from directory.models import Account, AccountStatus, EntitlementMembership, RoleResource
from directory.services import access
from requests_workflow.models import Request, RequestType
from tests.api.factories import EntitlementFactory, UserFactory
from tests.certification.conftest import give
from worklist.models import Task, TaskKind, TaskStatus

pytestmark = pytest.mark.django_db


def items(campaign):
    return {
        (
            i.kind,
            i.beneficiary.username,
            i.entitlement.identifier if i.entitlement else (i.role.code if i.role else ""),
        ): i
        for i in CertificationItem.objects.filter(campaign=campaign).select_related(
            "beneficiary", "entitlement", "role"
        )
    }


def test_eligibility_manual_active_certifiable_and_not_already_under_review(world, postgres):
    w = world
    give(w["ana"], w["pay"])  # manual account + manual membership: eligible
    RoleResource.objects.create(role=w["role"], resource=w["erp"])
    access.role_grant(actor=None, source="console", user=w["bob"], role=w["role"])
    # the role brought bob's account and Reports membership: both managed by the role
    assert Account.objects.get(owner=w["bob"]).management == "ROLE"
    assert EntitlementMembership.objects.get(account__owner=w["bob"]).management == "ROLE"
    inactive = give(w["eve"], w["pay"])
    Account.objects.filter(pk=inactive.account_id).update(status=AccountStatus.INACTIVE)
    hidden = EntitlementFactory(resource=w["erp"], identifier="hidden", certifiable=False)
    give(w["ana"], hidden)  # not certifiable

    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    got = items(campaign)
    assert set(got) == {
        ("ACCOUNT", "ana", ""),
        ("ENTITLEMENT", "ana", "payments"),
        ("ROLE", "bob", "accounting"),  # the role membership itself is manual: certified
    }
    # bob's account and Reports membership are managed by the role: certified through the role
    assert not CertificationItem.objects.filter(beneficiary=w["bob"]).exclude(kind=ObjectKind.ROLE).exists()
    # eve's account is inactive: neither it nor its membership
    assert not CertificationItem.objects.filter(beneficiary=w["eve"]).exists()
    assert campaign.item_count == 3

    # already in a certification in progress: a second campaign finds nothing
    with pytest.raises(ValidationFailed, match="No eligible access"):
        campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    assert CertificationItem.objects.count() == 3


def test_reviewers_manager_and_fallback(world, postgres):
    w = world
    give(w["ana"], w["pay"])  # manager boss
    give(w["eve"], w["pay"])  # no manager: fallback
    w["boss"].manager = None
    give(w["boss"], w["pay"])  # boss reviewing himself? his manager is nobody: fallback
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    got = items(campaign)
    assert got[("ENTITLEMENT", "ana", "payments")].reviewer == w["boss"]
    assert not got[("ENTITLEMENT", "ana", "payments")].reviewer_is_fallback
    assert got[("ENTITLEMENT", "eve", "payments")].reviewer == w["fallback"]
    assert got[("ENTITLEMENT", "eve", "payments")].reviewer_is_fallback
    # one task per reviewer, not per item
    tasks = Task.objects.filter(kind=TaskKind.CERTIFICATION, subject_id=campaign.pk)
    assert tasks.count() == 2
    assert {tuple(t.assignees.values_list("username", flat=True)) for t in tasks} == {
        ("boss",),
        ("fallback",),
    }


def test_owner_reviewer_who_is_the_beneficiary_goes_to_the_fallback(world, postgres):
    w = world
    certification_policy_update(
        actor=w["admin"],
        source="console",
        policy=w["policy"],
        data={"reviewer_kind": "OWNER", "include_accounts": False, "include_roles": False},
    )
    give(w["owner"], w["pay"])  # the owner holds the entitlement they own
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    got = items(campaign)
    assert got[("ENTITLEMENT", "ana", "payments")].reviewer == w["owner"]
    assert got[("ENTITLEMENT", "owner", "payments")].reviewer == w["fallback"]


def test_a_reviewer_who_left_is_replaced_by_the_fallback(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    type(w["boss"]).objects.filter(pk=w["boss"].pk).update(status="INACTIVE")
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    item = CertificationItem.objects.get(campaign=campaign, kind=ObjectKind.ENTITLEMENT)
    assert item.reviewer == w["fallback"] and item.reviewer_is_fallback


def test_generation_is_set_based(world, postgres):
    w = world
    for n in range(30):
        give(UserFactory(username=f"p{n}", manager=w["boss"]), w["pay"])
    with CaptureQueriesContext(connection) as small:
        campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    CertificationItem.objects.all().delete()
    for n in range(30, 90):
        give(UserFactory(username=f"p{n}", manager=w["boss"]), w["pay"])
    CertificationCampaign.objects.all().delete()
    with CaptureQueriesContext(connection) as big:
        campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    assert CertificationItem.objects.count() == 180  # 90 accounts + 90 memberships
    assert len(big.captured_queries) == len(small.captured_queries)


def test_finish_keeps_or_revokes_the_undecided(world, postgres, run):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])  # REVOKE undecided
    result = run(campaign_finish, actor=w["admin"], source="console", campaign=campaign)
    assert result.revoke_requests == 2 and result.revoke_refused == 0
    reqs = Request.objects.filter(source="certification")
    # one request: revoking the account takes its entitlement, whose item follows that request
    assert list(reqs.values_list("type", flat=True)) == [RequestType.REVOKE_ACCOUNT]
    membership_item = CertificationItem.objects.get(kind=ObjectKind.ENTITLEMENT)
    assert membership_item.request == reqs.get() and "revoked with its account" in membership_item.comment
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED
    assert not CertificationItem.objects.filter(active=True).exists()
    assert not Task.objects.filter(kind=TaskKind.CERTIFICATION, status=TaskStatus.OPEN).exists()
    assert AuditEvent.objects.filter(action="certification_campaign.finish").exists()


def test_finish_with_keep_writes_the_outcome_set_based(world, postgres):
    w = world
    certification_policy_update(
        actor=w["admin"], source="console", policy=w["policy"], data={"undecided_action": "KEEP"}
    )
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    result = campaign_finish(actor=w["admin"], source="console", campaign=campaign)
    assert result.kept == 2
    assert set(CertificationItem.objects.values_list("outcome", flat=True)) == {Outcome.KEPT}
    assert EntitlementMembership.objects.filter(account__owner=w["ana"]).exists()
    # after the campaign, the accesses are eligible again
    again = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    assert again.item_count == 2


def test_cancel_drops_undecided_items(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    campaign_cancel(actor=w["admin"], source="console", campaign=campaign, reason="wrong scope")
    assert set(CertificationItem.objects.values_list("outcome", "decision")) == {
        (Outcome.CANCELLED, Decision.NONE)
    }
    assert not Request.objects.exists()
    assert Task.objects.filter(kind=TaskKind.CERTIFICATION, status=TaskStatus.CANCELED).count() == 1


def test_periodic_run_starts_due_policies_and_finishes_ended_campaigns(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    result = certification_run()
    assert result.started == 1
    w["policy"].refresh_from_db()
    assert w["policy"].next_run_at is not None
    assert certification_run().started == 0  # not due again
    later = certification_run(now=timezone.now() + timedelta(days=15))
    assert later.finished == 1


def _finish_queries(w, n, run):
    CertificationCampaign.objects.all().delete()
    for i in range(n):
        give(UserFactory(username=f"r{n}-{i}", manager=w["boss"]), w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"], name=f"c{n}")
    with CaptureQueriesContext(connection) as queries:
        result = campaign_finish(actor=w["admin"], source="console", campaign=campaign)
    return result, len(queries.captured_queries)


def test_revoking_the_undecided_is_set_based_and_the_requests_are_processed(world, postgres, run):
    w = world
    small, small_queries = _finish_queries(w, 5, run)
    Request.objects.all().delete()
    big, big_queries = _finish_queries(w, 25, run)
    assert (small.revoke_requests, big.revoke_requests) == (10 + 0, 50 + 10)  # the first five again
    assert big_queries == small_queries
    reqs = Request.objects.filter(source="certification")
    assert reqs.count() == 30 and not reqs.filter(requester__isnull=False).exists()  # the accounts
    assert set(reqs.values_list("status", flat=True)) == {"NEW"}  # processed after commit
    item = CertificationItem.objects.filter(kind=ObjectKind.ENTITLEMENT, campaign__name="c25").first()
    assert item.decision == Decision.REVOKE and item.outcome == Outcome.REVOKING


def test_the_set_based_revocations_are_applied_after_commit(world, postgres, run):
    w = world
    give(w["ana"], w["pay"])
    give(w["bob"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    run(campaign_finish, actor=w["admin"], source="console", campaign=campaign)
    reqs = Request.objects.filter(source="certification")
    assert reqs.count() == 2  # the two accounts; their entitlements go with them
    assert set(reqs.values_list("status", flat=True)) == {"FINISHED"}  # no provisioning configured
    assert not EntitlementMembership.objects.filter(entitlement=w["pay"]).exists()
    assert not Account.objects.filter(owner__in=[w["ana"], w["bob"]], status=AccountStatus.ACTIVE).exists()


def test_entitlement_revocations_are_written_in_one_batch(world, postgres):
    w = world
    certification_policy_update(
        actor=w["admin"], source="console", policy=w["policy"], data={"include_accounts": False}
    )
    for n in range(6):
        give(UserFactory(username=f"e{n}", manager=w["boss"]), w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    with CaptureQueriesContext(connection) as queries:
        result = campaign_finish(actor=w["admin"], source="console", campaign=campaign)
    assert result.revoke_requests == 6
    assert Request.objects.filter(type=RequestType.REVOKE_ENTITLEMENT, source="certification").count() == 6
    assert not [q for q in queries.captured_queries if "SAVEPOINT" in q["sql"] and "RELEASE" in q["sql"]][6:]
