"""Attribute-change certification policies (seed 002, "Políticas baseadas em Mudanças de
Atributos"): a watched field of a user changes, from a service, the console or the API, and the
user's accesses go to review by their new manager; other changes start nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from blazon.errors import ValidationFailed
from certification.models import CampaignStatus, CertificationCampaign, CertificationItem, ObjectKind
from certification.services.campaigns import certification_run
from certification.services.policies import certification_policy_create, certification_policy_update
from directory.models import AttributeDefinition, AttributeScope
from directory.services.users import user_update
from tests.api.factories import UserFactory
from tests.api.helpers import client_for
from tests.certification.conftest import give
from tests.console.conftest import logged_in
from worklist.models import Task, TaskKind, TaskStatus


@pytest.fixture
def on_change(world):
    return certification_policy_create(
        actor=world["admin"],
        source="console",
        code="mover",
        name="Mover review",
        trigger="ATTRIBUTE_CHANGE",
        monitored_attributes=["job_title", "department"],
        reviewer_kind="MANAGER",
        fallback_reviewer=world["fallback"],
        duration_days=7,
        undecided_action="REVOKE",
    )


def test_a_watched_change_puts_the_users_accesses_to_review_by_the_new_manager(world, on_change):
    w = world
    give(w["ana"], w["pay"])
    give(w["bob"], w["view"])
    newboss = UserFactory(username="newboss")
    user_update(
        actor=w["admin"], source="console", user=w["ana"], data={"job_title": "Analyst", "manager": "newboss"}
    )
    campaign = CertificationCampaign.objects.get(policy=on_change)
    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.name == "Mover review: ana (job title changed)"
    assert campaign.ends_at - campaign.started_at == timedelta(days=7)
    items = CertificationItem.objects.filter(campaign=campaign)
    # ana's account on the ERP and her Payments membership; nothing of bob's
    assert {(i.kind, i.beneficiary.username, i.reviewer.username) for i in items} == {
        (ObjectKind.ACCOUNT, "ana", "newboss"),
        (ObjectKind.ENTITLEMENT, "ana", "newboss"),
    }
    assert (
        Task.objects.filter(kind=TaskKind.CERTIFICATION, status=TaskStatus.OPEN, assignees=newboss).count()
        == 1
    )
    assert campaign.undecided_action == "REVOKE"
    # the same change again finds her accesses already under review: no second campaign
    user_update(actor=w["admin"], source="console", user=w["ana"], data={"department": "Treasury"})
    assert CertificationCampaign.objects.filter(policy=on_change).count() == 1


def test_other_changes_inactive_policies_and_users_without_access_start_nothing(world, on_change):
    w = world
    give(w["ana"], w["pay"])
    user_update(actor=w["admin"], source="console", user=w["ana"], data={"last_name": "Costa"})
    assert not CertificationCampaign.objects.exists()
    # bob holds nothing: his change is saved, no campaign
    user_update(actor=w["admin"], source="console", user=w["bob"], data={"job_title": "Buyer"})
    w["bob"].refresh_from_db()
    assert w["bob"].job_title == "Buyer" and not CertificationCampaign.objects.exists()
    certification_policy_update(actor=w["admin"], source="console", policy=on_change, data={"active": False})
    user_update(actor=w["admin"], source="console", user=w["ana"], data={"job_title": "Analyst"})
    assert not CertificationCampaign.objects.exists()
    # the periodic run never starts an attribute-change policy on its own
    certification_policy_update(actor=w["admin"], source="console", policy=on_change, data={"active": True})
    assert certification_run().started == 1  # the fixture's periodic policy only
    assert not CertificationCampaign.objects.filter(policy=on_change).exists()


def test_an_api_change_of_an_administrator_defined_attribute_starts_a_review(
    world, django_capture_on_commit_callbacks
):
    w = world
    AttributeDefinition.objects.create(scope=AttributeScope.USER, name="cost_center", label="Cost center")
    policy = certification_policy_create(
        actor=w["admin"],
        source="console",
        code="cc",
        name="Cost centre moves",
        trigger="ATTRIBUTE_CHANGE",
        monitored_attributes=["attributes.cost_center"],
    )
    give(w["ana"], w["pay"])
    # through the request pipeline, as an integrator changes a user (UPDATE_USER)
    body = {
        "type": "UPDATE_USER",
        "beneficiary": "ana",
        "payload": {"changes": {"attributes": {"cost_center": "CC-9"}}},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(w["admin"]).post("/api/v1/requests/", body, format="json")
    assert response.status_code == 201, response.content
    campaign = CertificationCampaign.objects.get(policy=policy)
    assert campaign.name == "Cost centre moves: ana (cost center changed)"
    assert CertificationItem.objects.filter(campaign=campaign, beneficiary=w["ana"]).count() == 2


def test_bad_policies_are_refused_with_the_field_to_fix(world):
    w = world
    with pytest.raises(ValidationFailed) as nothing:
        certification_policy_create(
            actor=w["admin"], source="console", code="x", name="X", trigger="ATTRIBUTE_CHANGE"
        )
    assert "monitored_attributes" in nothing.value.fields
    with pytest.raises(ValidationFailed) as unknown:
        certification_policy_create(
            actor=w["admin"],
            source="console",
            code="x",
            name="X",
            trigger="ATTRIBUTE_CHANGE",
            monitored_attributes=["salary"],
        )
    assert "Unknown attribute 'salary'" in str(unknown.value.fields["monitored_attributes"])
    api = client_for(w["admin"])
    bad = api.post(
        "/api/v1/certification-policies/",
        {"code": "y", "name": "Y", "trigger": "ATTRIBUTE_CHANGE", "monitored_attributes": ["nope"]},
        format="json",
    )
    assert bad.status_code == 400 and "monitored_attributes" in bad.json()["error"]["fields"]


def test_the_console_creates_and_shows_an_attribute_change_policy(world):
    admin = logged_in(world["admin"])
    form = admin.get("/console/certification/policies/new/")
    assert form.status_code == 200 and 'value="attributes.' not in form.content.decode()
    assert "Job title" in form.content.decode()
    response = admin.post(
        "/console/certification/policies/new/",
        {
            "code": "movers",
            "name": "Movers",
            "active": "on",
            "include_accounts": "on",
            "include_entitlements": "on",
            "reviewer_kind": "MANAGER",
            "trigger": "ATTRIBUTE_CHANGE",
            "monitored_attributes": ["job_title", "manager"],
            "period_days": "180",
            "duration_days": "10",
            "undecided_action": "KEEP",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    page = admin.get(response["Location"]).content.decode()
    assert "when a user's job title, manager changes" in page
