"""Responses are signed in-process (the ``xmlsec`` binding): no ``xmlsec1`` process per sign-in, the
same signature shape as before (Assertion signed after its Issuer, then the Response; RSA-SHA256,
exclusive c14n, the IdP certificate in KeyInfo), and the ``xmlsec1`` fallback still works."""

from __future__ import annotations

import subprocess

import pytest
import saml2.sigver
from django.core.exceptions import ImproperlyConfigured
from lxml import etree

from sso import idp
from tests.sso import samlsp
from tests.sso.conftest import ACS, finish, sp_accepts, start

pytestmark = pytest.mark.django_db

DS = "http://www.w3.org/2000/09/xmldsig#"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


@pytest.fixture
def process_starts(monkeypatch):
    """Every attempt to start a process (subprocess, and pysaml2's own import of Popen) is refused
    and recorded."""
    started = []

    def refuse(args, *a, **kw):
        started.append(args)
        raise OSError("no process may be started while signing a SAML response")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(saml2.sigver, "Popen", refuse)
    return started


def _sign_in(client, settings):
    auth, answer = start(client, settings)
    page = finish(client, answer)
    return auth, page


def test_sign_in_starts_no_xmlsec1_process(sp, alice_client, sp_settings, process_starts):
    settings = sp_settings()
    auth, page = _sign_in(alice_client, settings)

    assert page.status_code == 200, page.content[:500]
    assert process_starts == []
    _, fields = samlsp.form_fields(page.content.decode())
    result = sp_accepts(settings, fields["SAMLResponse"], auth.get_last_request_id())
    assert result.get_errors() == [], result.get_last_error_reason()
    assert result.is_authenticated()


def test_idp_initiated_launch_starts_no_xmlsec1_process(sp, alice_client, sp_settings, process_starts):
    page = alice_client.post(f"/sso/saml/launch/{sp.pk}/")

    assert page.status_code == 200, page.content[:500]
    assert process_starts == []
    action, fields = samlsp.form_fields(page.content.decode())
    assert action == ACS
    assert sp_accepts(sp_settings(), fields["SAMLResponse"], None).is_authenticated()


def _signature_right_after_issuer(element) -> etree._Element:
    children = list(element)
    assert etree.QName(children[0]).text == f"{{{SAML}}}Issuer"
    signature = children[1]
    assert etree.QName(signature).text == f"{{{DS}}}Signature"
    return signature


def test_signatures_have_the_shape_sps_expect(sp, alice_client, sp_settings, idp_cert):
    _, page = _sign_in(alice_client, sp_settings())
    _, fields = samlsp.form_fields(page.content.decode())
    root = etree.fromstring(samlsp.decode(fields["SAMLResponse"]).encode())
    assertion = root.find(f"{{{SAML}}}Assertion")
    cert_body = "".join(line for line in idp_cert.splitlines() if "-----" not in line)

    for element in (assertion, root):
        signature = _signature_right_after_issuer(element)
        ns = {"ds": DS}
        assert signature.find("ds:SignedInfo/ds:CanonicalizationMethod", ns).get("Algorithm") == EXC_C14N
        assert signature.find("ds:SignedInfo/ds:SignatureMethod", ns).get("Algorithm") == idp.SIGN_ALG
        reference = signature.find("ds:SignedInfo/ds:Reference", ns)
        assert reference.get("URI") == "#" + element.get("ID")
        assert [t.get("Algorithm") for t in reference.findall("ds:Transforms/ds:Transform", ns)] == [
            "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
            EXC_C14N,
        ]
        assert reference.find("ds:DigestMethod", ns).get("Algorithm") == idp.DIGEST_ALG
        cert = signature.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", ns).text
        assert "".join(cert.split()) == cert_body
    # the Response's signature covers the Assertion with its signature in place
    assert len(root.findall(f".//{{{DS}}}Signature")) == 2


def test_xmlsec1_fallback_signs_with_the_binary(sp, alice_client, sp_settings, settings, monkeypatch):
    settings.BLAZON_SAML_SIGNER = "xmlsec1"
    started = []
    real_popen = saml2.sigver.Popen

    def recording(args, *a, **kw):
        started.append(args[0])
        return real_popen(args, *a, **kw)

    monkeypatch.setattr(saml2.sigver, "Popen", recording)
    sp_conf = sp_settings()
    auth, page = _sign_in(alice_client, sp_conf)

    assert page.status_code == 200, page.content[:500]
    assert started and all(arg.endswith("xmlsec1") for arg in started)
    _, fields = samlsp.form_fields(page.content.decode())
    result = sp_accepts(sp_conf, fields["SAMLResponse"], auth.get_last_request_id())
    assert result.get_errors() == [], result.get_last_error_reason()
    assert result.is_authenticated()


def test_an_unknown_signer_setting_is_a_configuration_error(settings):
    settings.BLAZON_SAML_SIGNER = "hsm"
    with pytest.raises(ImproperlyConfigured, match="BLAZON_SAML_SIGNER"):
        idp.signs_in_process()


def test_the_system_check_reports_an_unknown_signer(settings):
    from sso.checks import check_saml_signer

    settings.BLAZON_SAML_SIGNER = "hsm"
    assert [m.id for m in check_saml_signer()] == ["sso.E001"]
    settings.BLAZON_SAML_SIGNER = "xmlsec1"
    assert check_saml_signer() == []
    settings.BLAZON_SAML_SIGNER = "inprocess"
    assert check_saml_signer() == []


def test_logout_response_over_post_is_signed_in_process(
    sp, alice_client, sp_settings, idp_cert, process_starts
):
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    sp.slo_binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    sp.save()
    settings = sp_settings()
    # signed in to the SP first: a logout request must name the NameID this session got
    auth, answer = start(alice_client, settings)
    _, fields = samlsp.form_fields(finish(alice_client, answer).content.decode())
    signed_in = sp_accepts(settings, fields["SAMLResponse"], auth.get_last_request_id())
    process_starts.clear()
    auth = samlsp.auth_for(settings, ACS)
    path, query = samlsp.split(
        auth.logout(return_to="https://sp.example.test/bye", name_id=signed_in.get_nameid())
    )
    page = alice_client.get(path, query)

    assert page.status_code == 200, page.content[:500]
    assert process_starts == []
    action, fields = samlsp.form_fields(page.content.decode())
    assert action == sp.slo_url
    assert fields["RelayState"] == "https://sp.example.test/bye"
    xml = samlsp.decode(fields["SAMLResponse"])
    root = etree.fromstring(xml.encode())
    assert etree.QName(root).localname == "LogoutResponse"
    _signature_right_after_issuer(root)
    assert OneLogin_Saml2_Utils.validate_sign(
        xml, cert=idp_cert, xpath="/samlp:LogoutResponse/ds:Signature", raise_exceptions=True
    )
    assert "status:Success" in xml
    tampered = xml.replace("status:Success", "status:Requester")
    with pytest.raises(Exception, match="(?i)signature"):
        OneLogin_Saml2_Utils.validate_sign(
            tampered, cert=idp_cert, xpath="/samlp:LogoutResponse/ds:Signature", raise_exceptions=True
        )
    assert alice_client.get("/workspace/").status_code == 302  # the Blazon session is over
