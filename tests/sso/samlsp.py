"""An independent SAML service provider for the tests: OneLogin's python3-saml (not pysaml2, which
Blazon is built on), configured from Blazon's published IdP metadata."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import re
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


@functools.lru_cache(maxsize=4)
def keypair(cn: str = "Test SP") -> tuple[str, str]:
    """(private key PEM, certificate PEM) of a throw-away SP signing key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def settings_for(
    *,
    idp_base: str,
    idp_cert: str,
    sp_entity: str,
    acs_url: str,
    slo_url: str = "",
    nameid_format: str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    sign_requests: bool = False,
    sso_binding: str = REDIRECT,
) -> dict:
    key_pem, cert_pem = keypair()
    sso_path = "/sso/saml/sso/redirect/" if sso_binding == REDIRECT else "/sso/saml/sso/post/"
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp_entity,
            "assertionConsumerService": {"url": acs_url, "binding": POST},
            "singleLogoutService": {"url": slo_url or acs_url.replace("acs", "sls"), "binding": REDIRECT},
            "NameIDFormat": nameid_format,
            "x509cert": cert_pem,
            "privateKey": key_pem,
        },
        "idp": {
            "entityId": idp_base + "/sso/saml/metadata/",
            "singleSignOnService": {"url": idp_base + sso_path, "binding": sso_binding},
            "singleLogoutService": {"url": idp_base + "/sso/saml/slo/redirect/", "binding": REDIRECT},
            "x509cert": idp_cert,
        },
        "security": {
            "authnRequestsSigned": sign_requests,
            "logoutRequestSigned": sign_requests,
            "wantAssertionsSigned": True,
            "wantMessagesSigned": True,
            "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
            "rejectDeprecatedAlgorithm": True,
        },
    }


def request_data(url: str, *, post: dict | None = None, get: dict | None = None) -> dict:
    parts = urlsplit(url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": get or {},
        "post_data": post or {},
    }


def auth_for(settings: dict, url: str, **kwargs):
    from onelogin.saml2.auth import OneLogin_Saml2_Auth

    return OneLogin_Saml2_Auth(request_data(url, **kwargs), settings)


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """(action, {name: value}) of the auto-posting form Blazon answers with."""
    action = re.search(r'<form method="post" action="([^"]+)" id="saml-post"', page)
    assert action, page[:2000]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in fields.items()}


def decode(saml_response: str) -> str:
    return base64.b64decode(saml_response).decode()


def encode(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
