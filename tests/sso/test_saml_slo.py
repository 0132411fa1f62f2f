"""Single logout across SPs: two python3-saml SPs signed in through one Blazon session; a logout at
one of them (or at Blazon's "Log out" button) logs the browser out of the other too."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import urlsplit

import pytest
from django.test import Client
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from blazon.audit.models import AuditEvent
from blazon.errors import ValidationFailed
from sso import services
from tests.sso import samlsp
from tests.sso.conftest import ACS, IDP, SLO, sp_data

pytestmark = pytest.mark.django_db

B_ENTITY = "https://b.example.test/metadata"
B_ACS = "https://b.example.test/acs"
B_SLO = "https://b.example.test/sls"
C_ENTITY = "https://c.example.test/metadata"
C_ACS = "https://c.example.test/acs"
PARTIAL = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"


@pytest.fixture
def sp_b(db, app_resource):
    data = sp_data(
        name="Wiki", entity_id=B_ENTITY, acs_endpoints=[{"url": B_ACS, "binding": samlsp.POST}], slo_url=B_SLO
    )
    return services.service_provider_create(
        actor=None, source="test", data={**data, "resource": app_resource}
    )


@pytest.fixture
def sp_c(db, app_resource):
    """An SP without an SLO URL: it cannot be logged out, only reported."""
    data = sp_data(
        name="Payroll", entity_id=C_ENTITY, acs_endpoints=[{"url": C_ACS, "binding": samlsp.POST}], slo_url=""
    )
    return services.service_provider_create(
        actor=None, source="test", data={**data, "resource": app_resource}
    )


def _settings(idp_cert, entity, acs, slo, *, signed_answers=True):
    settings = samlsp.settings_for(
        idp_base=IDP, idp_cert=idp_cert, sp_entity=entity, acs_url=acs, slo_url=slo, sign_requests=True
    )
    settings["security"]["logoutResponseSigned"] = signed_answers
    return settings


def _sign_in(client, settings, acs):
    """SP-initiated sign-in at the SP whose ACS is ``acs``; the SP's accepted auth object."""
    auth = samlsp.auth_for(settings, acs)
    path, query = samlsp.split(auth.login(return_to=acs + "/home"))
    resume = client.get(path, query)
    assert resume.status_code == 302, resume.content[:500]
    _, fields = samlsp.form_fields(client.get(resume["Location"]).content.decode())
    accepted = samlsp.auth_for(settings, acs, post={"SAMLResponse": fields["SAMLResponse"]})
    accepted.process_response()
    assert accepted.get_errors() == [], accepted.get_last_error_reason()
    return accepted


@pytest.fixture
def two_sps(sp, sp_b, alice, alice_client, idp_cert):
    a = _settings(idp_cert, sp.entity_id, ACS, SLO)
    b = _settings(idp_cert, B_ENTITY, B_ACS, B_SLO)
    return a, b, _sign_in(alice_client, a, ACS), _sign_in(alice_client, b, B_ACS)


def _logout_at_a(client, a, signed_in_a):
    auth = samlsp.auth_for(a, ACS)
    url = auth.logout(
        return_to="https://sp.example.test/bye",
        name_id=signed_in_a.get_nameid(),
        session_index=signed_in_a.get_session_index(),
    )
    path, query = samlsp.split(url)
    return auth, client.get(path, query)


def _b_receives(answer, b, signed_in_b):
    """SP B's SLO endpoint processes Blazon's LogoutRequest; returns (request XML, SP B's answer URL)."""
    assert answer.status_code == 302, answer.content[:500]
    assert answer["Location"].startswith(B_SLO + "?")
    _, params = samlsp.split(answer["Location"])
    assert "Signature" in params
    xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(params["SAMLRequest"]).decode()
    assert OneLogin_Saml2_Logout_Request.get_nameid(xml) == signed_in_b.get_nameid()
    assert OneLogin_Saml2_Logout_Request.get_session_indexes(xml) == [signed_in_b.get_session_index()]
    sls = samlsp.auth_for(b, B_SLO, get=params)
    back = sls.process_slo(keep_local_session=True)
    assert sls.get_errors() == [], sls.get_last_error_reason()
    return xml, back


