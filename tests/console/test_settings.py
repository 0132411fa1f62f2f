"""Settings pages: administrator-defined attributes (list, create, edit, delete) and the
username policy with its "try it" preview. Administrators only; the configuration services'
field errors come back on the forms and nothing changes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import AttributeDefinition, UsernamePolicy
from tests.api.factories import AttributeDefinitionFactory, UserFactory
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db

POLICY = {
    "name": "Default",
    "patterns": "{first}.{last}\n{f}{last}",
    "lowercase": "on",
    "max_length": "30",
    "numeric_suffix": "on",
    "max_suffix": "99",
}


def new_attribute(**over) -> dict:
    return {
        "scope": "USER",
        "name": "cost_center",
        "label": "Cost center",
        "type": "STRING",
        "position": "0",
        **over,
    }


# --- navigation and access --------------------------------------------------------------------


def test_settings_are_in_the_navigation_for_administrators_only(admin, helpdesk, auditor):
    body = admin.get(reverse("console:dashboard")).content.decode()
    assert reverse("console:attributes") in body and reverse("console:username_policy") in body
    for client in (helpdesk, auditor):
        body = client.get(reverse("console:dashboard")).content.decode()
        assert reverse("console:attributes") not in body and reverse("console:username_policy") not in body


def test_helpdesk_and_auditor_are_refused_everywhere(helpdesk, auditor, plain):
    definition = AttributeDefinitionFactory(name="badge")
    gets = [
        reverse("console:attributes"),
        reverse("console:attribute_new"),
        reverse("console:attribute_edit", args=[definition.pk]),
        reverse("console:attribute_delete", args=[definition.pk]),
        reverse("console:username_policy"),
        reverse("console:username_policy_preview") + "?try_first=Ana&try_last=Silva",
    ]
    for client in (helpdesk, auditor, plain):
        for url in gets:
            assert client.get(url).status_code == 403, url
        assert client.post(reverse("console:attribute_new"), new_attribute()).status_code == 403
        assert client.post(reverse("console:attribute_delete", args=[definition.pk])).status_code == 403
        assert client.post(reverse("console:username_policy"), POLICY).status_code == 403
    assert list(AttributeDefinition.objects.values_list("name", flat=True)) == ["badge"]
    assert not UsernamePolicy.objects.exists()


def test_anonymous_goes_to_login(client):
    response = client.get(reverse("console:username_policy"))
    assert response.status_code == 302 and response.url.startswith("/login/")


# --- attribute definitions ------------------------------------------------------------------


def test_list_shows_every_scope(admin, world):
    AttributeDefinitionFactory(name="employee_id", label="Employee ID", unique=True, regex=r"E\d{5}")
    AttributeDefinitionFactory(scope="ACCOUNT", resource=world["github"], name="gh_team", label="Team")
    body = admin.get(reverse("console:attributes")).content.decode()
    assert "employee_id" in body and r"E\d{5}" in body and "Unique" in body
    assert "gh_team" in body and "GitHub" in body
    filtered = admin.get(reverse("console:attributes"), {"scope": "ACCOUNT"}).content.decode()
    assert "gh_team" in filtered and "employee_id" not in filtered


def test_create_a_user_attribute(admin, admin_user):
    response = admin.post(reverse("console:attribute_new"), new_attribute(required="on", regex=r"CC\d+"))
    assert response.status_code == 302 and response.url == reverse("console:attributes")
    d = AttributeDefinition.objects.get(name="cost_center")
    assert d.scope == "USER" and d.resource is None and d.required and d.regex == r"CC\d+"
    assert AuditEvent.objects.filter(action="attribute_definition.create", actor=admin_user).exists()


def test_create_an_entitlement_attribute_of_a_resource(admin, world):
    admin.post(
        reverse("console:attribute_new"),
        new_attribute(
            scope="ENTITLEMENT", resource=world["github"].pk, name="risk", label="Risk", type="INTEGER"
        ),
    )
    d = AttributeDefinition.objects.get(name="risk")
    assert d.scope == "ENTITLEMENT" and d.resource == world["github"] and d.type == "INTEGER"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (new_attribute(scope="ACCOUNT"), "Account attributes belong to one resource: choose it."),
        (new_attribute(name="9lives"), "Start with a letter; use only letters, digits and underscores."),
        (new_attribute(regex="(unclosed"), "Not a valid regular expression"),
    ],
)
def test_bad_input_shows_the_services_field_error(admin, data, message):
    response = admin.post(reverse("console:attribute_new"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AttributeDefinition.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="attribute_definition.").exists()


def test_user_attribute_with_a_resource_is_refused(admin, world):
    response = admin.post(reverse("console:attribute_new"), new_attribute(resource=world["github"].pk))
    assert "User attributes apply to all users: leave the resource empty." in response.content.decode()
    assert not AttributeDefinition.objects.exists()


def test_duplicate_name_is_refused(admin):
    AttributeDefinitionFactory(name="cost_center")
    response = admin.post(reverse("console:attribute_new"), new_attribute())
    assert "already exists" in response.content.decode()
    assert AttributeDefinition.objects.count() == 1


def test_edit_changes_label_and_rules_but_not_the_name(admin):
    d = AttributeDefinitionFactory(name="cost_center", label="CC")
    page = admin.get(reverse("console:attribute_edit", args=[d.pk])).content.decode()
    assert 'value="cost_center"' in page and "disabled" in page
    response = admin.post(
        reverse("console:attribute_edit", args=[d.pk]),
        new_attribute(name="hacked", scope="ACCOUNT", label="Cost centre", type="INTEGER", position="3"),
    )
    assert response.status_code == 302
    d.refresh_from_db()
    assert (d.name, d.scope, d.label, d.type, d.position) == (
        "cost_center",
        "USER",
        "Cost centre",
        "INTEGER",
        3,
    )


def test_unique_is_refused_when_values_are_already_shared(admin):
    d = AttributeDefinitionFactory(name="badge", label="Badge")
    UserFactory(attributes={"badge": "B1"})
    UserFactory(attributes={"badge": "B1"})
    response = admin.post(
        reverse("console:attribute_edit", args=[d.pk]), new_attribute(label="Badge", unique="on")
    )
    assert response.status_code == 200
    assert "1 value(s) are not unique today." in response.content.decode()
    d.refresh_from_db()
    assert not d.unique


def test_delete_asks_first_then_deletes(admin, admin_user):
    d = AttributeDefinitionFactory(name="badge", label="Badge")
    page = admin.get(reverse("console:attribute_delete", args=[d.pk])).content.decode()
    assert "No user holds a value of this attribute." in page
    assert AttributeDefinition.objects.filter(pk=d.pk).exists()
    response = admin.post(reverse("console:attribute_delete", args=[d.pk]))
    assert response.status_code == 302 and not AttributeDefinition.objects.filter(pk=d.pk).exists()
    assert AuditEvent.objects.filter(action="attribute_definition.delete", actor=admin_user).exists()


def test_attribute_labels_are_escaped(admin):
    AttributeDefinitionFactory(name="xss", label="<script>alert(1)</script>", regex="<b>")
    body = admin.get(reverse("console:attributes")).content.decode()
    assert "<script>alert(1)</script>" not in body and "<b>" not in body


# --- username policy ------------------------------------------------------------------------


def test_policy_page_shows_the_current_policy(admin):
    body = admin.get(reverse("console:username_policy")).content.decode()
    assert "{first}.{last}\n{first}.{middle_initial}.{last}" in body  # the defaults
    assert 'id="username-try"' in body and reverse("console:username_policy_preview") in body


def test_save_the_policy(admin, admin_user):
    response = admin.post(reverse("console:username_policy"), {**POLICY, "max_length": "20"})
    assert response.status_code == 302
    policy = UsernamePolicy.objects.get(active=True)
    assert policy.patterns == ["{first}.{last}", "{f}{last}"] and policy.max_length == 20
    assert AuditEvent.objects.filter(action="username_policy.update", actor=admin_user).exists()
    assert "{first}.{last}\n{f}{last}" in admin.get(reverse("console:username_policy")).content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"patterns": "{first}.{last}\n{surname}"}, "Line 2: Unknown placeholder(s) {surname}"),
        ({"patterns": "  \n"}, "Give at least one pattern"),
        ({"max_length": "0"}, "Expected a whole number from 1 to 150."),
        ({"max_suffix": "abc"}, "Enter a whole number."),
    ],
)
def test_bad_policy_shows_the_field_error_and_saves_nothing(admin, data, message):
    response = admin.post(reverse("console:username_policy"), {**POLICY, **data})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not UsernamePolicy.objects.exists()
    assert not AuditEvent.objects.filter(action="username_policy.update").exists()


def preview(client, **params) -> str:
    response = client.get(reverse("console:username_policy_preview"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_try_it_gives_the_username_of_the_saved_policy(admin):
    assert "Type a first and a last name." in preview(admin)
    assert '<code id="username-preview-result">joao.conceicao</code>' in preview(
        admin, try_first="João", try_last="Conceição"
    )


def test_try_it_uses_the_policy_as_edited_and_saves_nothing(admin):
    body = preview(admin, try_first="Ana", try_last="Silva", **{**POLICY, "patterns": "{f}{last}"})
    assert '<code id="username-preview-result">asilva</code>' in body
    assert not UsernamePolicy.objects.exists()
    assert not AuditEvent.objects.exists()


def test_try_it_skips_taken_usernames(admin):
    UserFactory(username="ana.silva")
    body = preview(admin, try_first="Ana", try_last="Silva", **POLICY)
    assert '<code id="username-preview-result">asilva</code>' in body
    UserFactory(username="asilva")
    body = preview(admin, try_first="Ana", try_last="Silva", **POLICY)
    assert '<code id="username-preview-result">ana.silva2</code>' in body


def test_try_it_explains_an_exhausted_policy(admin):
    UserFactory(username="ana.silva")
    data = {**POLICY, "patterns": "{first}.{last}", "numeric_suffix": ""}
    body = preview(admin, try_first="Ana", try_last="Silva", **data)
    assert "No username available for Ana Silva" in body


def test_try_it_reports_a_bad_pattern_instead_of_guessing(admin):
    body = preview(admin, try_first="Ana", try_last="Silva", **{**POLICY, "patterns": "{nope}"})
    assert "cannot be tried" in body and "Unknown placeholder(s) {nope}" in body
    assert "username-preview-result" not in body


def test_try_it_escapes_what_was_typed(admin):
    body = preview(admin, try_first="<script>", try_last="x", **{**POLICY, "patterns": "{first}"})
    assert "<script>" not in body


def test_settings_forms_need_csrf(admin_user):
    client = logged_in(admin_user, enforce_csrf_checks=True)
    d = AttributeDefinitionFactory(name="badge", label="Badge")
    assert client.post(reverse("console:attribute_new"), new_attribute()).status_code == 403
    assert (
        client.post(reverse("console:attribute_edit", args=[d.pk]), new_attribute(label="X")).status_code
        == 403
    )
    assert client.post(reverse("console:attribute_delete", args=[d.pk])).status_code == 403
    assert client.post(reverse("console:username_policy"), POLICY).status_code == 403
    assert list(AttributeDefinition.objects.values_list("label", flat=True)) == ["Badge"]
    assert not UsernamePolicy.objects.exists()
    for url in (reverse("console:attribute_new"), reverse("console:username_policy")):
        assert 'name="csrfmiddlewaretoken"' in client.get(url).content.decode()
