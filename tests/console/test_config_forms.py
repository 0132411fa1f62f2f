"""Configuration forms (organizations, resources, entitlements, roles) call the configuration
services; rule violations come back on the form and change nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import Entitlement, Organization, Resource, Role

pytestmark = pytest.mark.django_db

MODES = {f"mode_{e}": "DISABLED" for e in Resource().provisioning_modes}


def test_create_and_edit_a_resource(admin, admin_user):
    data = {
        "code": "sap",
        "name": "SAP ERP",
        "criticality": "HIGH",
        "owners": "console-admin",
        **MODES,
        "mode_CREATE_ACCOUNT": "AUTOMATIC",
        "self_service": "on",
    }
    response = admin.post(reverse("console:resource_new"), data)
    res = Resource.objects.get(code="sap")
    assert response.status_code == 302 and response.url == reverse("console:resource_detail", args=[res.pk])
    assert res.name == "SAP ERP" and res.criticality == "HIGH" and res.self_service and not res.certifiable
    assert res.mode_for("CREATE_ACCOUNT") == "AUTOMATIC"
    assert list(res.owners.all()) == [admin_user]
    assert AuditEvent.objects.filter(action="resource.create", actor=admin_user, source="console").exists()
    admin.post(reverse("console:resource_edit", args=[res.pk]), {**data, "name": "SAP S/4"})
    assert Resource.objects.get(pk=res.pk).name == "SAP S/4"
    edit = admin.get(reverse("console:resource_edit", args=[res.pk])).content.decode()
    assert 'value="SAP S/4"' in edit


def test_duplicate_resource_code_is_shown_on_the_form(admin, world):
    response = admin.post(
        reverse("console:resource_new"), {"code": "github", "name": "Again", "criticality": "LOW", **MODES}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Resource.objects.filter(code="github").count() == 1


def test_unknown_owner_username_is_a_form_error(admin):
    response = admin.post(
        reverse("console:resource_new"),
        {"code": "x", "name": "X", "criticality": "LOW", "owners": "nobody", **MODES},
    )
    assert "Unknown username(s): nobody" in response.content.decode()
    assert not Resource.objects.filter(code="x").exists()


def test_create_and_edit_an_entitlement(admin, world):
    github = world["github"]
    assert (
        f'<option value="{github.pk}" selected>'
        in admin.get(reverse("console:entitlement_new"), {"resource": github.pk}).content.decode()
    )
    response = admin.post(
        reverse("console:entitlement_new"),
        {
            "resource": github.pk,
            "identifier": "gh-owners",
            "name": "GitHub owners",
            "criticality": "CRITICAL",
        },
    )
    ent = Entitlement.objects.get(identifier="gh-owners")
    assert response.url == reverse("console:entitlement_detail", args=[ent.pk])
    admin.post(
        reverse("console:entitlement_edit", args=[ent.pk]),
        {
            "resource": github.pk,
            "identifier": "gh-owners",
            "name": "Org owners",
            "criticality": "HIGH",
            "owner": "alice",
        },
    )
    ent.refresh_from_db()
    assert ent.name == "Org owners" and ent.owner == world["alice"]


def test_duplicate_entitlement_identifier_is_refused(admin, world):
    response = admin.post(
        reverse("console:entitlement_new"),
        {"resource": world["github"].pk, "identifier": "gh-admins", "name": "dup", "criticality": "LOW"},
    )
    assert response.status_code == 200
    assert "already has an entitlement" in response.content.decode()
    assert Entitlement.objects.filter(identifier="gh-admins").count() == 1


def test_create_and_edit_a_role(admin):
    admin.post(reverse("console:role_new"), {"code": "sales", "name": "Sales", "criticality": "LOW"})
    role = Role.objects.get(code="sales")
    admin.post(
        reverse("console:role_edit", args=[role.pk]),
        {"code": "sales", "name": "Sales team", "criticality": "MEDIUM", "description": "Reps"},
    )
    role.refresh_from_db()
    assert role.name == "Sales team" and role.description == "Reps"


def test_create_and_edit_an_organization(admin, world):
    admin.post(
        reverse("console:organization_new"),
        {"code": "ap", "name": "Accounts payable", "parent": world["org"].pk, "owner": "bob"},
    )
    org = Organization.objects.get(code="ap")
    assert org.parent == world["org"] and org.owner == world["bob"]
    # an organization cannot be moved inside its own child
    response = admin.post(
        reverse("console:organization_edit", args=[world["org"].pk]),
        {"code": "finance", "name": "Finance", "parent": org.pk},
    )
    assert response.status_code == 200
    assert "cannot be inside itself" in response.content.decode()
    assert Organization.objects.get(pk=world["org"].pk).parent is None


def test_missing_required_fields(admin):
    response = admin.post(reverse("console:role_new"), {"code": "", "name": ""})
    assert response.status_code == 200
    assert response.content.decode().count("This field is required.") >= 2
    assert not Role.objects.exists()