def _a_accepts(answer, a, auth_a):
    assert answer.status_code == 302, answer.content[:500]
    assert answer["Location"].startswith(SLO + "?")
    _, params = samlsp.split(answer["Location"])
    assert params["RelayState"] == "https://sp.example.test/bye"
    sls = samlsp.auth_for(a, SLO, get=params)
    sls.process_slo(request_id=auth_a.get_last_request_id(), keep_local_session=True)
    assert sls.get_errors() == [], sls.get_last_error_reason()
    return OneLogin_Saml2_Utils.decode_base64_and_inflate(params["SAMLResponse"]).decode()


def test_logout_at_one_sp_logs_out_of_the_other(two_sps, alice_client):
    a, b, in_a, in_b = two_sps
    assert in_a.get_session_index() and in_b.get_session_index()
    assert in_a.get_session_index() != in_b.get_session_index()
    auth_a, answer = _logout_at_a(alice_client, a, in_a)
    assert alice_client.get("/workspace/").status_code == 302  # the Blazon session is already over
    request_xml, back = _b_receives(answer, b, in_b)
    assert f'Destination="{B_SLO}"' in request_xml
    assert "NotOnOrAfter=" in request_xml
    assert IDP + "/sso/saml/metadata/" in request_xml  # the Issuer
    path, query = samlsp.split(back)
    final = alice_client.get(path, query)
    response_xml = _a_accepts(final, a, auth_a)
    assert PARTIAL not in response_xml
    assert alice_client.get("/workspace/").status_code == 302
    assert AuditEvent.objects.filter(action="sso.saml.single_logout").count() == 1


def test_an_sp_answering_with_an_error_gives_partial_logout(two_sps, alice_client, idp_cert):
    a, b, in_a, in_b = two_sps
    auth_a, answer = _logout_at_a(alice_client, a, in_a)
    request_xml, _ = _b_receives(answer, b, in_b)
    request_id = OneLogin_Saml2_Logout_Request.get_id(request_xml)
    # SP B answers "Responder" (it could not end its session), signed
    from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    b_settings = OneLogin_Saml2_Settings(b)
    error = OneLogin_Saml2_Logout_Response(b_settings)
    error.build(request_id, status="urn:oasis:names:tc:SAML:2.0:status:Responder")
    params = _signed(b, error.get_response())
    final = alice_client.get("/sso/saml/slo/redirect/", params)
    response_xml = _a_accepts(final, a, auth_a)
    assert PARTIAL in response_xml
    assert alice_client.get("/workspace/").status_code == 302


def _signed(settings, saml_response):
    """The query parameters of a LogoutResponse signed by the SP of ``settings`` (HTTP-Redirect)."""
    params = {"SAMLResponse": saml_response}
    samlsp.auth_for(settings, B_SLO).add_response_signature(
        params, settings["security"]["signatureAlgorithm"]
    )
    return params


def _b_answer_params(back):
    _, params = samlsp.split(back)
    return params


def test_tampered_or_unexpected_answers_are_refused_and_leave_the_chain(two_sps, alice_client, idp_cert):
    a, b, in_a, in_b = two_sps
    auth_a, answer = _logout_at_a(alice_client, a, in_a)
    _, back = _b_receives(answer, b, in_b)
    good = _b_answer_params(back)

    # another browser (no chain) cannot use it, and the real chain is not disturbed
    other = Client()
    refused = other.get("/sso/saml/slo/redirect/", good)
    assert refused.status_code == 400
    assert b"No logout is in progress" in refused.content

    # the signature of the query string no longer matches
    tampered = {**good, "Signature": good["Signature"][:-8] + "AAAAAAA="}
    refused = alice_client.get("/sso/saml/slo/redirect/", tampered)
    assert refused.status_code == 400
    assert b"signature is not valid" in refused.content

    # unsigned, while SP B must sign (it requires signed messages)
    from sso.models import ServiceProvider

    ServiceProvider.objects.filter(entity_id=B_ENTITY).update(require_signed_requests=True)
    unsigned = {"SAMLResponse": good["SAMLResponse"]}
    refused = alice_client.get("/sso/saml/slo/redirect/", unsigned)
    assert refused.status_code == 400
    assert b"not signed" in refused.content

    # a LogoutResponse to some other request (wrong InResponseTo), properly signed by SP B
    from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    wrong = OneLogin_Saml2_Logout_Response(OneLogin_Saml2_Settings(b))
    wrong.build("_not_what_blazon_sent")
    params = _signed(b, wrong.get_response())
    refused = alice_client.get("/sso/saml/slo/redirect/", params)
    assert refused.status_code == 400
    assert b"InResponseTo" in refused.content

    # the genuine answer still completes the chain with Success
    final = alice_client.get("/sso/saml/slo/redirect/", good)
    response_xml = _a_accepts(final, a, auth_a)
    assert PARTIAL not in response_xml


