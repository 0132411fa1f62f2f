"""The SAML protocol side of the IdP, on pysaml2: a ``Server`` configured for one service provider
(its metadata built from the ``ServiceProvider`` row), parsing its AuthnRequests and
LogoutRequests (signatures verified by xmlsec1 against the SP's certificate) and building the
responses, which ``sso.signing`` signs in-process (``BLAZON_SAML_SIGNER = "xmlsec1"`` lets pysaml2
sign them with the binary instead). Nothing here decides who may sign in: ``sso.selectors`` and
the views do."""

from __future__ import annotations

import base64
import functools
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, samlp
from saml2.attribute_converter import AttributeConverter
from saml2.authn_context import PASSWORD, PASSWORDPROTECTEDTRANSPORT
from saml2.config import IdPConfig
from saml2.entity import Entity
from saml2.s_utils import do_ava, factory
from saml2.saml import NAME_FORMAT_UNSPECIFIED, NAME_FORMAT_URI, NameID
from saml2.server import Server
from saml2.sigver import CryptoBackendXmlSec1

from sso import keys
from sso.checks import SIGNERS
from sso.models import AttributeNameFormat, NameIDFormat, ServiceProvider

logger = logging.getLogger("blazon.sso")

SSO_REDIRECT_PATH = "/sso/saml/sso/redirect/"
SSO_POST_PATH = "/sso/saml/sso/post/"
SLO_REDIRECT_PATH = "/sso/saml/slo/redirect/"
SLO_POST_PATH = "/sso/saml/slo/post/"
METADATA_PATH = "/sso/saml/metadata/"
XMLSEC_BINARY = "/usr/bin/xmlsec1"
SIGN_ALG = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_ALG = "http://www.w3.org/2001/04/xmlenc#sha256"


class SAMLRequestError(Exception):
    """A SAML message Blazon refuses (malformed, unsigned where required, badly signed, stale).
    ``message`` is safe to show to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def base_url(request: Any = None) -> str:
    """Where Blazon is reached: ``BLAZON_BASE_URL`` when set (production), else the request's host."""
    configured = getattr(settings, "BLAZON_BASE_URL", "")
    if configured:
        return configured.rstrip("/")
    if request is None:
        return "http://localhost:8000"
    return f"{request.scheme}://{request.get_host()}"


def idp_entity_id(request: Any = None) -> str:
    return getattr(settings, "BLAZON_SAML_ENTITY_ID", "") or base_url(request) + METADATA_PATH


def _cert_body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if "-----" not in line)


