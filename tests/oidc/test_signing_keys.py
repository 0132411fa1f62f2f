"""ID-token signing keys: kept encrypted in the vault, rotated with the old key still published
for the overlap, then withdrawn; or given by the environment."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command
from django.test import Client, override_settings
from jwcrypto import jws

from blazon.audit.models import AuditEvent
from oidc.keys import signing_key_rotate
from oidc.models import SigningKey, SigningKeyState
from tests.oidc.conftest import login_flow, verify_id_token


def kid_of(id_token: str) -> str:
    token = jws.JWS()
    token.deserialize(id_token)
    return token.jose_header["kid"]


def published_kids() -> list[str]:
    return [k["kid"] for k in Client().get("/o/.well-known/jwks.json").json()["keys"]]


def test_first_id_token_creates_a_key_kept_encrypted_in_the_vault(browser, rp):
    tokens = login_flow(browser, rp)
    key = SigningKey.objects.get()
    assert key.state == SigningKeyState.ACTIVE
    assert kid_of(tokens["id_token"]) == key.kid
    assert published_kids() == [key.kid]
    stored = bytes(key.secret.ciphertext)
    assert b"PRIVATE KEY" not in stored and b"BEGIN" not in stored
    assert "d" not in key.public_jwk and "p" not in key.public_jwk  # the JWKS holds no private part
    jwks = Client().get("/o/.well-known/jwks.json").json()["keys"][0]
    assert jwks["alg"] == "RS256" and jwks["use"] == "sig" and "d" not in jwks


def test_rotation_keeps_the_old_key_published_until_the_overlap_ends(browser, rp):
    old_token = login_flow(browser, rp)["id_token"]
    old_kid = kid_of(old_token)
    new_key = signing_key_rotate(actor=None, source="console")
    assert set(published_kids()) == {old_kid, new_key.kid}
    assert verify_id_token(old_token, rp.client_id)  # still verifies after the rotation
    new_token = login_flow(browser, rp)["id_token"]
    assert kid_of(new_token) == new_key.kid
    assert AuditEvent.objects.filter(action="oidc.signing_key.rotated").count() == 2

    with override_settings(BLAZON_OIDC_KEY_OVERLAP_SECONDS=0):
        assert published_kids() == [new_key.kid]  # past the overlap: no longer published
        out = StringIO()
        call_command("oidc_rotate_key", "--retire-only", stdout=out)
        assert "1 signing key(s) withdrawn" in out.getvalue()
    assert published_kids() == [new_key.kid]
    assert SigningKey.objects.get(kid=old_kid).state == SigningKeyState.RETIRED
    with pytest.raises(Exception):  # noqa: B017, PT011 - jwcrypto raises its own key errors
        verify_id_token(old_token, rp.client_id)


def test_key_given_by_the_environment_signs(browser, rp):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with override_settings(BLAZON_OIDC_RSA_PRIVATE_KEY=pem):
        tokens = login_flow(browser, rp)
        assert kid_of(tokens["id_token"]) in published_kids()
        assert verify_id_token(tokens["id_token"], rp.client_id)
    assert not SigningKey.objects.exists()


def test_console_rotation_needs_manage_config(db, admin, helpdesk):
    staff = Client()
    staff.force_login(helpdesk)
    assert staff.post("/console/sso/oidc/keys/rotate/").status_code == 403
    assert not SigningKey.objects.exists()
    boss = Client()
    boss.force_login(admin)
    assert boss.post("/console/sso/oidc/keys/rotate/").status_code == 302
    key = SigningKey.objects.get()
    event = AuditEvent.objects.get(action="oidc.signing_key.rotated")
    assert event.actor_id == admin.pk
    assert key.kid in json.dumps(event.new_values)
    assert "PRIVATE" not in json.dumps(event.new_values)
