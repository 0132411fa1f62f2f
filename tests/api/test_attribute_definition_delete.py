"""Deleting an attribute definition still held (issue 12, item 12): refused with 409 and the
count, nothing changed; with an explicit purge the values go too, each removal audited on its
holder, and the holders can be updated again. Through the API and the console."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import Account, AttributeDefinition, AttributeScope, User
from directory.services.users import user_update
from tests.api.factories import AccountFactory, AttributeDefinitionFactory, ResourceFactory, UserFactory
from tests.api.helpers import assert_error
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def badge():
    definition = AttributeDefinitionFactory(name="badge", label="Badge")
    UserFactory(username="ana", attributes={"badge": "A-1"})
    UserFactory(username="bia", attributes={"badge": "B-2", "other": "x"})
    UserFactory(username="caio", attributes={})
    return definition


def test_api_delete_of_a_held_attribute_is_409_with_the_count(admin, badge):
    error = assert_error(admin.delete(f"/api/v1/attribute-definitions/{badge.pk}/"), 409, "conflict")
    assert "still held by 2 user(s)" in error["message"]
    assert error["fields"] == {"holders": ["2 user(s) hold a value of 'badge'."]}
    assert AttributeDefinition.objects.filter(pk=badge.pk).exists()
    assert User.objects.get(username="ana").attributes == {"badge": "A-1"}
    assert not AuditEvent.objects.filter(action="attribute_definition.delete").exists()


def test_api_delete_with_purge_removes_the_values_audited(admin, admin_user, badge):
    response = admin.delete(f"/api/v1/attribute-definitions/{badge.pk}/?purge=true")
    assert response.status_code == 204, response.content
    assert not AttributeDefinition.objects.filter(pk=badge.pk).exists()
    assert User.objects.get(username="ana").attributes == {}
    assert User.objects.get(username="bia").attributes == {"other": "x"}
    purges = AuditEvent.objects.filter(action="user.attribute_purge").order_by("object_repr")
    assert [(e.object_repr, e.old_values, e.source) for e in purges] == [
        ("ana", {"attributes.badge": "A-1"}, "api"),
        ("bia", {"attributes.badge": "B-2"}, "api"),
    ]
    assert all(e.actor_id == admin_user.pk for e in purges)
    deleted = AuditEvent.objects.get(action="attribute_definition.delete")
    assert deleted.new_values == {"purged_values": 2}


def test_api_delete_with_a_bad_purge_value_is_400(admin, badge):
    assert_error(
        admin.delete(f"/api/v1/attribute-definitions/{badge.pk}/?purge=maybe"), 400, "validation_failed"
    )
    assert AttributeDefinition.objects.filter(pk=badge.pk).exists()


def test_an_attribute_nobody_holds_is_deleted_without_purge(admin):
    definition = AttributeDefinitionFactory(name="unused", label="Unused")
    UserFactory(username="dora", attributes={"other": "x"})
    assert admin.delete(f"/api/v1/attribute-definitions/{definition.pk}/").status_code == 204


def test_after_a_purge_the_holders_can_be_updated_again(admin, admin_user, badge):
    AttributeDefinitionFactory(name="other", label="Other")
    assert admin.delete(f"/api/v1/attribute-definitions/{badge.pk}/?purge=true").status_code == 204
    bia = User.objects.get(username="bia")
    user_update(actor=admin_user, source="console", user=bia, data={"department": "Finance"})
    assert User.objects.get(username="bia").department == "Finance"


def test_account_attributes_count_only_the_resources_accounts(admin):
    erp, crm = ResourceFactory(code="erp"), ResourceFactory(code="crm")
    definition = AttributeDefinitionFactory(
        scope=AttributeScope.ACCOUNT, resource=erp, name="client", label="Client"
    )
    AccountFactory(resource=erp, identifier="a1", attributes={"client": "100"})
    AccountFactory(resource=crm, identifier="a2", attributes={"client": "200"})
    error = assert_error(admin.delete(f"/api/v1/attribute-definitions/{definition.pk}/"), 409)
    assert "1 account(s)" in error["message"]
    assert admin.delete(f"/api/v1/attribute-definitions/{definition.pk}/?purge=true").status_code == 204
    assert AuditEvent.objects.filter(action="account.attribute_purge", object_repr="a1").count() == 1
    assert Account.objects.get(identifier="a2").attributes == {"client": "200"}


def test_console_delete_shows_the_count_and_needs_the_purge_box(admin_user, badge):
    client = logged_in(admin_user)
    url = reverse("console:attribute_delete", args=[badge.pk])
    page = client.get(url).content.decode()
    assert "2 user(s) hold a value of this attribute." in page
    assert 'name="purge"' in page
    response = client.post(url, follow=True)
    assert "still held by 2 user(s)" in response.content.decode()
    assert AttributeDefinition.objects.filter(pk=badge.pk).exists()
    response = client.post(url, {"purge": "on"}, follow=True)
    assert "Attribute badge deleted and 2 value(s) removed." in response.content.decode()
    assert not AttributeDefinition.objects.filter(pk=badge.pk).exists()
    assert AuditEvent.objects.filter(action="user.attribute_purge", source="console").count() == 2