def sp_metadata_xml(sp: ServiceProvider) -> str:
    """SAML metadata for ``sp`` built from its configuration, as pysaml2's metadata store reads it."""
    parts = [
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID={quoteattr(sp.entity_id)}>',
        '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" '
        f'AuthnRequestsSigned="{"true" if sp.require_signed_requests else "false"}">',
    ]
    if sp.certificate:
        parts.append(
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f"{escape(_cert_body(sp.certificate))}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        )
    if sp.slo_url:
        parts.append(
            f"<md:SingleLogoutService Binding={quoteattr(sp.slo_binding)} Location={quoteattr(sp.slo_url)}/>"
        )
    parts.append(f"<md:NameIDFormat>{escape(sp.nameid_format)}</md:NameIDFormat>")
    for i, acs in enumerate(sp.acs_endpoints):
        default = ' isDefault="true"' if i == 0 else ""
        parts.append(
            f"<md:AssertionConsumerService Binding={quoteattr(acs['binding'])} Location={quoteattr(acs['url'])} "
            f'index="{int(acs.get("index", i))}"{default}/>'
        )
    parts.append("</md:SPSSODescriptor></md:EntityDescriptor>")
    return "".join(parts)


def _config(sp: ServiceProvider | None, request: Any, *, signing: keys.SigningKey) -> IdPConfig:
    base = base_url(request)
    conf = {
        "entityid": idp_entity_id(request),
        "xmlsec_binary": XMLSEC_BINARY,
        "key_file": signing.key_file,
        "cert_file": signing.cert_file,
        "accepted_time_diff": int(getattr(settings, "BLAZON_SAML_CLOCK_SKEW", 60)),
        "allow_unknown_attributes": True,
        "signing_algorithm": SIGN_ALG,
        "digest_algorithm": DIGEST_ALG,
        "service": {
            "idp": {
                "endpoints": {
                    "single_sign_on_service": [
                        (base + SSO_REDIRECT_PATH, BINDING_HTTP_REDIRECT),
                        (base + SSO_POST_PATH, BINDING_HTTP_POST),
                    ],
                    "single_logout_service": [
                        (base + SLO_REDIRECT_PATH, BINDING_HTTP_REDIRECT),
                        (base + SLO_POST_PATH, BINDING_HTTP_POST),
                    ],
                },
                "want_authn_requests_signed": bool(sp and sp.require_signed_requests),
                "sign_response": True,
                "sign_assertion": True,
                "name_id_format": [sp.nameid_format] if sp else [],
                "policy": {
                    "default": {
                        "lifetime": {"minutes": int(getattr(settings, "BLAZON_SAML_ASSERTION_MINUTES", 5))},
                        "attribute_restrictions": None,
                        "name_form": NAME_FORMAT_URI,
                    }
                },
            }
        },
        "metadata": {"inline": [sp_metadata_xml(sp)]} if sp else {},
    }
    config = IdPConfig()
    config.load(conf)
    # attribute names go out exactly as the administrator mapped them (pysaml2's default maps
    # would rename "mail" to its OID)
    config.attribute_converters = [
        _VerbatimAttributes(NAME_FORMAT_URI, sp.attribute_name_format if sp else AttributeNameFormat.AUTO)
    ]
    return config


def attribute_name_format(name: str, setting: str) -> str:
    """The NameFormat an attribute called ``name`` goes out with under the SP's setting: AUTO
    gives URI names (``urn:oid:…``, ``https://…``) the URI format, as SAML profiles and SPs
    (pysaml2, Shibboleth) expect, and other names unspecified (an SP keeps those as they are)."""
    if setting != AttributeNameFormat.AUTO:
        return setting
    return NAME_FORMAT_URI if _URI_NAME.match(name) else NAME_FORMAT_UNSPECIFIED


_URI_NAME = re.compile(r"^(urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:\S+|[A-Za-z][A-Za-z0-9+.-]*://\S+)$")


class _VerbatimAttributes(AttributeConverter):
    def __init__(self, name_format: str, setting: str):
        super().__init__(name_format)
        self._to: dict[str, Any] = {}
        self._fro: dict[str, Any] = {}
        self._setting = setting

    def to_(self, attrvals: dict) -> list:
        return [
            factory(
                saml.Attribute,
                name=key,
                name_format=attribute_name_format(key, self._setting),
                attribute_value=do_ava(values),
            )
            for key, values in attrvals.items()
        ]


class _XmlSec1(CryptoBackendXmlSec1):
    """pysaml2's xmlsec1 backend asks ``xmlsec1 --version`` (a process) before every signature;
    the binary does not change while we run."""

    @functools.cached_property
    def version(self) -> str:
        return super().version


def _new_server(sp: ServiceProvider | None, request: Any, signing: keys.SigningKey) -> Server:
    server = Server(config=_config(sp, request, signing=signing))
    if type(server.sec.crypto) is CryptoBackendXmlSec1:
        server.sec.crypto.__class__ = _XmlSec1
    server.blazon_signing = signing  # the key sso.signing signs this server's responses with
    return server


def signs_in_process() -> bool:
    """True unless ``BLAZON_SAML_SIGNER`` asks for pysaml2's xmlsec1 binary (the fallback)."""
    signer = getattr(settings, "BLAZON_SAML_SIGNER", "inprocess") or "inprocess"
    if signer not in SIGNERS:
        raise ImproperlyConfigured(f"BLAZON_SAML_SIGNER must be one of {', '.join(SIGNERS)}, not {signer!r}")
    return signer == "inprocess"


_servers: OrderedDict[tuple, Server] = OrderedDict()
_servers_lock = threading.Lock()
SERVER_CACHE_SIZE = 64


def server_for(
    sp: ServiceProvider | None, request: Any = None, *, signing: keys.SigningKey | None = None
) -> Server:
    """A pysaml2 IdP that knows only ``sp`` (or no SP, for the metadata), signing with the ACTIVE key.

    Building one parses the SP's metadata and loads the key (hundreds of milliseconds), so saved
    SPs' servers are kept per process, keyed by everything they are built from: an edit of the SP
    (``updated_at``), a key rotation or another public host name gives a new one."""
    signing = signing or keys.signing_key()
    if sp is None or sp.pk is None:
        return _new_server(sp, request, signing)
    cache_key = (
        sp.pk,
        sp.updated_at,
        signing.key_id,
        signing.key_file,
        base_url(request),
        idp_entity_id(request),
    )
    with _servers_lock:
        server = _servers.get(cache_key)
        if server is not None:
            _servers.move_to_end(cache_key)
            return server
    server = _new_server(sp, request, signing)
    with _servers_lock:
        _servers[cache_key] = server
        while len(_servers) > SERVER_CACHE_SIZE:
            _servers.popitem(last=False)
    return server


def peek_issuer(saml_request: str, binding: str) -> str:
    """The Issuer of an AuthnRequest/LogoutRequest before anything is verified (to find its SP)."""

    try:
        xml = Entity.unravel(saml_request, binding)
        message = _parse_any_request(xml)
    except Exception:  # noqa: BLE001 - any decoding/parsing failure is the same user error
        raise SAMLRequestError(gettext("The SAML request could not be decoded.")) from None
    if message is None or message.issuer is None or not (message.issuer.text or "").strip():
        raise SAMLRequestError(gettext("The SAML request does not name its issuer."))
    return message.issuer.text.strip()


def _parse_any_request(xml: str) -> Any:
    for parser in (samlp.authn_request_from_string, samlp.logout_request_from_string):
        message = parser(xml)
        if message is not None:
            return message
    return None


@dataclass
class ParsedAuthnRequest:
    request_id: str
    acs_url: str
    force_authn: bool
    relay_state: str


def parse_authn_request(
    server: Server, sp: ServiceProvider, params: dict[str, str], binding: str
) -> ParsedAuthnRequest:
    """Verify an AuthnRequest from ``sp`` (signature when required or present, destination,
    issue instant) and resolve the ACS it asks for against the registered ones."""
    try:
        req = server.parse_authn_request(
            params["SAMLRequest"],
            binding,
            relay_state=params.get("RelayState"),
            sigalg=params.get("SigAlg"),
            signature=params.get("Signature"),
        )
    except Exception as exc:  # noqa: BLE001 - pysaml2 raises many types; all are a refused request
        logger.info("saml: refused AuthnRequest from %s: %s", sp.entity_id, type(exc).__name__)
        if sp.require_signed_requests:
            raise SAMLRequestError(
                gettext("The sign-in request is not signed, or its signature is not valid.")
            ) from None
        raise SAMLRequestError(gettext("The sign-in request is not valid.")) from None
    if req is None or req.message is None:
        raise SAMLRequestError(gettext("The sign-in request is not valid."))
    _check_fresh_and_addressed(req, "sign-in")
    message = req.message
    if message.issuer is None or message.issuer.text.strip() != sp.entity_id:
        raise SAMLRequestError(gettext("The sign-in request's issuer does not match the service provider."))
    if message.protocol_binding and message.protocol_binding != BINDING_HTTP_POST:
        raise SAMLRequestError(gettext("Blazon answers sign-in requests on the HTTP-POST binding only."))
    acs_url = _resolve_acs(
        sp, message.assertion_consumer_service_url, message.assertion_consumer_service_index
    )
    return ParsedAuthnRequest(
        request_id=message.id,
        acs_url=acs_url,
        force_authn=str(message.force_authn).lower() == "true",
        relay_state=params.get("RelayState") or "",
    )


def _check_fresh_and_addressed(req: Any, what: str) -> None:
    try:
        fresh = req.verify()  # version, Destination (one of our endpoints), issue instant
    except Exception:  # noqa: BLE001 - pysaml2 raises OtherError/VersionMismatch
        raise SAMLRequestError(
            gettext("The %(what)s request is not addressed to this Blazon (Destination).") % {"what": what}
        ) from None
    if not fresh:
        raise SAMLRequestError(
            gettext("The %(what)s request is too old or from the future (check the SP's clock).")
            % {"what": what}
        )


def _resolve_acs(sp: ServiceProvider, url: str | None, index: str | None) -> str:
    registered = sp.acs_endpoints
    if url:
        for acs in registered:
            if acs["url"] == url:
                return url
        raise SAMLRequestError(
            gettext("The assertion consumer service URL of the request is not registered for this SP.")
        )
    if index is not None:
        for acs in registered:
            if str(acs.get("index")) == str(index):
                return acs["url"]
        raise SAMLRequestError(
            gettext("The assertion consumer service index of the request is not registered for this SP.")
        )
    if not registered:
        raise SAMLRequestError(gettext("This SP has no assertion consumer service."))
    return registered[0]["url"]


def build_response(
    server: Server,
    sp: ServiceProvider,
    *,
    in_response_to: str | None,
    destination: str,
    name_id: str,
    attributes: dict[str, list[str]],
    authn_instant: int | None = None,
) -> str:
    """A signed Response holding one signed Assertion for ``sp``, as XML: pysaml2 builds it, and
    ``sso.signing`` signs the Assertion, then the Response, in this process."""
    identity = {k: v for k, v in attributes.items() if v}
    authn = {"class_ref": PASSWORDPROTECTEDTRANSPORT if destination.startswith("https") else PASSWORD}
    if authn_instant:
        authn["authn_instant"] = authn_instant
    with server.lock:  # one response at a time per cached server (pysaml2 keeps per-response state)
        return _build_response(server, sp, identity, in_response_to, destination, name_id, authn)


def _build_response(server, sp, identity, in_response_to, destination, name_id, authn) -> str:
    in_process = signs_in_process()
    response = server.create_authn_response(
        identity,
        in_response_to,
        destination,
        sp.entity_id,
        name_id=NameID(format=sp.nameid_format, text=name_id, sp_name_qualifier=sp.entity_id),
        authn=authn,
        sign_response=not in_process,
        sign_assertion=not in_process,
        sign_alg=SIGN_ALG,
        digest_alg=DIGEST_ALG,
    )
    server.session_db = type(server.session_db)()  # pysaml2 keeps every assertion in memory otherwise
    if in_process:
        from sso import signing  # imported here: the xmlsec1 fallback must work without the binding

        return signing.sign_response(str(response), server.blazon_signing)
    return str(response)


@dataclass
class ParsedLogoutRequest:
    message: Any
    name_id: str
    xml: str = ""


def parse_logout_request(
    server: Server, sp: ServiceProvider, params: dict[str, str], binding: str
) -> ParsedLogoutRequest:
    """Verify a LogoutRequest from ``sp`` (signed when the SP requires signed requests)."""
    try:
        req = server.parse_logout_request(
            params["SAMLRequest"],
            binding,
            relay_state=params.get("RelayState"),
            sigalg=params.get("SigAlg"),
            signature=params.get("Signature"),
        )
    except Exception as exc:  # noqa: BLE001 - every pysaml2 failure is a refused request
        logger.info("saml: refused LogoutRequest from %s: %s", sp.entity_id, type(exc).__name__)
        raise SAMLRequestError(gettext("The logout request is not signed, or is not valid.")) from None
    if req is None or req.message is None:
        raise SAMLRequestError(gettext("The logout request is not valid."))
    _check_fresh_and_addressed(req, "logout")
    if req.message.issuer is None or req.message.issuer.text.strip() != sp.entity_id:
        raise SAMLRequestError(gettext("The logout request's issuer does not match the service provider."))
    name_id = (
        req.message.name_id.text.strip()
        if req.message.name_id is not None and req.message.name_id.text
        else ""
    )
    xml = req.xmlstr.decode("utf-8") if isinstance(req.xmlstr, bytes) else str(req.xmlstr)
    return ParsedLogoutRequest(message=req.message, name_id=name_id, xml=xml)


def build_logout_response(
    server: Server, sp: ServiceProvider, parsed: ParsedLogoutRequest, relay_state: str, *, status: Any = None
) -> dict:
    """The signed LogoutResponse for ``sp``'s SLO endpoint: ``{"binding", "url"}`` for a redirect
    (signed in the query string), plus ``"SAMLResponse"`` and ``"RelayState"`` for a POST (the XML
    signed in-process, like the sign-in responses)."""
    in_process = signs_in_process()
    post = sp.slo_binding == BINDING_HTTP_POST
    response = server.create_logout_response(
        parsed.message, [sp.slo_binding], status=status, sign=post and not in_process
    )
    if sp.slo_binding == BINDING_HTTP_REDIRECT:
        info = server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(response),
            sp.slo_url,
            relay_state,
            response=True,
            sign=True,
            sigalg=SIGN_ALG,
        )
        location = dict(info["headers"])["Location"]
        return {"binding": BINDING_HTTP_REDIRECT, "url": location}
    xml = str(response)
    if in_process:
        # imported here: the xmlsec1 fallback must work without the binding
        from sso import signing

        xml = signing.sign_root(xml, server.blazon_signing)
    return {
        "binding": BINDING_HTTP_POST,
        "url": sp.slo_url,
        "SAMLResponse": encode_response(xml),
        "RelayState": relay_state,
    }