def test_answer_from_an_unknown_sp_is_refused(two_sps, alice_client, idp_cert):
    a, b, in_a, in_b = two_sps
    _, answer = _logout_at_a(alice_client, a, in_a)
    request_xml, _ = _b_receives(answer, b, in_b)
    from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    stranger = _settings(idp_cert, "https://evil.example.test/metadata", "https://evil.example.test/acs", "")
    forged = OneLogin_Saml2_Logout_Response(OneLogin_Saml2_Settings(stranger))
    forged.build(OneLogin_Saml2_Logout_Request.get_id(request_xml))
    refused = alice_client.get("/sso/saml/slo/redirect/", {"SAMLResponse": forged.get_response()})
    assert refused.status_code == 400
    assert b"did not ask to log out" in refused.content


def test_sp_without_slo_url_is_skipped_and_named(sp, sp_b, sp_c, alice, alice_client, idp_cert):
    """The chain starts at SP B; SP A is logged out; SP C has no SLO URL; SP B has none either at
    the end, so the chain ends at Blazon and says which applications may still be signed in."""
    a = _settings(idp_cert, sp.entity_id, ACS, SLO)
    c = _settings(idp_cert, C_ENTITY, C_ACS, "https://c.example.test/sls")
    in_a = _sign_in(alice_client, a, ACS)
    in_c = _sign_in(alice_client, c, C_ACS)
    auth = samlsp.auth_for(c, C_ACS)
    path, query = samlsp.split(auth.logout(name_id=in_c.get_nameid(), session_index=in_c.get_session_index()))
    answer = alice_client.get(path, query)
    assert answer["Location"].startswith(SLO + "?")
    _, params = samlsp.split(answer["Location"])
    sls = samlsp.auth_for(a, SLO, get=params)
    back = sls.process_slo(keep_local_session=True)
    assert sls.get_errors() == [], sls.get_last_error_reason()
    assert in_a.get_nameid()
    path, query = samlsp.split(back)
    page = alice_client.get(path, query)
    assert page.status_code == 200
    assert b"You are logged out" in page.content
    assert b"Payroll" in page.content  # SP C (no SLO URL) ended the chain at Blazon


def test_console_logout_runs_the_chain_and_ends_on_the_login_page(two_sps, sp_c, alice_client, idp_cert):
    a, b, in_a, in_b = two_sps
    c = _settings(idp_cert, C_ENTITY, C_ACS, "")
    _sign_in(alice_client, c, C_ACS)
    answer = alice_client.post("/console/logout/")
    assert alice_client.get("/workspace/").status_code == 302
    assert answer.status_code == 302
    seen = set()
    for _ in range(2):  # SP A and SP B, in the order they were signed into
        location = answer["Location"]
        settings, signed_in, url = (a, in_a, SLO) if location.startswith(SLO + "?") else (b, in_b, B_SLO)
        assert location.startswith(url + "?")
        _, params = samlsp.split(location)
        xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(params["SAMLRequest"]).decode()
        assert OneLogin_Saml2_Logout_Request.get_session_indexes(xml) == [signed_in.get_session_index()]
        sls = samlsp.auth_for(settings, url, get=params)
        back = sls.process_slo(keep_local_session=True)
        assert sls.get_errors() == [], sls.get_last_error_reason()
        seen.add(url)
        path, query = samlsp.split(back)
        answer = alice_client.get(path, query)
    assert seen == {SLO, B_SLO}
    assert answer.status_code == 302
    assert answer["Location"] == "/login/"
    login = alice_client.get(answer["Location"])
    assert b"Payroll" in login.content  # the SP without SLO URL is named on the login page


