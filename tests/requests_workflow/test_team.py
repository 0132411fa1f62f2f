"""The workspace for managers (issue 13 item 2): "My team" lists the people who report to me and
what they hold; from a person's page I inactivate, activate or revoke them, or revoke what they
were given by hand — each a workspace request, so policies apply. Nobody else's people are
reachable. The home page says what needs me: tasks by due date, my requests in flight, accesses
ending soon, my team."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directory.models import EntitlementMembership, RoleMembership, Source, UserStatus
from requests_workflow.models import Request, RequestStatus
from requests_workflow.services.requests import request_create
from tests.api.factories import AccountFactory, UserFactory
from tests.console.conftest import logged_in
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory
from worklist.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    def call(client, url, data=None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {})

    return call


def test_my_team_lists_my_reports_only(company):
    boss, alice = company["boss"], company["alice"]
    UserFactory(username="zed", manager=company["owner"])  # someone else's report
    client = logged_in(boss)
    page = client.get(reverse("workspace_requests:team")).content.decode()
    assert "alice" in page and "zed" not in page
    assert reverse("workspace_requests:team") in client.get(reverse("workspace:home")).content.decode()
    # a person who manages nobody has no My team link and an empty list
    eve = logged_in(company["eve"])
    assert reverse("workspace_requests:team") not in eve.get(reverse("workspace:home")).content.decode()
    assert "Nobody reports to you." in eve.get(reverse("workspace_requests:team")).content.decode()
    # and cannot open alice's page or act on her: 404, not 403 (who reports to whom stays private)
    assert eve.get(reverse("workspace_requests:team_member", args=[alice.pk])).status_code == 404
    assert eve.post(reverse("workspace_requests:team_action", args=[alice.pk, "revoke"])).status_code == 404
    assert not Request.objects.exists()


def test_manager_inactivates_and_activates_a_report_through_requests(company, post):
    boss, alice = company["boss"], company["alice"]
    client = logged_in(boss)
    page = client.get(reverse("workspace_requests:team_member", args=[alice.pk])).content.decode()
    assert reverse("workspace_requests:team_action", args=[alice.pk, "inactivate"]) in page
    assert reverse("workspace_requests:team_action", args=[alice.pk, "activate"]) not in page  # she is active
    response = post(
        client,
        reverse("workspace_requests:team_action", args=[alice.pk, "inactivate"]),
        {"justification": "leave"},
    )
    assert response.status_code == 302
    req = Request.objects.get(type="INACTIVATE_USER", beneficiary=alice)
    assert req.source == "workspace" and req.requester == boss and req.status == RequestStatus.FINISHED
    alice.refresh_from_db()
    assert alice.status == UserStatus.INACTIVE
    post(client, reverse("workspace_requests:team_action", args=[alice.pk, "activate"]))
    alice.refresh_from_db()
    assert alice.status == UserStatus.ACTIVE
    # an action the status does not allow: 409 and nothing made
    response = post(client, reverse("workspace_requests:team_action", args=[alice.pk, "activate"]))
    assert response.status_code == 409
    assert Request.objects.filter(type="ACTIVATE_USER").count() == 1


def test_an_approval_policy_applies_to_a_managers_revoke(company, post):
    boss, alice = company["boss"], company["alice"]
    level = ApprovalLevelFactory(
        policy=ApprovalPolicyFactory(request_types=["REVOKE_USER"]), approver_kind="USERS"
    )
    level.users.add(company["owner"])
    post(
        logged_in(boss),
        reverse("workspace_requests:team_action", args=[alice.pk, "revoke"]),
        {"justification": "left"},
    )
    assert Request.objects.get(type="REVOKE_USER").status == RequestStatus.WAITING_APPROVAL
    alice.refresh_from_db()
    assert alice.status == UserStatus.ACTIVE
    # the owner sees it on their home page, due soonest first
    home = logged_in(company["owner"]).get(reverse("workspace:home")).content.decode()
    title = Task.objects.get(request__type="REVOKE_USER").title
    assert 'id="home-tasks"' in home and title in home


def test_manager_revokes_an_entitlement_given_by_hand_not_one_a_role_gives(company, post, run):
    boss, alice, ent = company["boss"], company["alice"], company["ent"]
    account = AccountFactory(resource=company["app"], owner=alice, identifier="alice-erp")
    membership = EntitlementMembership.objects.create(account=account, entitlement=ent)
    client = logged_in(boss)
    url = reverse("workspace_requests:team_revoke", args=[alice.pk, "entitlement", membership.pk])
    assert url in client.get(reverse("workspace_requests:team_member", args=[alice.pk])).content.decode()
    post(client, url, {"justification": "changed teams"})
    assert Request.objects.get(type="REVOKE_ENTITLEMENT").status == RequestStatus.FINISHED
    assert not EntitlementMembership.objects.filter(pk=membership.pk).exists()
    # a role membership given by hand is revoked the same way
    run(
        request_create, actor=company["admin"], source=Source.CONSOLE, request_type="GRANT_ROLE",
        beneficiary=alice, role=company["role"], justification="x",
    )  # fmt: skip
    assert RoleMembership.objects.filter(user=alice, role=company["role"]).exists()
    post(client, reverse("workspace_requests:team_revoke", args=[alice.pk, "role", company["role"].pk]))
    assert not RoleMembership.objects.filter(user=alice, role=company["role"]).exists()


def test_home_says_what_needs_me(company, run):
    alice = company["alice"]
    policy = ApprovalPolicyFactory(request_types=["GRANT_ENTITLEMENT"])
    ApprovalLevelFactory(policy=policy, approver_kind="USERS").users.add(company["owner"])
    req = run(
        request_create, actor=alice, source=Source.WORKSPACE, request_type="GRANT_ENTITLEMENT",
        beneficiary=alice, entitlement=company["ent"], justification="month-end",
    )  # fmt: skip
    home = logged_in(alice).get(reverse("workspace:home")).content.decode()
    assert 'id="home-requests"' in home and f"#{req.pk} Grant entitlement" in home
    assert "Nothing waits for you." in home
    # the approver: the task, and an overdue one flagged
    Task.objects.filter(request=req).update(due_at=timezone.now() - timedelta(hours=1))
    home = logged_in(company["owner"]).get(reverse("workspace:home")).content.decode()
    assert "1 task overdue." in home and "overdue</strong>" in home
    # an access ending within two weeks is announced to its holder
    Request.objects.filter(pk=req.pk).update(
        status=RequestStatus.FINISHED, end_at=timezone.now() + timedelta(days=3)
    )
    home = logged_in(alice).get(reverse("workspace:home")).content.decode()
    assert 'id="home-expiring"' in home and "Payments" in home
