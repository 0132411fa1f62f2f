"""/api/v1/certification-policies/, -campaigns/ (start, cancel, finish, report) and -items/
(decide one or many), with their denied cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from certification.models import (
    CampaignStatus,
    CertificationCampaign,
    CertificationItem,
    CertificationPolicy,
    Decision,
)
from requests_workflow.models import Request
from tests.api.helpers import assert_error, client_for
from tests.certification.conftest import give

pytestmark = pytest.mark.django_db


def test_policies_crud_and_least_privilege(world, postgres):
    w = world
    admin, auditor, boss = client_for(w["admin"]), client_for(w["auditor"]), client_for(w["boss"])
    body = {
        "code": "critical-monthly",
        "name": "Critical accesses, monthly",
        "criticalities": ["CRITICAL"],
        "reviewer_kind": "OWNER",
        "fallback_reviewer": "fallback",
        "period_days": 30,
        "duration_days": 7,
        "undecided_action": "REVOKE",
    }
    created = admin.post("/api/v1/certification-policies/", body, format="json")
    assert created.status_code == 201, created.content
    assert (
        created.json()["criticalities"] == ["CRITICAL"] and created.json()["fallback_reviewer"] == "fallback"
    )
    pk = created.json()["id"]
    assert auditor.get(f"/api/v1/certification-policies/{pk}/").json()["code"] == "critical-monthly"
    assert_error(auditor.post("/api/v1/certification-policies/", {**body, "code": "x"}, format="json"), 403)
    assert_error(auditor.patch(f"/api/v1/certification-policies/{pk}/", {"name": "x"}, format="json"), 403)
    assert_error(boss.get("/api/v1/certification-policies/"), 403)
    bad = admin.post(
        "/api/v1/certification-policies/", {**body, "code": "y", "duration_days": 90}, format="json"
    )
    assert "duration_days" in assert_error(bad, 400)["fields"]
    assert_error(admin.post("/api/v1/certification-policies/", body, format="json"), 409)
    assert admin.delete(f"/api/v1/certification-policies/{pk}/").status_code == 204
    assert not CertificationPolicy.objects.filter(code="critical-monthly").exists()


def test_campaign_start_follow_report_and_finish(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    admin, auditor = client_for(w["admin"]), client_for(w["auditor"])
    assert_error(
        auditor.post("/api/v1/certification-campaigns/start/", {"policy": "quarterly"}, format="json"), 403
    )
    started = admin.post("/api/v1/certification-campaigns/start/", {"policy": "quarterly"}, format="json")
    assert started.status_code == 201, started.content
    campaign = started.json()
    assert (
        campaign["status"] == "RUNNING" and campaign["item_count"] == 2 and campaign["policy"] == "quarterly"
    )
    # nothing left eligible: a clear refusal, nothing written
    again = admin.post("/api/v1/certification-campaigns/start/", {"policy": "quarterly"}, format="json")
    assert assert_error(again, 400, "empty_campaign")
    assert CertificationCampaign.objects.count() == 1
    report = auditor.get(f"/api/v1/certification-campaigns/{campaign['id']}/report/")
    assert report.status_code == 200
    assert {row["beneficiary"] for row in report.json()} == {"ana"}
    assert {row["decision"] for row in report.json()} == {"Not decided"}
    assert_error(auditor.post(f"/api/v1/certification-campaigns/{campaign['id']}/finish/"), 403)
    finished = admin.post(f"/api/v1/certification-campaigns/{campaign['id']}/finish/")
    assert finished.json() == {"kept": 0, "revoke_requests": 2, "revoke_refused": 0}
    assert_error(
        admin.post(f"/api/v1/certification-campaigns/{campaign['id']}/cancel/", {}, format="json"), 409
    )


def test_campaign_from_a_selection(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    give(w["bob"], w["view"])
    admin = client_for(w["admin"])
    ends = (timezone.now() + timedelta(days=7)).isoformat()
    started = admin.post(
        "/api/v1/certification-campaigns/start/",
        {
            "name": "Critical only",
            "ends_at": ends,
            "undecided_action": "KEEP",
            "scope": {"kinds": ["ENTITLEMENT"], "criticalities": ["CRITICAL"], "reviewer_kind": "MANAGER"},
        },
        format="json",
    )
    assert started.status_code == 201, started.content
    (item,) = CertificationItem.objects.filter(campaign_id=started.json()["id"])
    assert item.entitlement == w["pay"] and item.beneficiary == w["ana"]
    no_end = admin.post("/api/v1/certification-campaigns/start/", {"name": "x", "scope": {}}, format="json")
    assert "ends_at" in assert_error(no_end, 400)["fields"]


def test_items_reviewers_see_and_decide_their_own(world, postgres, run):
    w = world
    give(w["ana"], w["pay"])
    give(w["eve"], w["pay"])  # reviewed by the fallback
    admin = client_for(w["admin"])
    campaign_id = admin.post(
        "/api/v1/certification-campaigns/start/", {"policy": "quarterly"}, format="json"
    ).json()["id"]
    boss, fallback, ana = client_for(w["boss"]), client_for(w["fallback"]), client_for(w["ana"])
    mine = boss.get("/api/v1/certification-items/").json()["results"]
    assert {i["beneficiary"] for i in mine} == {"ana"} and len(mine) == 2
    others = CertificationItem.objects.get(beneficiary=w["eve"], kind="ENTITLEMENT")
    assert_error(boss.get(f"/api/v1/certification-items/{others.pk}/"), 404)
    assert ana.get("/api/v1/certification-items/").json()["results"] == []  # the beneficiary reviews nothing
    # the auditor reads every item but decides none
    assert len(client_for(w["auditor"]).get("/api/v1/certification-items/").json()["results"]) == 4
    assert_error(
        client_for(w["auditor"]).post(
            f"/api/v1/certification-items/{others.pk}/decide/", {"decision": "KEEP"}, format="json"
        ),
        403,
    )
    kept = fallback.post(
        f"/api/v1/certification-items/{others.pk}/decide/",
        {"decision": "KEEP", "comment": "ok"},
        format="json",
    )
    assert kept.status_code == 200 and kept.json()["kept"] == [others.pk]
    ids = [i["id"] for i in mine]
    assert_error(
        boss.post(
            "/api/v1/certification-items/decide-many/", {"items": ids, "decision": "MAYBE"}, format="json"
        ),
        400,
    )
    revoked = boss.post(
        "/api/v1/certification-items/decide-many/",
        {"items": ids, "decision": "REVOKE", "comment": "moved"},
        format="json",
    )
    assert revoked.status_code == 200, revoked.content
    # ana's account and her entitlement on it: one request (the account's takes the entitlement)
    assert len(revoked.json()["requests"]) == 1 and len(revoked.json()["revoked"]) == 2
    assert Request.objects.filter(source="certification", requester=w["boss"]).count() == 1
    again = boss.post(
        "/api/v1/certification-items/decide-many/", {"items": ids, "decision": "KEEP"}, format="json"
    )
    assert_error(again, 409, "already_decided")
    assert CertificationItem.objects.filter(pk__in=ids, decision=Decision.REVOKE).count() == 2
    client_for(w["admin"]).post(
        f"/api/v1/certification-campaigns/{campaign_id}/cancel/", {"reason": "x"}, format="json"
    )
    assert CertificationCampaign.objects.get(pk=campaign_id).status == CampaignStatus.CANCELLED
    late = fallback.post(
        f"/api/v1/certification-items/{others.pk}/decide/", {"decision": "REVOKE"}, format="json"
    )
    assert_error(late, 409)


def test_anonymous_is_refused(world, postgres):
    for url in (
        "/api/v1/certification-policies/",
        "/api/v1/certification-campaigns/",
        "/api/v1/certification-items/",
    ):
        assert APIClient().get(url).status_code == 401