def test_console_logout_without_saml_sessions_is_unchanged(alice_client):
    answer = alice_client.post("/console/logout/")
    assert answer.status_code == 302
    assert alice_client.get("/workspace/").status_code == 302


def test_post_binding_sp_gets_a_signed_request_and_posts_its_signed_answer(
    sp, sp_b, alice, alice_client, idp_cert
):
    """SP B registered with the HTTP-POST SLO binding: Blazon posts a signed LogoutRequest, SP B
    posts back a signed LogoutResponse; a copy with a changed status is refused."""
    from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    sp_b.slo_binding = samlsp.POST
    sp_b.save()
    a = _settings(idp_cert, sp.entity_id, ACS, SLO)
    b = _settings(idp_cert, B_ENTITY, B_ACS, B_SLO)
    in_a = _sign_in(alice_client, a, ACS)
    in_b = _sign_in(alice_client, b, B_ACS)
    auth_a, page = _logout_at_a(alice_client, a, in_a)
    assert page.status_code == 200
    action, fields = samlsp.form_fields(page.content.decode())
    assert action == B_SLO
    xml = samlsp.decode(fields["SAMLRequest"])
    assert OneLogin_Saml2_Utils.validate_sign(
        xml, cert=idp_cert, xpath="/samlp:LogoutRequest/ds:Signature", raise_exceptions=True
    )
    assert OneLogin_Saml2_Logout_Request.get_nameid(xml) == in_b.get_nameid()
    assert OneLogin_Saml2_Logout_Request.get_session_indexes(xml) == [in_b.get_session_index()]

    answer = OneLogin_Saml2_Logout_Response(OneLogin_Saml2_Settings(b))
    answer.build(OneLogin_Saml2_Logout_Request.get_id(xml))
    key_pem, cert_pem = samlsp.keypair()
    signed = OneLogin_Saml2_Utils.add_sign(
        answer.get_xml(), key_pem, cert_pem, sign_algorithm=b["security"]["signatureAlgorithm"]
    )
    signed = signed.decode() if isinstance(signed, bytes) else signed
    tampered = signed.replace("status:Success", "status:Responder")
    refused = alice_client.post("/sso/saml/slo/post/", {"SAMLResponse": samlsp.encode(tampered)})
    assert refused.status_code == 400
    assert b"signature is not valid" in refused.content
    final = alice_client.post("/sso/saml/slo/post/", {"SAMLResponse": samlsp.encode(signed)})
    response_xml = _a_accepts(final, a, auth_a)
    assert PARTIAL not in response_xml


def test_idp_initiated_launch_takes_part_in_single_logout(sp, sp_b, alice, alice_client, idp_cert):
    """SP B opened from "My applications" (no AuthnRequest) is logged out when SP A logs out."""
    a = _settings(idp_cert, sp.entity_id, ACS, SLO)
    b = _settings(idp_cert, B_ENTITY, B_ACS, B_SLO)
    in_a = _sign_in(alice_client, a, ACS)
    _, fields = samlsp.form_fields(alice_client.post(f"/sso/saml/launch/{sp_b.pk}/").content.decode())
    in_b = samlsp.auth_for(b, B_ACS, post={"SAMLResponse": fields["SAMLResponse"]})
    in_b.process_response()
    assert in_b.get_errors() == [], in_b.get_last_error_reason()
    auth_a, answer = _logout_at_a(alice_client, a, in_a)
    _, back = _b_receives(answer, b, in_b)
    path, query = samlsp.split(back)
    _a_accepts(alice_client.get(path, query), a, auth_a)