def encode_response(xml: str) -> str:
    return base64.b64encode(xml.encode("utf-8")).decode("ascii")


def metadata_xml(request: Any = None) -> str:
    """The IdP metadata: entity id, SSO and SLO endpoints, signing certificate(s), NameID formats."""

    base = base_url(request)
    certs = keys.published_certificates()
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID={quoteattr(idp_entity_id(request))}>',
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" '
        'WantAuthnRequestsSigned="false">',
    ]
    for cert in certs:
        parts.append(
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            f"{_cert_body(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        )
    for path, binding in ((SLO_REDIRECT_PATH, BINDING_HTTP_REDIRECT), (SLO_POST_PATH, BINDING_HTTP_POST)):
        parts.append(f'<md:SingleLogoutService Binding="{binding}" Location={quoteattr(base + path)}/>')
    for value in NameIDFormat.values:
        parts.append(f"<md:NameIDFormat>{value}</md:NameIDFormat>")
    for path, binding in ((SSO_REDIRECT_PATH, BINDING_HTTP_REDIRECT), (SSO_POST_PATH, BINDING_HTTP_POST)):
        parts.append(f'<md:SingleSignOnService Binding="{binding}" Location={quoteattr(base + path)}/>')
    parts.append("</md:IDPSSODescriptor></md:EntityDescriptor>")
    return "\n".join(parts)
