"""The console kernel (blazon.console) as a user meets it: list pages filter, sort, page and
export what they show; a delete asks first and says what else goes; a user without the
capability is refused on list, edit and delete screens and nothing changes."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from blazon.console import PAGE_SIZE, what_else_goes
from directory.models import AttributeDefinition, Organization
from requests_workflow.models import ApprovalLevel, ApprovalPolicy
from tests.api.factories import (
    AccountFactory,
    AttributeDefinitionFactory,
    OrganizationFactory,
    ResourceFactory,
    UserFactory,
)
from tests.requests_workflow.factories import ApprovalLevelFactory, ApprovalPolicyFactory

pytestmark = pytest.mark.django_db

USERS = reverse("console:users")


def usernames(response) -> list[str]:
    return [u.username for u in response.context["object_list"]]


def test_list_searches_filters_and_sorts(admin):
    org = OrganizationFactory(code="legal", name="Legal")
    UserFactory(username="zoe", last_name="Adams", organization=org)
    UserFactory(username="yann", last_name="Brown", organization=org, status="INACTIVE")
    UserFactory(username="xavier", last_name="Clark")
    assert usernames(admin.get(USERS, {"organization": org.pk})) == ["yann", "zoe"]
    assert usernames(admin.get(USERS, {"organization": org.pk, "status": "INACTIVE"})) == ["yann"]
    assert usernames(admin.get(USERS, {"q": "clark"})) == ["xavier"]
    assert usernames(admin.get(USERS, {"organization": org.pk, "o": "-username"})) == ["zoe", "yann"]
    assert usernames(admin.get(USERS, {"organization": org.pk, "o": "name"})) == ["zoe", "yann"]
    # an unknown sort key is ignored rather than passed to the database
    assert admin.get(USERS, {"o": "password"}).status_code == 200


def test_list_pages(admin):
    org = OrganizationFactory(code="big", name="Big")
    for i in range(PAGE_SIZE + 3):
        UserFactory(username=f"user{i:03d}", organization=org)
    first = admin.get(USERS, {"organization": org.pk})
    assert len(first.context["object_list"]) == PAGE_SIZE
    second = admin.get(USERS, {"organization": org.pk, "page": 2})
    assert usernames(second) == [f"user{i:03d}" for i in range(PAGE_SIZE, PAGE_SIZE + 3)]


def test_csv_export_is_the_whole_filtered_selection_and_formula_safe(admin):
    org = OrganizationFactory(code="ops", name="Ops")
    for i in range(PAGE_SIZE + 1):
        UserFactory(username=f"ops{i:03d}", organization=org, department="=HYPERLINK(1)")
    UserFactory(username="outsider")
    response = admin.get(USERS, {"organization": org.pk, "export": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "blazon-users-" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["username"] for r in rows] == [f"ops{i:03d}" for i in range(PAGE_SIZE + 1)]
    assert {r["organization"] for r in rows} == {"Ops"}
    assert {r["department"] for r in rows} == {"'=HYPERLINK(1)"}


def test_accounts_export(admin):
    github = ResourceFactory(code="github", name="GitHub")
    AccountFactory(resource=github, identifier="a-1")
    response = admin.get(reverse("console:accounts"), {"resource": github.pk, "export": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["identifier"], r["resource"]) for r in rows] == [("a-1", "GitHub")]


def test_export_needs_the_list_capability(plain, client):
    assert plain.get(USERS, {"export": "csv"}).status_code == 403
    assert client.get(USERS, {"export": "csv"}).status_code == 302


def test_delete_confirmation_lists_what_else_goes(admin):
    policy = ApprovalPolicyFactory(name="Payments")
    ApprovalLevelFactory(policy=policy, position=1)
    ApprovalLevelFactory(policy=policy, position=2)
    assert what_else_goes(policy) == ([("approval levels", 2)], [])
    url = reverse("console_requests:policy_delete", args=[policy.pk])
    page = admin.get(url).content.decode()
    assert "Deleted with it:" in page and "2 approval levels" in page
    assert ApprovalLevel.objects.filter(policy=policy).count() == 2  # asking deletes nothing
    admin.post(url)
    assert not ApprovalPolicy.objects.filter(pk=policy.pk).exists()
    assert not ApprovalLevel.objects.filter(policy_id=policy.pk).exists()


def test_delete_confirmation_without_consequences_says_what_it_means(admin):
    org = OrganizationFactory(code="empty", name="Empty")
    page = admin.get(reverse("console:organization_delete", args=[org.pk])).content.decode()
    assert "Delete organization Empty" in page
    assert "It has no members and no sub-organizations" in page
    assert "Deleted with it:" not in page


def test_denied_on_list_edit_and_delete_changes_nothing(plain, helpdesk, client):
    org = OrganizationFactory(code="kept", name="Kept")
    definition = AttributeDefinitionFactory(name="badge", label="Badge")
    screens = [
        ("get", reverse("console:attributes"), {}),
        ("get", reverse("console:organization_edit", args=[org.pk]), {}),
        ("post", reverse("console:organization_edit", args=[org.pk]), {"code": "x", "name": "Changed"}),
        ("post", reverse("console:organization_new"), {"code": "new", "name": "New"}),
        ("get", reverse("console:organization_delete", args=[org.pk]), {}),
        ("post", reverse("console:organization_delete", args=[org.pk]), {}),
        ("post", reverse("console:attribute_delete", args=[definition.pk]), {}),
    ]
    for who in (plain, helpdesk):
        for method, url, data in screens:
            assert getattr(who, method)(url, data).status_code == 403, (method, url)
    assert plain.get(USERS).status_code == 403  # the lists need "view"
    for method, url, data in screens:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    org.refresh_from_db()
    assert (org.code, org.name) == ("kept", "Kept")
    assert not Organization.objects.filter(code="new").exists()
    assert AttributeDefinition.objects.filter(pk=definition.pk).exists()
    assert not AuditEvent.objects.exists()


def test_a_refused_delete_shows_why_and_keeps_the_object(admin):
    org = OrganizationFactory(code="busy", name="Busy")
    UserFactory(organization=org)
    page = admin.get(reverse("console:organization_delete", args=[org.pk])).content.decode()
    assert "This organization is in use:" in page and "1 user belongs to it" in page
    response = admin.post(reverse("console:organization_delete", args=[org.pk]))
    assert response.status_code == 200 and "still has 1 member(s)" in response.content.decode()
    assert Organization.objects.filter(pk=org.pk).exists()


def test_wrong_method_is_refused(admin):
    org = OrganizationFactory(code="m", name="M")
    assert admin.put(reverse("console:organization_delete", args=[org.pk])).status_code == 405
    assert admin.post(USERS).status_code == 405


def test_who_asks_is_checked_before_the_method(plain, client):
    org = OrganizationFactory(code="w", name="W")
    delete = reverse("console:organization_delete", args=[org.pk])
    assert plain.put(delete).status_code == 403  # not 405: a refused user learns nothing of the screen
    assert plain.post(USERS).status_code == 403
    response = client.put(delete)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_action_button_is_post_only_needs_its_capability_and_says_what_it_did(admin, helpdesk):
    policy = ApprovalPolicyFactory(name="Finance", active=True)
    toggle = reverse("console_requests:policy_toggle", args=[policy.pk])
    assert helpdesk.post(toggle, {"active": "0"}).status_code == 403
    assert admin.get(toggle).status_code == 405
    policy.refresh_from_db()
    assert policy.active and not AuditEvent.objects.exists()
    response = admin.post(toggle, {"active": "0"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("console_requests:policy_detail", args=[policy.pk])
    assert "Approval policy Finance deactivated." in response.content.decode()
    policy.refresh_from_db()
    assert not policy.active and AuditEvent.objects.filter(action__startswith="approval_policy").exists()


def test_an_edit_form_opens_with_what_is_stored(admin):
    """The kernel's ObjectForm fills an edit form from the object: plain fields, a foreign key as
    the selected option, users as usernames, a many-to-many field and the fields a form writes
    as lines of text."""
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    parent = OrganizationFactory(code="hq", name="HQ")
    org = OrganizationFactory(code="legal", name="Legal", parent=parent, owner=alice)
    form = admin.get(reverse("console:organization_edit", args=[org.pk])).context["form"]
    assert (form["code"].value(), form["parent"].value(), form["owner"].value()) == (
        "legal",
        parent.pk,
        "alice",
    )
    resource = ResourceFactory(code="erp", name="ERP")
    resource.owners.set([alice, bob])
    form = admin.get(reverse("console:resource_edit", args=[resource.pk])).context["form"]
    assert sorted(form["owners"].value().split(", ")) == ["alice", "bob"] and form["name"].value() == "ERP"
    policy = ApprovalPolicyFactory(name="Finance", beneficiary_conditions={"department": "Finance"})
    form = admin.get(reverse("console_requests:policy_edit", args=[policy.pk])).context["form"]
    assert (
        form["beneficiary_conditions"].value() == "department=Finance" and form["name"].value() == "Finance"
    )
    level = ApprovalLevelFactory(policy=policy, approver_kind="USERS")
    level.users.set([bob, alice])
    page = admin.get(reverse("console_requests:level_edit", args=[policy.pk, level.pk]))
    assert page.context["form"]["users"].value() == "alice, bob"