def test_one_users_answer_cannot_advance_another_users_chain(two_sps, app_resource, alice_client, idp_cert):
    from directory.models import AccountStatus
    from tests.api.factories import AccountFactory, UserFactory

    a, b, in_a, in_b = two_sps
    bob = UserFactory(username="bob", email="bob@example.com")
    AccountFactory(owner=bob, resource=app_resource, identifier="bob", status=AccountStatus.ACTIVE)
    bob_client = Client()
    bob_client.force_login(bob)
    bob_in_a, bob_in_b = _sign_in(bob_client, a, ACS), _sign_in(bob_client, b, B_ACS)

    alice_auth, alice_answer = _logout_at_a(alice_client, a, in_a)
    _, alice_back = _b_receives(alice_answer, b, in_b)
    bob_auth, bob_answer = _logout_at_a(bob_client, a, bob_in_a)
    _, bob_back = _b_receives(bob_answer, b, bob_in_b)

    # alice's (genuine, signed) answer sent in bob's browser: not the answer bob's chain waits for
    refused = bob_client.get("/sso/saml/slo/redirect/", _b_answer_params(alice_back))
    assert refused.status_code == 400
    assert b"InResponseTo" in refused.content
    # both chains still complete
    path, query = samlsp.split(bob_back)
    _a_accepts(bob_client.get(path, query), a, bob_auth)
    path, query = samlsp.split(alice_back)
    _a_accepts(alice_client.get(path, query), a, alice_auth)


def test_answer_addressed_elsewhere_is_refused(two_sps, alice_client):
    a, b, in_a, in_b = two_sps
    auth_a, answer = _logout_at_a(alice_client, a, in_a)
    request_xml, back = _b_receives(answer, b, in_b)
    from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    elsewhere = {**b, "idp": {**b["idp"], "singleLogoutService": {**b["idp"]["singleLogoutService"]}}}
    elsewhere["idp"]["singleLogoutService"]["url"] = "https://other-idp.example.test/slo"
    wrong = OneLogin_Saml2_Logout_Response(OneLogin_Saml2_Settings(elsewhere))
    wrong.build(OneLogin_Saml2_Logout_Request.get_id(request_xml))
    refused = alice_client.get("/sso/saml/slo/redirect/", _signed(b, wrong.get_response()))
    assert refused.status_code == 400
    assert b"Destination" in refused.content
    path, query = samlsp.split(back)
    _a_accepts(alice_client.get(path, query), a, auth_a)


@pytest.mark.parametrize(
    ("name_id", "session_index"),
    [
        ("another-users-opaque-id", None),  # someone else's NameID
        (None, "_a-session-index-blazon-never-issued"),  # this NameID, another session
    ],
)
def test_logout_request_for_another_principal_or_session_is_refused(
    two_sps, alice_client, name_id, session_index
):
    a, _b, in_a, _in_b = two_sps
    auth = samlsp.auth_for(a, ACS)
    url = auth.logout(
        return_to="https://sp.example.test/bye",
        name_id=name_id or in_a.get_nameid(),
        name_id_format=in_a.get_nameid_format(),
        session_index=session_index or in_a.get_session_index(),
    )
    path, query = samlsp.split(url)
    answer = alice_client.get(path, query)

    # SP A gets a signed LogoutResponse (not the chain to SP B) saying Requester/UnknownPrincipal
    assert answer.status_code == 302, answer.content[:500]
    assert answer["Location"].startswith(SLO + "?")
    _, params = samlsp.split(answer["Location"])
    xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(params["SAMLResponse"]).decode()
    assert "status:Requester" in xml and "status:UnknownPrincipal" in xml
    sls = samlsp.auth_for(a, SLO, get=params)
    sls.process_slo(request_id=auth.get_last_request_id(), keep_local_session=True)
    assert sls.get_errors() == ["logout_not_success"]  # valid (signed, in response), not a success
    # nothing logged out: the Blazon session and its SAML sessions are intact
    assert alice_client.get("/workspace/").status_code == 200
    assert not AuditEvent.objects.filter(action="sso.saml.single_logout").exists()
    # the right request still logs out everywhere
    _, real = _logout_at_a(alice_client, a, in_a)
    assert real["Location"].startswith(B_SLO + "?")


