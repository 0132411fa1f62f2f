"""Console pages of authentication policies: CRUD with ordered rules (administrators only,
audited), clear errors on bad input with nothing changed, and the preview."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from authn.models import AuthenticationPolicy
from authn.services import policy_create
from blazon.audit.models import AuditEvent
from tests.authn.conftest import example_policy

pytestmark = pytest.mark.django_db


def rules_post(*rules, initial=0):
    data = {
        "rules-TOTAL_FORMS": str(len(rules)),
        "rules-INITIAL_FORMS": str(initial),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "20",
    }
    for i, rule in enumerate(rules):
        data.update({f"rules-{i}-timezone": "UTC", f"rules-{i}-outcome": "ALLOW", f"rules-{i}-device": ""})
        for key, value in rule.items():
            data[f"rules-{i}-{key}"] = value
    return data


EXAMPLE = {
    "name": "Office hours",
    "priority": "10",
    "is_default": "on",
    **rules_post(
        {
            "networks": "10.20.0.0/16",
            "time_start": "06:00",
            "time_end": "22:00",
            "timezone": "America/Sao_Paulo",
            "factors": ["password"],
        },
        {
            "time_start": "06:00",
            "time_end": "22:00",
            "timezone": "America/Sao_Paulo",
            "factors": ["password", "totp"],
        },
        {"outcome": "DENY"},
    ),
}


def test_administrator_creates_the_example_policy(admin):
    response = admin.post(reverse("authn:policy_new"), EXAMPLE)
    assert response.status_code == 302, response.content.decode()[:3000]
    policy = AuthenticationPolicy.objects.get(name="Office hours")
    rules = list(policy.rules.order_by("position"))
    assert [r.factors for r in rules] == [["password"], ["password", "totp"], []]
    assert rules[0].networks == ["10.20.0.0/16"] and rules[2].outcome == "DENY"
    event = AuditEvent.objects.get(action="authn.policy_created")
    assert event.new_values["rules"][1]["factors"] == ["password", "totp"]
    listing = admin.get(reverse("authn:policies")).content.decode()
    assert "Office hours" in listing and "10.20.0.0/16" in listing


def test_edit_reorders_rules_and_audits_the_change(admin):
    policy = example_policy()
    data = {
        "name": "Office",
        "priority": "10",
        "is_default": "on",
        **rules_post({"outcome": "DENY", "DELETE": ""}, {"factors": ["password"]}, initial=0),
    }
    response = admin.post(reverse("authn:policy_edit", args=[policy.pk]), data)
    assert response.status_code == 302
    assert [r.outcome for r in policy.rules.order_by("position")] == ["DENY", "ALLOW"]
    event = AuditEvent.objects.get(action="authn.policy_updated")
    assert len(event.old_values["rules"]) == 3 and len(event.new_values["rules"]) == 2


def test_order_field_rearranges_rules(admin):
    policy = example_policy()
    data = {
        "name": "Office",
        "priority": "10",
        "is_default": "on",
        **rules_post({"factors": ["password"], "ORDER": "2"}, {"outcome": "DENY", "ORDER": "1"}),
    }
    assert admin.post(reverse("authn:policy_edit", args=[policy.pk]), data).status_code == 302
    assert [r.outcome for r in policy.rules.order_by("position")] == ["DENY", "ALLOW"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"networks": "10.0.0.300/8", "factors": ["password"]}, "is not a network in CIDR form"),
        ({"time_start": "06:00", "factors": ["password"]}, "needs both a start and an end"),
        ({"outcome": "ALLOW", "networks": "10.0.0.0/8"}, "needs at least one factor"),
        ({"outcome": "ALLOW", "DELETE": "on"}, "needs at least one rule"),
        ({"failures_at_least": "3", "factors": ["password"]}, "need both a count and a number of minutes"),
    ],
)
def test_bad_rules_are_explained_and_nothing_changes(admin, rule, message):
    response = admin.post(reverse("authn:policy_new"), {"name": "Bad", "priority": "1", **rules_post(rule)})
    assert response.status_code == 400 and message in response.content.decode()
    assert not AuthenticationPolicy.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="authn.").exists()


def test_bad_form_fields_are_explained(admin):
    response = admin.post(
        reverse("authn:policy_new"),
        {"name": "x", "priority": "-1", **rules_post({"timezone": "Mars/Olympus", "factors": ["bogus"]})},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Mars/Olympus is not one of the available choices" in page
    assert not AuthenticationPolicy.objects.exists()


def test_duplicate_name_is_refused(admin):
    example_policy()
    response = admin.post(reverse("authn:policy_new"), {**EXAMPLE, "name": "Office"})
    page = response.content.decode()
    assert response.status_code == 400 and "already exists" in page, re.findall(
        r"(?:errorlist|callout)[^>]*>(.*?)</", page
    )
    assert AuthenticationPolicy.objects.count() == 1


def test_a_new_default_takes_over_from_the_old_one(admin):
    old = example_policy()
    admin.post(reverse("authn:policy_new"), {**EXAMPLE, "name": "New default"})
    old.refresh_from_db()
    assert not old.is_default
    assert AuthenticationPolicy.objects.get(is_default=True).name == "New default"


def test_delete_is_audited(admin):
    policy = example_policy()
    assert admin.post(reverse("authn:policy_delete", args=[policy.pk])).status_code == 302
    assert not AuthenticationPolicy.objects.exists()
    assert AuditEvent.objects.get(action="authn.policy_deleted").old_values["name"] == "Office"


def test_helpdesk_and_auditor_may_look_but_not_change(helpdesk, auditor):
    policy = example_policy()
    for client in (helpdesk, auditor):
        assert client.get(reverse("authn:policies")).status_code == 200
        assert client.get(reverse("authn:policy_new")).status_code == 403
        assert client.post(reverse("authn:policy_new"), EXAMPLE).status_code == 403
        assert client.post(reverse("authn:policy_edit", args=[policy.pk]), EXAMPLE).status_code == 403
        assert client.post(reverse("authn:policy_delete", args=[policy.pk])).status_code == 403
    assert AuthenticationPolicy.objects.count() == 1 and policy.rules.count() == 3


def test_plain_users_and_anonymous_are_kept_out(plain, client):
    for name in ("authn:policies", "authn:policy_new", "authn:policy_preview"):
        assert plain.get(reverse(name)).status_code == 403
        response = client.get(reverse(name))
        assert response.status_code == 302 and response.url.startswith("/login/?next=")


def test_policy_form_needs_csrf(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(reverse("authn:policy_new"), EXAMPLE).status_code == 403
    assert not AuthenticationPolicy.objects.exists()


def test_preview_answers_which_policy_and_factors(helpdesk, alice):
    example_policy()
    url = reverse("authn:policy_preview")
    inside = helpdesk.get(url, {"username": "alice", "ip": "10.20.1.1", "at": "2026-11-23T12:00-03:00"})
    assert "Allow with Password<" in inside.content.decode().replace("\n", "")
    outside = helpdesk.get(url, {"username": "alice", "ip": "8.8.8.8", "at": "2026-11-23T12:00-03:00"})
    assert "Allow with Password + Authenticator app (TOTP)" in outside.content.decode()
    night = helpdesk.get(url, {"username": "alice", "ip": "10.20.1.1", "at": "2026-11-23T23:00-03:00"})
    assert "Deny" in night.content.decode() and "#3" in night.content.decode()
    bad = helpdesk.get(url, {"username": "alice", "ip": "not-an-ip", "at": "yesterday"})
    assert bad.status_code == 400 and "Enter a valid IPv4 or IPv6 address" in bad.content.decode()


def test_policy_list_query_count_does_not_grow_with_policies(admin, django_assert_max_num_queries):
    from tests.api.factories import OrganizationFactory

    org = OrganizationFactory(code="org-q", name="Org Q")
    example_policy()
    for i in range(6):
        policy_create(
            actor=None,
            source="console",
            data={"name": f"p{i}", "priority": i, "organization_id": org.pk},
            rules=[{"outcome": "ALLOW", "factors": ["password"]}, {"outcome": "DENY"}],
        )
    with django_assert_max_num_queries(12):
        response = admin.get(reverse("authn:policies"))
    assert response.status_code == 200 and "Org Q" in response.content.decode()
