"""The console pages (policies, campaigns, progress, report CSV) and the reviewer's page in the
workspace (context, recommendation, bulk decisions), with their denied cases."""

from __future__ import annotations

import pytest
from django.test import Client

from certification.models import (
    CampaignStatus,
    CertificationCampaign,
    CertificationItem,
    CertificationPolicy,
    Decision,
)
from certification.services.campaigns import campaign_start
from requests_workflow.models import Request
from requests_workflow.services.requests import request_create
from sod.services.rules import sod_rule_create
from sod.services.scan import sod_scan
from tests.api.factories import UserFactory
from tests.certification.conftest import give
from worklist.models import Task, TaskKind

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_console_roles_read_administrators_change_others_refused(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    policy = w["policy"]
    auditor = login(w["auditor"])
    for url in (
        "/console/certification/policies/",
        f"/console/certification/policies/{policy.pk}/",
        "/console/certification/campaigns/",
        f"/console/certification/campaigns/{campaign.pk}/",
        f"/console/certification/campaigns/{campaign.pk}/report.csv",
    ):
        assert auditor.get(url).status_code == 200, url
    detail = auditor.get(f"/console/certification/campaigns/{campaign.pk}/").content.decode()
    assert "Progress: 0 of 2 decided" in detail and "boss" in detail
    report = b"".join(
        auditor.get(f"/console/certification/campaigns/{campaign.pk}/report.csv").streaming_content
    )
    assert b"beneficiary" in report and b"ana" in report and b"Payments (erp)" in report
    # an auditor changes nothing
    assert auditor.get("/console/certification/policies/new/").status_code == 403
    assert auditor.post(f"/console/certification/campaigns/{campaign.pk}/cancel/").status_code == 403
    assert auditor.post(f"/console/certification/policies/{policy.pk}/start/").status_code == 403
    assert CertificationCampaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING
    # a user without a console role sees none of it
    for url in ("/console/certification/policies/", f"/console/certification/campaigns/{campaign.pk}/"):
        assert login(w["boss"]).get(url).status_code == 403


def test_admin_creates_a_policy_starts_and_finishes_a_campaign(
    world, postgres, django_capture_on_commit_callbacks
):
    w = world
    give(w["ana"], w["pay"])
    admin = login(w["admin"])
    saved = admin.post(
        "/console/certification/policies/new/",
        {
            "code": "crit",
            "name": "Critical",
            "include_entitlements": "on",
            "criticalities": ["CRITICAL"],
            "reviewer_kind": "OWNER",
            "period_days": "30",
            "duration_days": "7",
            "undecided_action": "KEEP",
            "active": "on",
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    policy = CertificationPolicy.objects.get(code="crit")
    assert policy.criticalities == ["CRITICAL"] and not policy.include_accounts
    page = admin.get(f"/console/certification/policies/{policy.pk}/").content.decode()
    assert "0 account(s), 1 entitlement membership(s)" in page
    started = admin.post(f"/console/certification/policies/{policy.pk}/start/", follow=True)
    assert "1 item(s) to review" in started.content.decode()
    campaign = CertificationCampaign.objects.get(policy=policy)
    with django_capture_on_commit_callbacks(execute=True):
        done = admin.post(f"/console/certification/campaigns/{campaign.pk}/finish/", follow=True)
    assert "1 undecided item(s) kept" in done.content.decode()
    refused = admin.post(f"/console/certification/campaigns/{campaign.pk}/cancel/", follow=True)
    assert "is finished: it cannot be cancelled" in refused.content.decode()
    bad = admin.post(
        "/console/certification/policies/new/",
        {
            "code": "x",
            "name": "X",
            "reviewer_kind": "USER",
            "include_roles": "on",
            "period_days": "30",
            "duration_days": "7",
            "undecided_action": "KEEP",
        },
    )
    assert "Name the user who reviews" in bad.content.decode()
    assert not CertificationPolicy.objects.filter(code="x").exists()


def test_reviewer_page_shows_context_and_recommendation_and_decides_in_bulk(world, postgres, run):
    w = world
    # ana got Payments through a request approved by nobody (no policy): the lineage
    ana_account = give(w["ana"], w["view"]).account
    req = run(
        request_create,
        actor=w["admin"],
        source="api",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=w["ana"],
        entitlement=w["pay"],
        justification="month end",
    )
    assert req.status == "FINISHED"
    # four peers (Clerk, Finance) hold Reports; none holds Payments
    for n in range(4):
        give(UserFactory(username=f"peer{n}", job_title="Clerk", department="Finance"), w["view"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    boss = login(w["boss"])
    page = boss.get("/workspace/certification/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Payments (erp)" in html and "Reports (erp)" in html
    assert f"Request #{req.pk} by admin" in html
    assert "None of 5 peers (same job title and department) holds it." in html  # bob + 4 peers
    assert "4 of 5 peers (same job title and department) hold it." in html
    # bob reviews nothing and sees nothing; the beneficiary cannot decide her own
    assert "Nothing to review" in login(w["bob"]).get("/workspace/certification/").content.decode()
    ids = list(
        CertificationItem.objects.filter(campaign=campaign, beneficiary=w["ana"]).values_list("pk", flat=True)
    )
    refused = login(w["ana"]).post(
        "/workspace/certification/", {"items": ids, "decision": "KEEP"}, follow=True
    )
    assert "You do not review" in refused.content.decode()
    # bulk keep with a comment
    keep = [
        i.pk
        for i in CertificationItem.objects.filter(campaign=campaign, reviewer=w["boss"]).exclude(
            entitlement=w["pay"]
        )
    ]
    with_comment = boss.post(
        "/workspace/certification/", {"items": keep, "decision": "KEEP", "comment": "ok"}, follow=True
    )
    assert f"{len(keep)} access(es) kept." in with_comment.content.decode()
    revoke = CertificationItem.objects.get(campaign=campaign, entitlement=w["pay"]).pk
    with_request = boss.post(
        "/workspace/certification/", {"items": [revoke], "decision": "REVOKE"}, follow=True
    )
    assert "request(s) #" in with_request.content.decode()
    assert Request.objects.filter(source="certification", entitlement=w["pay"]).exists()
    assert not CertificationItem.objects.filter(
        campaign=campaign, reviewer=w["boss"], decision=Decision.NONE
    ).exists()
    assert CertificationItem.objects.get(account=ana_account, kind="ACCOUNT").decision == Decision.KEEP


def test_reviewer_page_names_sod_violations(world, postgres):
    w = world
    sod_rule_create(
        actor=w["admin"],
        source="console",
        code="r1",
        name="Pay vs report",
        severity="HIGH",
        sides=[["entitlement:erp/payments"], ["entitlement:erp/reports"]],
    )
    give(w["ana"], w["pay"])
    give(w["ana"], w["view"])
    sod_scan()
    campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    html = login(w["boss"]).get("/workspace/certification/").content.decode()
    assert "Pay vs report (open)" in html
    assert "Takes part in SoD violation(s)" in html


def test_the_task_in_my_tasks_leads_to_the_review_page(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    task = Task.objects.get(kind=TaskKind.CERTIFICATION, assignees=w["boss"])
    boss = login(w["boss"])
    tasks = boss.get("/workspace/requests/tasks/").content.decode()
    assert f"Certification campaign {campaign.name}" in tasks or f"Certification: {campaign.name}" in tasks
    page = boss.get(f"/workspace/requests/tasks/{task.pk}/")
    assert page.status_code == 302 and page["Location"].endswith(
        f"/workspace/certification/?campaign={campaign.pk}"
    )


def test_the_reviewers_home_page_says_how_many_reviews_wait(world, postgres):
    w = world
    give(w["ana"], w["pay"])
    campaign = campaign_start(actor=w["admin"], source="console", policy=w["policy"])
    home = login(w["boss"]).get("/workspace/").content.decode()
    assert 'id="home-reviews"' in home and campaign.name in home
    assert f"?campaign={campaign.pk}&amp;decision=NONE" in home
    # somebody with nothing to review sees no such panel
    assert 'id="home-reviews"' not in login(w["ana"]).get("/workspace/").content.decode()