def test_logout_request_from_an_sp_this_session_never_used_is_refused(sp, alice_client, idp_cert):
    settings = _settings(idp_cert, sp.entity_id, ACS, SLO)
    auth = samlsp.auth_for(settings, ACS)
    path, query = samlsp.split(auth.logout(return_to="https://sp.example.test/bye", name_id="guess"))
    answer = alice_client.get(path, query)
    _, params = samlsp.split(answer["Location"])
    xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(params["SAMLResponse"]).decode()
    assert "status:UnknownPrincipal" in xml
    assert alice_client.get("/workspace/").status_code == 200


def _frame_src(page) -> str:
    assert page.status_code == 200, page.content[:500]
    content = page.content.decode()
    src = re.search(r'<iframe name="slo-frame"[^>]* src="([^"]+)"', content)
    assert src, content[:2000]
    return html.unescape(src.group(1))


def test_sp_with_a_time_limit_is_logged_out_in_a_frame_and_its_answer_moves_on(two_sps, sp_b, alice_client):
    sp_b.slo_timeout_seconds = 5
    sp_b.save()
    a, b, in_a, in_b = two_sps
    auth_a, page = _logout_at_a(alice_client, a, in_a)
    # Blazon's page (not a redirect away from Blazon): SP B's LogoutRequest in a frame, and a
    # refresh that goes on after SP B's limit
    assert 'http-equiv="refresh" content="5;url=/sso/saml/slo/continue/"' in page.content.decode()
    src = _frame_src(page)
    assert src.startswith(B_SLO + "?")
    _, back = _b_receives(_Redirect(src), b, in_b)
    # SP B's answer comes into the frame: a page allowed in Blazon's frame that moves the top on
    framed = alice_client.get(*samlsp.split(back))
    assert framed.status_code == 200 and framed["X-Frame-Options"] == "SAMEORIGIN"
    assert "data-top-redirect" in framed.content.decode()  # app.js moves the top window on
    assert "frame-ancestors 'self'" in framed["Content-Security-Policy"]
    # the frame page names the SP's origin as the one site it may frame, nothing else
    b_origin = "{0.scheme}://{0.netloc}".format(urlsplit(B_SLO))
    assert f"frame-src 'self' {b_origin}" in page["Content-Security-Policy"]
    final = alice_client.get("/sso/saml/slo/continue/")
    assert PARTIAL not in _a_accepts(final, a, auth_a)


def test_sp_that_never_answers_does_not_strand_the_browser(two_sps, sp_b, alice_client):
    sp_b.slo_timeout_seconds = 1
    sp_b.save()
    a, b, in_a, in_b = two_sps
    auth_a, page = _logout_at_a(alice_client, a, in_a)
    src = _frame_src(page)
    # within the limit, going on shows the same step (the same request, not a new one)
    assert _frame_src(alice_client.get("/sso/saml/slo/continue/")) == src
    time.sleep(1.1)
    # SP B never answered: after its limit the chain finishes, SP A hears PartialLogout
    final = alice_client.get("/sso/saml/slo/continue/")
    assert PARTIAL in _a_accepts(final, a, auth_a)
    # a late answer from SP B changes nothing
    _, back = _b_receives(_Redirect(src), b, in_b)
    assert alice_client.get(*samlsp.split(back)).status_code == 400


def test_time_limit_is_validated(sp):
    for bad in (-1, 301, "ten"):
        with pytest.raises(ValidationFailed):
            services.service_provider_update(
                actor=None,
                source="test",
                sp=sp,
                data={**sp_data(resource=sp.resource), "slo_timeout_seconds": bad},
            )
    sp.refresh_from_db()
    assert sp.slo_timeout_seconds == 0


class _Redirect:
    """A stand-in for Blazon's redirect to SP B, for the frame's URL (what the frame loads)."""

    status_code = 302

    def __init__(self, location: str):
        self.location = location
        self.content = b""

    def __getitem__(self, key: str) -> str:
        assert key == "Location"
        return self.location
