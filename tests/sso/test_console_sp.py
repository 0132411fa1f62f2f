"""Console pages for SAML service providers: least privilege, validation, audit, metadata import."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from sso.models import ServiceProvider
from tests.sso import samlsp
from tests.sso.conftest import ACS, IDP, SP_ENTITY

pytestmark = pytest.mark.django_db


def _form(**overrides):
    data = {
        "name": "Wiki",
        "entity_id": "https://wiki.example.test/saml",
        "enabled": "on",
        "acs_urls": "https://wiki.example.test/acs\nhttps://wiki.example.test/acs2",
        "slo_url": "",
        "slo_binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        "certificate": "",
        "nameid_format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        "attribute_mapping": "mail = email\ndept = department",
        "access_rule": "ANY",
        "launch_url": "",
    }
    data.update(overrides)
    return data


def test_administrator_creates_edits_and_deletes_a_service_provider(admin, admin_user):
    created = admin.post("/console/sso/saml/new/", _form())
    assert created.status_code == 302
    sp = ServiceProvider.objects.get(entity_id="https://wiki.example.test/saml")
    assert [a["url"] for a in sp.acs_endpoints] == [
        "https://wiki.example.test/acs",
        "https://wiki.example.test/acs2",
    ]
    assert sp.attribute_mapping == {"mail": "email", "dept": "department"}
    assert AuditEvent.objects.filter(
        action="sso.saml.sp.created", object_id=str(sp.pk), actor=admin_user
    ).exists()

    detail = admin.get(f"/console/sso/saml/{sp.pk}/")
    assert b"https://wiki.example.test/acs" in detail.content

    assert (
        admin.post(f"/console/sso/saml/{sp.pk}/edit/", _form(name="Team wiki", enabled="")).status_code == 302
    )
    sp.refresh_from_db()
    assert sp.name == "Team wiki" and not sp.enabled
    updated = AuditEvent.objects.get(action="sso.saml.sp.updated", object_id=str(sp.pk))
    assert updated.old_values == {"name": "Wiki", "enabled": True}

    assert admin.post(f"/console/sso/saml/{sp.pk}/delete/").status_code == 302
    assert not ServiceProvider.objects.exists()
    assert AuditEvent.objects.filter(action="sso.saml.sp.deleted").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"acs_urls": "javascript:alert(1)"}, "is not an absolute"),
        ({"acs_urls": ""}, "This field is required"),
        ({"certificate": "not a certificate"}, "not a PEM"),
        ({"require_signed_requests": "on"}, "only be required with the SP&#x27;s certificate"),
        ({"attribute_mapping": "mail = password"}, "is not a user field"),
        ({"attribute_mapping": "no equals sign"}, "write &#x27;attribute name = user field&#x27;"),
        ({"access_rule": "RESOURCE"}, "Choose the resource"),
        ({"entity_id": "has spaces in it"}, "without spaces"),
    ],
)
def test_bad_input_is_reported_and_saves_nothing(admin, overrides, message):
    answer = admin.post("/console/sso/saml/new/", _form(**overrides))
    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert not ServiceProvider.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="sso.saml.sp").exists()


def test_duplicate_entity_id_is_a_clear_conflict(admin):
    assert admin.post("/console/sso/saml/new/", _form()).status_code == 302
    again = admin.post("/console/sso/saml/new/", _form(name="Other"))
    assert again.status_code == 400 and "Already registered" in again.content.decode()
    assert ServiceProvider.objects.count() == 1


def test_import_from_sp_metadata(admin):
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    settings = samlsp.settings_for(
        idp_base=IDP,
        idp_cert=samlsp.keypair("idp")[1],
        sp_entity=SP_ENTITY,
        acs_url=ACS,
        sign_requests=True,
    )
    metadata = OneLogin_Saml2_Settings(settings).get_sp_metadata().decode()
    answer = admin.post(
        "/console/sso/saml/import/", {"name": "CRM", "metadata": metadata, "access_rule": "ANY"}
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    sp = ServiceProvider.objects.get(entity_id=SP_ENTITY)
    assert sp.acs_endpoints[0]["url"] == ACS
    assert sp.require_signed_requests and "BEGIN CERTIFICATE" in sp.certificate
    assert sp.slo_url == "https://sp.example.test/sls"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("<not xml", "not well-formed"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "not well-formed"),
        (
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
            "no SPSSODescriptor",
        ),
        ("<root/>", "not SAML 2.0 metadata"),
    ],
)
def test_bad_metadata_is_reported(admin, metadata, message):
    answer = admin.post(
        "/console/sso/saml/import/", {"name": "X", "metadata": metadata, "access_rule": "ANY"}
    )
    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert not ServiceProvider.objects.exists()


def test_read_only_roles_see_but_cannot_change(auditor, helpdesk, admin):
    assert admin.post("/console/sso/saml/new/", _form()).status_code == 302
    sp = ServiceProvider.objects.get()
    for client in (auditor, helpdesk):
        assert client.get("/console/sso/saml/").status_code == 200
        assert client.get(f"/console/sso/saml/{sp.pk}/").status_code == 200
        assert client.get("/console/sso/saml/new/").status_code == 403
        assert client.post("/console/sso/saml/new/", _form(entity_id="https://x.example/")).status_code == 403
        assert client.post(f"/console/sso/saml/{sp.pk}/edit/", _form(name="Hacked")).status_code == 403
        assert client.post(f"/console/sso/saml/{sp.pk}/delete/").status_code == 403
        assert client.post("/console/sso/saml/import/", {"name": "X", "metadata": "<x/>"}).status_code == 403
    sp.refresh_from_db()
    assert sp.name == "Wiki" and ServiceProvider.objects.count() == 1


def test_anonymous_and_workspace_users_are_kept_out(client, db):
    from tests.api.factories import UserFactory

    answer = client.get("/console/sso/saml/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    client.force_login(UserFactory(username="worker"))
    assert client.get("/console/sso/saml/").status_code == 403
    assert client.get("/console/sso/saml/idp/metadata.xml").status_code == 403


def test_idp_page_and_metadata_download(admin):
    page = admin.get("/console/sso/saml/idp/")
    assert page.status_code == 200 and b"SHA-256 fingerprint" in page.content
    download = admin.get("/console/sso/saml/idp/metadata.xml")
    assert download["Content-Disposition"].startswith("attachment")
    assert b"IDPSSODescriptor" in download.content


def test_console_forms_need_csrf(admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post("/console/sso/saml/new/", _form()).status_code == 403
    assert not ServiceProvider.objects.exists()


def test_deleting_the_linked_role_fails_closed(admin, admin_user):
    from directory.services import config
    from sso import services
    from sso.selectors import service_providers_for_user
    from tests.api.factories import RoleFactory
    from tests.sso.conftest import sp_data

    role = RoleFactory(code="sales", name="Sales")
    sp = services.service_provider_create(
        actor=None, source="test", data=sp_data(access_rule="ROLE", role=role)
    )
    config.role_delete(actor=admin_user, source="console", role=role)
    sp.refresh_from_db()
    assert sp.role is None
    assert not service_providers_for_user(admin_user).exists()
    assert "nobody can sign in" in admin.get(f"/console/sso/saml/{sp.pk}/").content.decode()
