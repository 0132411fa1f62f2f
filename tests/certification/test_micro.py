"""Micro-certification: one access put to review on demand, with its end and revoke-on-expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from blazon.errors import ValidationFailed
from certification.models import CertificationCampaign, CertificationItem, Decision, Outcome
from certification.services.campaigns import certification_run
from certification.services.micro import micro_certification_start
from directory.models import EntitlementMembership, RoleResource
from directory.services import access
from requests_workflow.models import Request, RequestType
from tests.api.helpers import assert_error, client_for
from tests.certification.conftest import give

pytestmark = pytest.mark.django_db


def test_one_access_revoked_when_nobody_decides_by_the_end(world, postgres, run):
    w = world
    membership = give(w["ana"], w["pay"])
    give(w["ana"], w["view"])
    ends = timezone.now() + timedelta(days=3)
    campaign = micro_certification_start(
        actor=w["admin"],
        source="console",
        kind="ENTITLEMENT",
        access_id=membership.pk,
        ends_at=ends,
        undecided_action="REVOKE",
        reviewer=w["owner"],
    )
    (item,) = CertificationItem.objects.filter(campaign=campaign)
    assert item.membership_id == membership.pk and item.reviewer == w["owner"]
    assert campaign.name == "Micro-certification: Payments (erp) of " + str(w["ana"])
    # nobody decides; the beat at the end date revokes it through the pipeline
    run(certification_run, now=ends + timedelta(minutes=1))
    item.refresh_from_db()
    assert item.decision == Decision.REVOKE and item.outcome == Outcome.REVOKING
    req = item.request
    assert (
        req.type == RequestType.REVOKE_ENTITLEMENT
        and req.source == "certification"
        and req.status == "FINISHED"
    )
    assert not EntitlementMembership.objects.filter(pk=membership.pk).exists()
    assert EntitlementMembership.objects.filter(account__owner=w["ana"], entitlement=w["view"]).exists()


def test_an_access_that_is_not_eligible_is_refused_with_the_reason(world, postgres):
    w = world
    RoleResource.objects.create(role=w["role"], resource=w["erp"])  # the role brings the account too
    membership = access.role_grant(actor=None, source="console", user=w["bob"], role=w["role"])
    role_managed = EntitlementMembership.objects.get(account__owner=w["bob"], entitlement=w["view"])
    ends = timezone.now() + timedelta(days=3)
    with pytest.raises(ValidationFailed, match="managed by a role: certify the role membership"):
        micro_certification_start(
            actor=w["admin"],
            source="console",
            kind="ENTITLEMENT",
            access_id=role_managed.pk,
            ends_at=ends,
            undecided_action="KEEP",
        )
    micro_certification_start(
        actor=w["admin"],
        source="console",
        kind="ROLE",
        access_id=membership.pk,
        ends_at=ends,
        undecided_action="KEEP",
    )
    with pytest.raises(ValidationFailed, match="already under review"):
        micro_certification_start(
            actor=w["admin"],
            source="console",
            kind="ROLE",
            access_id=membership.pk,
            ends_at=ends,
            undecided_action="KEEP",
        )
    assert CertificationCampaign.objects.count() == 1


def test_console_and_api(world, postgres):
    w = world
    membership = give(w["ana"], w["pay"])
    admin = Client()
    admin.force_login(w["admin"])
    ends = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    missing = admin.post(
        "/console/certification/campaigns/micro/",
        {
            "kind": "ROLE",
            "person": "ana",
            "role": w["role"].pk,
            "ends_at": ends,
            "undecided_action": "REVOKE",
        },
    )
    assert "ana does not hold it." in missing.content.decode()
    done = admin.post(
        "/console/certification/campaigns/micro/",
        {
            "kind": "ENTITLEMENT",
            "person": "ana",
            "entitlement": w["pay"].pk,
            "ends_at": ends,
            "undecided_action": "REVOKE",
        },
        follow=True,
    )
    assert "sent to its reviewer" in done.content.decode()
    assert CertificationItem.objects.get(membership_id=membership.pk).reviewer == w["boss"]  # the manager
    auditor = Client()
    auditor.force_login(w["auditor"])
    assert auditor.get("/console/certification/campaigns/micro/").status_code == 403
    body = {
        "kind": "ACCOUNT",
        "access": membership.account_id,
        "ends_at": (timezone.now() + timedelta(days=2)).isoformat(),
        "undecided_action": "KEEP",
        "reviewer": "fallback",
    }
    assert_error(
        client_for(w["auditor"]).post("/api/v1/certification-campaigns/micro/", body, format="json"), 403
    )
    made = client_for(w["admin"]).post("/api/v1/certification-campaigns/micro/", body, format="json")
    assert made.status_code == 201, made.content
    assert (
        CertificationItem.objects.get(account_id=membership.account_id, kind="ACCOUNT").reviewer
        == w["fallback"]
    )
    gone = client_for(w["admin"]).post(
        "/api/v1/certification-campaigns/micro/", {**body, "access": 999999}, format="json"
    )
    assert "access" in assert_error(gone, 400)["fields"]
    assert not Request.objects.exists()
