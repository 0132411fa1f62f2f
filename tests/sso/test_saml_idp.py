"""The IdP around the sign-in: metadata, single logout, "My applications" and IdP-initiated launch,
and the signing key (encrypted in the vault, rotatable)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from blazon.audit.models import AuditEvent
from sso.models import IdPKey, KeyStatus
from tests.api.factories import UserFactory
from tests.sso import samlsp
from tests.sso.conftest import ACS, IDP, SLO, SP_ENTITY, finish, sp_accepts, start

pytestmark = pytest.mark.django_db


def test_metadata_is_read_by_an_independent_sp(client, idp_cert):
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

    answer = client.get("/sso/saml/metadata/")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/samlmetadata+xml"
    idp = OneLogin_Saml2_IdPMetadataParser.parse(answer.content.decode())["idp"]
    assert idp["entityId"] == IDP + "/sso/saml/metadata/"
    assert idp["singleSignOnService"]["url"] == IDP + "/sso/saml/sso/redirect/"
    assert idp["singleLogoutService"]["url"] == IDP + "/sso/saml/slo/redirect/"
    body = "".join(line for line in idp_cert.splitlines() if "-----" not in line)
    assert idp["x509cert"] == body


def test_single_logout_ends_the_blazon_session(sp, alice_client, sp_settings):
    settings = sp_settings()
    _, answer = start(alice_client, settings)
    _, fields = samlsp.form_fields(finish(alice_client, answer).content.decode())
    signed_in = sp_accepts(settings, fields["SAMLResponse"], None)
    assert alice_client.get("/workspace/").status_code == 200

    auth = samlsp.auth_for(settings, ACS)
    path, query = samlsp.split(
        auth.logout(return_to="https://sp.example.test/bye", name_id=signed_in.get_nameid())
    )
    answer = alice_client.get(path, query)
    assert answer.status_code == 302
    location, params = samlsp.split(answer["Location"])
    assert answer["Location"].startswith(SLO + "?")
    assert params["RelayState"] == "https://sp.example.test/bye"
    assert "Signature" in params
    sls = samlsp.auth_for(settings, SLO, get=params)
    sls.process_slo(request_id=auth.get_last_request_id())
    assert sls.get_errors() == [], sls.get_last_error_reason()
    # the Blazon session is over
    assert alice_client.get("/workspace/").status_code == 302


def test_unsigned_logout_request_refused_when_signing_is_required(sp, alice_client, sp_settings):
    sp.require_signed_requests = True
    sp.save()
    auth = samlsp.auth_for(sp_settings(sign_requests=False), ACS)
    path, query = samlsp.split(auth.logout(name_id="x"))
    answer = alice_client.get(path, query)
    assert answer.status_code == 400
    assert alice_client.get("/workspace/").status_code == 200  # still logged in


def test_my_applications_lists_only_what_the_user_may_use(sp, alice_client):
    page = alice_client.get("/workspace/applications/")
    assert page.status_code == 200
    assert b"Open CRM" in page.content
    bob = UserFactory(username="bob")
    client = Client()
    client.force_login(bob)
    page = client.get("/workspace/applications/")
    assert b"Open CRM" not in page.content
    sp.enabled = False
    sp.save()
    assert b"Open CRM" not in alice_client.get("/workspace/applications/").content


def test_idp_initiated_launch(sp, alice_client, sp_settings):
    sp.launch_url = "/dashboard"
    sp.save()
    page = alice_client.post(f"/sso/saml/launch/{sp.pk}/")
    assert page.status_code == 200
    action, fields = samlsp.form_fields(page.content.decode())
    assert action == ACS and fields["RelayState"] == "/dashboard"
    result = sp_accepts(sp_settings(), fields["SAMLResponse"], None)  # unsolicited
    assert result.get_errors() == [] and result.is_authenticated()
    event = AuditEvent.objects.get(action="sso.saml.signed_in")
    assert event.new_values["initiated_by"] == "idp"


def test_launch_is_refused_to_users_not_allowed_and_needs_post_and_csrf(sp, alice):
    bob = UserFactory(username="bob")
    client = Client()
    client.force_login(bob)
    assert client.post(f"/sso/saml/launch/{sp.pk}/").status_code == 403
    assert Client().post(f"/sso/saml/launch/{sp.pk}/").status_code == 302  # anonymous: to the login
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.get(f"/sso/saml/launch/{sp.pk}/").status_code == 405
    assert strict.post(f"/sso/saml/launch/{sp.pk}/").status_code == 403
    assert not AuditEvent.objects.filter(action="sso.saml.signed_in").exists()


def test_private_key_is_encrypted_in_the_vault(idp_cert):
    key = IdPKey.objects.get(status=KeyStatus.ACTIVE)
    assert b"PRIVATE KEY" not in bytes(key.secret.ciphertext)
    assert "PRIVATE" not in key.certificate
    created = AuditEvent.objects.get(action="sso.saml.key.created")
    assert "PRIVATE" not in str(created.new_values)


def test_key_rotation_with_overlap(sp, alice_client, sp_settings, idp_cert):
    call_command("saml_idp_key", "--stage-next", "--key-size", "2048")
    nxt = IdPKey.objects.get(status=KeyStatus.NEXT)
    metadata = Client().get("/sso/saml/metadata/").content.decode()
    assert metadata.count("<ds:X509Certificate>") == 2  # SPs can pick up the next key first

    call_command("saml_idp_key", "--rotate")
    assert IdPKey.objects.get(status=KeyStatus.ACTIVE).pk == nxt.pk
    assert IdPKey.objects.filter(status=KeyStatus.RETIRED).count() == 1

    old_settings = sp_settings()  # still trusts only the old certificate
    auth, answer = start(alice_client, old_settings)
    _, fields = samlsp.form_fields(finish(alice_client, answer).content.decode())
    assert not sp_accepts(old_settings, fields["SAMLResponse"], auth.get_last_request_id()).is_authenticated()
    new_settings = samlsp.settings_for(
        idp_base=IDP, idp_cert=nxt.certificate, sp_entity=SP_ENTITY, acs_url=ACS
    )
    assert sp_accepts(new_settings, fields["SAMLResponse"], auth.get_last_request_id()).is_authenticated()


def test_my_applications_query_count_does_not_grow_with_the_number_of_sps(sp, alice, alice_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sso import services
    from tests.sso.conftest import sp_data

    with CaptureQueriesContext(connection) as one:
        alice_client.get("/workspace/applications/")
    for i in range(5):
        services.service_provider_create(
            actor=None,
            source="test",
            data=sp_data(name=f"App {i}", entity_id=f"https://app{i}.example.test/", access_rule="ANY"),
        )
    with CaptureQueriesContext(connection) as six:
        page = alice_client.get("/workspace/applications/")
    assert page.content.count(b"<button") - page.content.count(b"Log out") == 6
    assert len(six.captured_queries) == len(one.captured_queries)
