"""Deleting an organization from the console: a confirmation page first; refused with the
service's message while users belong to it or organizations sit inside it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import Organization
from tests.api.factories import OrganizationFactory
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db


def delete_url(org) -> str:
    return reverse("console:organization_delete", args=[org.pk])


def test_detail_page_offers_delete_to_administrators_only(admin, helpdesk, auditor, world):
    org = world["org"]
    assert (
        delete_url(org) in admin.get(reverse("console:organization_detail", args=[org.pk])).content.decode()
    )
    for client in (helpdesk, auditor):
        assert (
            delete_url(org)
            not in client.get(reverse("console:organization_detail", args=[org.pk])).content.decode()
        )


def test_confirm_then_delete(admin, admin_user):
    org = OrganizationFactory(code="legal", name="Legal")
    page = admin.get(delete_url(org))
    assert page.status_code == 200
    assert "Delete organization Legal" in page.content.decode()
    assert Organization.objects.filter(pk=org.pk).exists()  # asking deletes nothing
    response = admin.post(delete_url(org), follow=True)
    assert response.redirect_chain[-1][0] == reverse("console:organizations")
    assert "Organization Legal deleted." in response.content.decode()
    assert not Organization.objects.filter(pk=org.pk).exists()
    event = AuditEvent.objects.get(action="organization.delete")
    assert event.actor_id == admin_user.pk and event.source == "console"


def test_an_organization_with_members_is_not_deleted(admin, world):
    org = world["org"]  # alice and bob belong to it
    page = admin.get(delete_url(org)).content.decode()
    assert "2 users belong to it" in page
    response = admin.post(delete_url(org))
    assert response.status_code == 200
    assert (
        "Organization &#x27;finance&#x27; still has 2 member(s); move them first."
        in response.content.decode()
    )
    assert Organization.objects.filter(pk=org.pk).exists()
    assert not AuditEvent.objects.filter(action="organization.delete").exists()


def test_an_organization_with_sub_organizations_is_not_deleted(admin):
    parent = OrganizationFactory(code="group", name="Group")
    OrganizationFactory(code="child", name="Child", parent=parent)
    assert "1 organization is inside it" in admin.get(delete_url(parent)).content.decode()
    response = admin.post(delete_url(parent))
    assert "still has 1 child organization(s)" in response.content.decode()
    assert Organization.objects.filter(pk=parent.pk).exists()


def test_others_cannot_delete(helpdesk, auditor, plain, client):
    org = OrganizationFactory(code="legal")
    for who in (helpdesk, auditor, plain):
        assert who.get(delete_url(org)).status_code == 403
        assert who.post(delete_url(org)).status_code == 403
    assert client.post(delete_url(org)).status_code == 302  # to the login page
    assert Organization.objects.filter(pk=org.pk).exists()


def test_delete_needs_csrf(admin_user):
    org = OrganizationFactory(code="legal")
    client = logged_in(admin_user, enforce_csrf_checks=True)
    assert client.post(delete_url(org)).status_code == 403
    assert Organization.objects.filter(pk=org.pk).exists()
    assert 'name="csrfmiddlewaretoken"' in client.get(delete_url(org)).content.decode()


def test_unknown_organization_is_404(admin):
    assert admin.get(reverse("console:organization_delete", args=[999999])).status_code == 404


def test_organization_name_is_escaped(admin):
    org = OrganizationFactory(code="xss", name="<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in admin.get(delete_url(org)).content.decode()
