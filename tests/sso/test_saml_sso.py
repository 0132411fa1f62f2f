"""SP-initiated single sign-on: python3-saml (OneLogin) as an independent SP accepts Blazon's
signed responses, and rejects them once tampered with."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client

from blazon.audit.models import AuditEvent
from directory.models import UserStatus
from sso.models import PendingAuthnRequest, PersistentNameID
from tests.console.conftest import PASSWORD, with_password
from tests.sso import samlsp
from tests.sso.conftest import ACS, IDP, finish, sp_accepts, start

pytestmark = pytest.mark.django_db


def _sign_in(client, sp_settings, **kwargs):
    settings = sp_settings(**kwargs)
    auth, answer = start(client, settings)
    page = finish(client, answer)
    assert page.status_code == 200, page.content[:1000]
    action, fields = samlsp.form_fields(page.content.decode())
    return settings, auth, action, fields


def test_sp_accepts_the_signed_response_with_the_mapped_attributes(sp, alice, alice_client, sp_settings):
    settings, auth, action, fields = _sign_in(alice_client, sp_settings)

    assert action == ACS
    assert fields["RelayState"] == "https://sp.example.test/home"
    result = sp_accepts(settings, fields["SAMLResponse"], auth.get_last_request_id())
    assert result.get_errors() == [], result.get_last_error_reason()
    assert result.is_authenticated()
    assert result.get_attributes() == {
        "mail": ["alice@example.com"],
        "givenName": ["Alice"],
        "costCenter": ["CC-42"],
    }
    # persistent NameID: opaque (not the username or e-mail) and stable for this SP
    name_id = result.get_nameid()
    assert name_id == PersistentNameID.objects.get(user=alice).value
    assert "alice" not in name_id
    _, auth2, _, fields2 = _sign_in(alice_client, sp_settings)
    assert sp_accepts(settings, fields2["SAMLResponse"], auth2.get_last_request_id()).get_nameid() == name_id
    event = AuditEvent.objects.filter(action="sso.saml.signed_in").latest("seq")
    assert event.actor_id == alice.pk and event.new_values["entity_id"] == sp.entity_id


def test_response_and_assertion_are_both_signed(sp, alice_client, sp_settings):
    _, _, _, fields = _sign_in(alice_client, sp_settings)
    xml = samlsp.decode(fields["SAMLResponse"])
    assert len(re.findall(r"<\w+:Signature[ >]", xml)) == 2
    assert "rsa-sha256" in xml and "rsa-sha1" not in xml


@pytest.mark.parametrize(
    ("nameid_format", "expected"),
    [
        ("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "alice@example.com"),
        ("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", "alice"),
    ],
)
def test_email_and_username_nameid_formats(sp, alice_client, sp_settings, nameid_format, expected):
    sp.nameid_format = nameid_format
    sp.save()
    settings, auth, _, fields = _sign_in(alice_client, sp_settings, nameid_format=nameid_format)
    result = sp_accepts(settings, fields["SAMLResponse"], auth.get_last_request_id())
    assert result.get_errors() == []
    assert result.get_nameid() == expected


def test_anonymous_user_logs_in_then_returns_to_the_sp(sp, alice, sp_settings):
    alice.set_password(PASSWORD)
    alice.save()
    client = Client()
    settings = sp_settings()
    auth, answer = start(client, settings)
    to_login = finish(client, answer)
    assert to_login.status_code == 302
    login_url, query = samlsp.split(to_login["Location"])
    assert login_url == django_settings.LOGIN_URL
    assert re.fullmatch(r"/sso/saml/resume/[A-Za-z0-9_\-]{40,}/", query["next"])
    # the console's login form (the authenticator keeps its username/password fields)
    logged = client.post("/console/login/?next=" + query["next"], {"username": "alice", "password": PASSWORD})
    assert logged.status_code == 302 and logged["Location"] == query["next"]
    page = client.get(logged["Location"])
    _, fields = samlsp.form_fields(page.content.decode())
    assert sp_accepts(settings, fields["SAMLResponse"], auth.get_last_request_id()).is_authenticated()


def test_post_binding_authn_request(sp, alice_client, sp_settings):
    from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    settings = sp_settings(sso_binding=samlsp.POST)
    request = OneLogin_Saml2_Authn_Request(OneLogin_Saml2_Settings(settings))
    answer = alice_client.post("/sso/saml/sso/post/", {"SAMLRequest": samlsp.encode(request.get_xml())})
    page = finish(alice_client, answer)
    _, fields = samlsp.form_fields(page.content.decode())
    result = sp_accepts(settings, fields["SAMLResponse"], request.get_id())
    assert result.get_errors() == [] and result.is_authenticated()


# --- tampered responses: the SP must refuse them ----------------------------------------------


def _refused(settings, xml, request_id):
    result = sp_accepts(settings, samlsp.encode(xml), request_id)
    assert not result.is_authenticated()
    assert result.get_errors()
    return result.get_last_error_reason()


def test_sp_rejects_a_changed_nameid(sp, alice, alice_client, sp_settings):
    settings, auth, _, fields = _sign_in(alice_client, sp_settings)
    xml = samlsp.decode(fields["SAMLResponse"])
    value = PersistentNameID.objects.get(user=alice).value
    assert value in xml
    _refused(settings, xml.replace(value, "f" * len(value)), auth.get_last_request_id())


def test_sp_rejects_a_changed_attribute(sp, alice_client, sp_settings):
    settings, auth, _, fields = _sign_in(alice_client, sp_settings)
    xml = samlsp.decode(fields["SAMLResponse"])
    assert "CC-42" in xml
    _refused(settings, xml.replace("CC-42", "CC-99"), auth.get_last_request_id())


def test_sp_rejects_a_response_without_signatures(sp, alice_client, sp_settings):
    settings, auth, _, fields = _sign_in(alice_client, sp_settings)
    xml = samlsp.decode(fields["SAMLResponse"])
    stripped = re.sub(r"<(\w+):Signature[ >].*?</\1:Signature>", "", xml, flags=re.S)
    assert not re.search(r"<\w+:Signature[ >]", stripped)
    _refused(settings, stripped, auth.get_last_request_id())


def test_sp_rejects_a_response_meant_for_another_sp(sp, alice_client, sp_settings, idp_cert):
    settings, auth, _, fields = _sign_in(alice_client, sp_settings)
    other = samlsp.settings_for(
        idp_base=IDP,
        idp_cert=idp_cert,
        sp_entity="https://other.example.test/metadata",
        acs_url=ACS,
    )
    reason = _refused(other, samlsp.decode(fields["SAMLResponse"]), auth.get_last_request_id())
    assert "audience" in reason.lower() or "Audience" in reason


def test_sp_rejects_a_response_posted_to_another_destination(sp, alice_client, sp_settings):
    settings, auth, _, fields = _sign_in(alice_client, sp_settings)
    elsewhere = samlsp.auth_for(
        settings, "https://sp.example.test/other-acs", post={"SAMLResponse": fields["SAMLResponse"]}
    )
    elsewhere.process_response(request_id=auth.get_last_request_id())
    assert not elsewhere.is_authenticated()
    reason = elsewhere.get_last_error_reason()
    assert "received at https://sp.example.test/other-acs" in reason, reason


def test_sp_rejects_an_expired_response(sp, alice_client, sp_settings, monkeypatch):
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    settings, auth, _, fields = _sign_in(alice_client, sp_settings)
    real_now = OneLogin_Saml2_Utils.now
    monkeypatch.setattr(OneLogin_Saml2_Utils, "now", staticmethod(lambda: real_now() + 3600))  # an hour later
    reason = _refused(settings, samlsp.decode(fields["SAMLResponse"]), auth.get_last_request_id())
    assert "expired" in reason.lower() or "SubjectConfirmation" in reason, reason


# --- bad requests: Blazon must refuse them and issue nothing ----------------------------------


def _no_response_issued():
    assert not AuditEvent.objects.filter(action="sso.saml.signed_in").exists()


def test_unknown_sp_is_refused(sp, alice_client, idp_cert):
    settings = samlsp.settings_for(
        idp_base=IDP,
        idp_cert=idp_cert,
        sp_entity="https://unknown.example.test/",
        acs_url=ACS,
    )
    _, answer = start(alice_client, settings)
    assert answer.status_code == 400
    assert "not registered" in answer.content.decode()
    assert not PendingAuthnRequest.objects.exists()


def test_disabled_sp_is_refused(sp, alice_client, sp_settings):
    sp.enabled = False
    sp.save()
    _, answer = start(alice_client, sp_settings())
    assert answer.status_code == 400 and "disabled" in answer.content.decode()


def test_acs_url_not_registered_is_refused(sp, alice_client, idp_cert):
    settings = samlsp.settings_for(
        idp_base=IDP,
        idp_cert=idp_cert,
        sp_entity=sp.entity_id,
        acs_url="https://evil.example/acs",
    )
    _, answer = start(alice_client, settings)
    assert answer.status_code == 400
    assert "assertion consumer service URL" in answer.content.decode()
    assert not PendingAuthnRequest.objects.exists()


def test_garbage_saml_request_is_a_clear_400(sp, alice_client):
    for params in ({}, {"SAMLRequest": "not base64 at all"}, {"SAMLRequest": "PHhtbD4="}):
        answer = alice_client.get("/sso/saml/sso/redirect/", params)
        assert answer.status_code == 400
    assert alice_client.post("/sso/saml/sso/post/", {"SAMLRequest": "%%%"}).status_code == 400


def test_unsigned_request_refused_when_signing_is_required(sp, alice_client, sp_settings):
    sp.require_signed_requests = True
    sp.save()
    _, answer = start(alice_client, sp_settings(sign_requests=False))
    assert answer.status_code == 400
    assert "not signed" in answer.content.decode()


def test_signed_request_accepted_when_signing_is_required(sp, alice_client, sp_settings):
    sp.require_signed_requests = True
    sp.save()
    settings, auth, _, fields = _sign_in(alice_client, sp_settings, sign_requests=True)
    assert sp_accepts(settings, fields["SAMLResponse"], auth.get_last_request_id()).is_authenticated()


def test_tampered_signed_request_is_refused(sp, alice_client, sp_settings):
    sp.require_signed_requests = True
    sp.save()
    settings = sp_settings(sign_requests=True)
    auth = samlsp.auth_for(settings, ACS)
    path, query = samlsp.split(auth.login(return_to="https://sp.example.test/home"))
    # the RelayState is covered by the redirect signature: changing it breaks the signature
    tampered = alice_client.get(path, {**query, "RelayState": "https://evil.example/"})
    assert tampered.status_code == 400 and "not signed" in tampered.content.decode()
    # a request signed by another key
    _, other_cert = samlsp.keypair("Someone else")
    sp.certificate = other_cert
    sp.save()
    assert alice_client.get(path, query).status_code == 400
    _no_response_issued()


def test_relay_state_is_only_echoed_to_the_registered_acs(sp, alice_client, sp_settings):
    settings = sp_settings()
    auth, answer = start(alice_client, settings, relay_state="https://evil.example/steal")
    page = finish(alice_client, answer)
    action, fields = samlsp.form_fields(page.content.decode())
    assert action == ACS  # never a redirect to the RelayState
    assert fields["RelayState"] == "https://evil.example/steal"  # opaque to the IdP, the SP decides


def test_login_next_cannot_leave_blazon(sp, alice):
    alice.set_password(PASSWORD)
    alice.save()
    client = Client()
    answer = client.post(
        "/console/login/?next=https://evil.example/", {"username": "alice", "password": PASSWORD}
    )
    assert answer.status_code == 302
    assert not answer["Location"].startswith("https://evil.example")


def test_user_not_allowed_for_the_sp_is_refused(sp, sp_settings):
    bob = with_password(username="bob")
    client = Client()
    client.force_login(bob)
    _, answer = start(client, sp_settings())
    page = finish(client, answer)
    assert page.status_code == 403
    assert "not allowed to use CRM" in page.content.decode()
    _no_response_issued()


def test_role_rule_lets_role_members_in(sp, sp_settings):
    from sso import services
    from tests.api.factories import RoleFactory, RoleMembershipFactory
    from tests.sso.conftest import sp_data

    role = RoleFactory(code="sales", name="Sales")
    services.service_provider_update(
        actor=None, source="test", sp=sp, data=sp_data(access_rule="ROLE", role=role)
    )
    carol = with_password(username="carol")
    client = Client()
    client.force_login(carol)
    _, answer = start(client, sp_settings())
    assert finish(client, answer).status_code == 403
    RoleMembershipFactory(user=carol, role=role)
    _, answer = start(client, sp_settings())
    assert finish(client, answer).status_code == 200


@pytest.mark.parametrize("change", ["locked", "inactive", "revoked"])
def test_locked_or_inactive_user_is_refused(sp, alice, alice_client, sp_settings, change):
    if change == "locked":
        alice.login_locked = True
    else:
        alice.status = UserStatus.INACTIVE if change == "inactive" else UserStatus.REVOKED
    alice.save()
    _, answer = start(alice_client, sp_settings())
    page = finish(alice_client, answer)
    assert page.status_code in (302, 403)  # logged out by the session checks, or refused here
    if page.status_code == 403:
        assert "not active or your login is locked" in page.content.decode()
    _no_response_issued()
    launch = alice_client.post(f"/sso/saml/launch/{sp.pk}/")
    assert launch.status_code in (302, 403)
    _no_response_issued()


def test_resume_id_cannot_be_replayed(sp, alice_client, sp_settings):
    _, answer = start(alice_client, sp_settings())
    resume = answer["Location"]
    assert alice_client.get(resume).status_code == 200
    again = alice_client.get(resume)
    assert again.status_code == 400
    assert "already used or has expired" in again.content.decode()
    assert AuditEvent.objects.filter(action="sso.saml.signed_in").count() == 1


def test_expired_resume_id_is_refused(sp, alice_client, sp_settings):
    from datetime import timedelta

    from django.utils import timezone

    _, answer = start(alice_client, sp_settings())
    PendingAuthnRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert alice_client.get(answer["Location"]).status_code == 400
    assert alice_client.get("/sso/saml/resume/made-up-id/").status_code == 400
    _no_response_issued()


def test_post_binding_signature_is_verified_when_required(sp, alice_client, sp_settings):
    from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
    from onelogin.saml2.settings import OneLogin_Saml2_Settings
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    sp.require_signed_requests = True
    sp.save()
    settings = sp_settings(sso_binding=samlsp.POST)
    key, cert = samlsp.keypair()

    def signed_request():
        request = OneLogin_Saml2_Authn_Request(OneLogin_Saml2_Settings(settings))
        xml = OneLogin_Saml2_Utils.add_sign(
            request.get_xml(),
            key,
            cert,
            sign_algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            digest_algorithm="http://www.w3.org/2001/04/xmlenc#sha256",
        )
        return request, xml.decode() if isinstance(xml, bytes) else xml

    unsigned = OneLogin_Saml2_Authn_Request(OneLogin_Saml2_Settings(settings)).get_xml()
    refused = alice_client.post("/sso/saml/sso/post/", {"SAMLRequest": samlsp.encode(unsigned)})
    assert refused.status_code == 400 and "not signed" in refused.content.decode()

    _, xml = signed_request()
    tampered = xml.replace(ACS, "https://evil.example/acs")
    refused = alice_client.post("/sso/saml/sso/post/", {"SAMLRequest": samlsp.encode(tampered)})
    assert refused.status_code == 400
    assert not PendingAuthnRequest.objects.exists()

    request, xml = signed_request()
    answer = alice_client.post("/sso/saml/sso/post/", {"SAMLRequest": samlsp.encode(xml)})
    _, fields = samlsp.form_fields(finish(alice_client, answer).content.decode())
    assert sp_accepts(settings, fields["SAMLResponse"], request.get_id()).is_authenticated()
