"""In-process XML signatures for the IdP's responses, with the ``xmlsec`` Python binding (libxmlsec1
linked into the process): no ``xmlsec1`` process per signature.

pysaml2 builds the ``Response`` unsigned; :func:`sign_response` then signs the ``Assertion``
(enveloped signature placed right after its ``Issuer``, as the schema requires) and then the
``Response`` (whose digest therefore covers the signed assertion): RSA-SHA256, SHA-256 digests,
exclusive c14n, the certificate in ``KeyInfo/X509Data`` -- the shape pysaml2 and ``xmlsec1``
produced before, so SPs see no difference.

The decrypted key is loaded once per key and process (from the private file ``sso.keys`` writes); each
signature gets its own signing context, so concurrent threads never share one.
"""

from __future__ import annotations

import threading

import xmlsec
from lxml import etree

from sso import keys

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"

# the response is pysaml2's own output, but parse it as if it were not: no DTD, no entities, no network
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
)


class SigningError(Exception):
    """The response could not be signed (a bug or a broken key, never the user's doing)."""


_keys_lock = threading.Lock()
_keys: dict[tuple[int, str], xmlsec.Key] = {}


def _pem(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _key(signing: keys.SigningKey) -> xmlsec.Key:
    """The libxmlsec key (private key + its certificate) for ``signing``, loaded once per process."""
    cache_key = (signing.key_id, signing.key_file)
    key = _keys.get(cache_key)
    if key is not None:
        return key
    with _keys_lock:
        key = _keys.get(cache_key)
        if key is None:
            pem = _pem(signing.key_file)
            key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)
            key.load_cert_from_memory(signing.certificate.encode(), xmlsec.constants.KeyDataFormatCertPem)
            _keys.clear()  # a rotated-out key is of no further use
            _keys[cache_key] = key
        return key


def _sign_element(element: etree._Element, key: xmlsec.Key) -> None:
    """Put an enveloped RSA-SHA256 signature of ``element`` (by its ``ID``) right after its Issuer."""
    element_id = element.get("ID")
    if not element_id:
        raise SigningError(f"{etree.QName(element).localname} has no ID to sign")
    signature = xmlsec.template.create(
        element,
        c14n_method=xmlsec.constants.TransformExclC14N,
        sign_method=xmlsec.constants.TransformRsaSha256,
        ns="ds",
    )
    issuer = element.find(f"{{{NS_SAML}}}Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    ref = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256, uri="#" + element_id)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.x509_data_add_certificate(xmlsec.template.add_x509_data(key_info))
    ctx = xmlsec.SignatureContext()
    ctx.register_id(element, "ID")
    ctx.key = key
    ctx.sign(signature)


def sign_response(xml: str, signing: keys.SigningKey) -> str:
    """``xml`` (an unsigned SAML ``Response`` holding one ``Assertion``) with the assertion and then
    the response signed by ``signing``."""
    try:
        root = etree.fromstring(xml.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SigningError("the response to sign is not well-formed XML") from exc
    if root.tag != f"{{{NS_SAMLP}}}Response":
        raise SigningError("not a SAML Response")
    key = _key(signing)
    try:
        for assertion in root.findall(f"{{{NS_SAML}}}Assertion"):
            _sign_element(assertion, key)
        _sign_element(root, key)
    except xmlsec.Error as exc:
        raise SigningError(f"xmlsec could not sign the response: {exc}") from exc
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def sign_root(xml: str, signing: keys.SigningKey) -> str:
    """``xml`` (an unsigned SAML protocol message, e.g. a ``LogoutResponse``) with its root signed."""
    try:
        root = etree.fromstring(xml.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SigningError("the message to sign is not well-formed XML") from exc
    try:
        _sign_element(root, _key(signing))
    except xmlsec.Error as exc:
        raise SigningError(f"xmlsec could not sign the message: {exc}") from exc
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
