"""The NameFormat of the attributes Blazon sends: URI for URI names by default (SAML V2.0
attribute profiles; pysaml2 SPs and Shibboleth look ``urn:oid:…`` names up only with it), or
what the SP's administrator chose. Checked with pysaml2's SP and its default attribute
converters, and with python3-saml."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from blazon.audit.models import AuditEvent
from sso import services
from sso.models import AttributeNameFormat
from tests.sso import pysaml2sp, samlsp
from tests.sso.conftest import ACS, IDP, SLO, SP_ENTITY, finish, sp_accepts, sp_data, start

MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
GIVEN_NAME = "urn:oid:2.5.4.42"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
OID_MAPPING = {MAIL: "email", GIVEN_NAME: "first_name", "costCenter": "attributes.cost_center"}


def _register(app_resource, **overrides):
    return services.service_provider_create(
        actor=None,
        source="test",
        data=sp_data(resource=app_resource, attribute_mapping=OID_MAPPING, **overrides),
    )


def _pysaml2_sign_in(browser: Client):
    sp = pysaml2sp.client_for(
        idp_metadata=Client().get("/sso/saml/metadata/").content.decode(),
        entity_id=SP_ENTITY,
        acs_url=ACS,
        slo_url=SLO,
    )
    return pysaml2sp.sign_in(sp, browser, IDP + "/sso/saml/metadata/")


def test_pysaml2_sp_maps_oid_attributes_to_its_names(app_resource, alice, alice_client, idp_cert):
    _register(app_resource)
    response = _pysaml2_sign_in(alice_client)
    # pysaml2's saml_uri map turns the URI-format OIDs into its friendly names (with the
    # unspecified format it dropped them as unknown). A name it has no map for ("costCenter")
    # is dropped by a default pysaml2 SP whatever the format (its allow_unknown_attributes).
    assert response.ava == {"mail": ["alice@example.com"], "givenName": ["Alice"]}


def test_python3_saml_sp_sees_uri_names_with_the_uri_format(app_resource, alice_client, sp_settings):
    _register(app_resource)
    settings = sp_settings()
    auth, answer = start(alice_client, settings)
    _, fields = samlsp.form_fields(finish(alice_client, answer).content.decode())
    result = sp_accepts(settings, fields["SAMLResponse"], auth.get_last_request_id())
    assert result.get_errors() == [], result.get_last_error_reason()
    assert result.get_attributes() == {
        MAIL: ["alice@example.com"],
        GIVEN_NAME: ["Alice"],
        "costCenter": ["CC-42"],
    }
    xml = samlsp.decode(fields["SAMLResponse"])
    formats = dict(re.findall(r'<\w+:Attribute Name="([^"]+)" NameFormat="([^"]+)"', xml))
    assert formats == {MAIL: URI_FORMAT, GIVEN_NAME: URI_FORMAT, "costCenter": UNSPECIFIED}


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (AttributeNameFormat.UNSPECIFIED, UNSPECIFIED),
        (AttributeNameFormat.URI, URI_FORMAT),
        (AttributeNameFormat.BASIC, "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"),
    ],
)
def test_a_fixed_format_applies_to_every_attribute(
    app_resource, alice_client, sp_settings, setting, expected
):
    _register(app_resource, attribute_name_format=setting)
    settings = sp_settings()
    auth, answer = start(alice_client, settings)
    _, fields = samlsp.form_fields(finish(alice_client, answer).content.decode())
    result = sp_accepts(settings, fields["SAMLResponse"], auth.get_last_request_id())
    assert result.get_errors() == [], result.get_last_error_reason()
    xml = samlsp.decode(fields["SAMLResponse"])
    formats = set(re.findall(r'<\w+:Attribute Name="[^"]+" NameFormat="([^"]+)"', xml))
    assert formats == {expected}


def test_console_sets_the_format_and_the_change_is_audited(admin, app_resource, alice_client, idp_cert):
    sp = _register(app_resource)
    page = admin.get(f"/console/sso/saml/{sp.pk}/edit/")
    assert page.status_code == 200 and 'name="attribute_name_format"' in page.content.decode()
    data = {key: value for key, value in page.context["form"].initial.items() if value is not None}
    data.update(resource=app_resource.pk, attribute_name_format=AttributeNameFormat.UNSPECIFIED)
    answer = admin.post(f"/console/sso/saml/{sp.pk}/edit/", data)
    assert answer.status_code == 302, answer.content[:2000]
    sp.refresh_from_db()
    assert sp.attribute_name_format == AttributeNameFormat.UNSPECIFIED
    event = AuditEvent.objects.filter(action="sso.saml.sp.updated").latest("seq")
    assert event.new_values["attribute_name_format"] == AttributeNameFormat.UNSPECIFIED
    assert "Unspecified, for every attribute" in admin.get(f"/console/sso/saml/{sp.pk}/").content.decode()
    # the next sign-in already follows it: pysaml2 no longer recognises the OIDs
    assert "mail" not in _pysaml2_sign_in(alice_client).ava


def test_an_unknown_format_is_refused_and_nothing_changes(admin, app_resource):
    value = "urn:oasis:names:tc:SAML:2.0:attrname-format:nonsense"
    sp = _register(app_resource)
    page = admin.get(f"/console/sso/saml/{sp.pk}/edit/")
    data = {key: v for key, v in page.context["form"].initial.items() if v is not None}
    data.update(resource=app_resource.pk, attribute_name_format=value)
    answer = admin.post(f"/console/sso/saml/{sp.pk}/edit/", data)
    assert answer.status_code == 400
    assert "Select a valid choice" in answer.content.decode()
    sp.refresh_from_db()
    assert sp.attribute_name_format == AttributeNameFormat.AUTO
