"""A second independent SAML service provider for the tests: pysaml2's own SP (``Saml2Client``)
with its default attribute converters (the maps a pysaml2 SP uses unless told otherwise), set up
from Blazon's published IdP metadata. Blazon's IdP is built on pysaml2's server side; the SP side,
its checks and its attribute mapping are separate code."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django.test import Client
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig

from tests.sso import samlsp

PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


def client_for(*, idp_metadata: str, entity_id: str, acs_url: str, slo_url: str) -> Saml2Client:
    key_pem, cert_pem = samlsp.keypair()
    folder = Path(tempfile.mkdtemp(prefix="pysaml2-sp-"))
    (folder / "sp.key").write_text(key_pem)
    (folder / "sp.crt").write_text(cert_pem)
    config = SPConfig()
    config.load(
        {
            "entityid": entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(folder / "sp.key"),
            "cert_file": str(folder / "sp.crt"),
            "metadata": {"inline": [idp_metadata]},
            "accepted_time_diff": 60,
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)],
                        "single_logout_service": [(slo_url, BINDING_HTTP_REDIRECT)],
                    },
                    "want_response_signed": True,
                    "want_assertions_signed": True,
                    "allow_unsolicited": False,
                    "authn_requests_signed": False,
                    "name_id_format": PERSISTENT,
                }
            },
        }
    )
    return Saml2Client(config)


def sign_in(sp: Saml2Client, browser: Client, idp_entity_id: str):
    """The SP sends the browser to Blazon (HTTP-Redirect), the browser comes back with Blazon's
    auto-posted response, and the SP processes it at its ACS: returns pysaml2's response
    (``.ava`` holds the attributes after the SP's converters mapped them)."""
    request_id, info = sp.prepare_for_authenticate(
        entityid=idp_entity_id, relay_state="https://sp.example.test/home", binding=BINDING_HTTP_REDIRECT
    )
    location = dict(info["headers"])["Location"]
    path, query = samlsp.split(location)
    answer = browser.get(path, query)
    assert answer.status_code == 302, answer.content[:500]
    page = browser.get(answer["Location"])
    assert page.status_code == 200, page.content[:500]
    _action, fields = samlsp.form_fields(page.content.decode())
    return sp.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "https://sp.example.test/home"}
    )
