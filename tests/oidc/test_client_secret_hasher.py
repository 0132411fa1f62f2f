"""The client-secret verifier: used for generated client secrets only, never for passwords;
secrets hashed earlier (PBKDF2) keep working."""

from __future__ import annotations

from django.contrib.auth.hashers import check_password, make_password
from django.test import Client
from oauth2_provider.models import Application

from oidc.hashers import ClientSecretHasher
from provisioning.services.adapter import adapter_client_register
from tests.api.factories import ResourceFactory, UserFactory
from tests.provisioning.conftest import keypair


def grant(client_id: str, secret: str):
    return Client().post(
        "/o/token/", {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )


def test_new_adapter_secrets_use_the_client_secret_verifier(db):
    _client, client_id, secret = adapter_client_register(
        actor=None, source="console", name="ldap", resources=[ResourceFactory()], public_key=keypair()[1]
    )
    stored = Application.objects.get(client_id=client_id).client_secret
    assert stored.startswith("blazon_client_secret$") and secret not in stored
    assert grant(client_id, secret).status_code == 200
    assert grant(client_id, secret[:-1] + ("a" if secret[-1] != "a" else "b")).status_code == 401


def test_secrets_hashed_with_pbkdf2_before_still_work(db):
    _client, client_id, secret = adapter_client_register(
        actor=None, source="console", name="old", resources=[ResourceFactory()], public_key=keypair()[1]
    )
    Application.objects.filter(client_id=client_id).update(
        client_secret=make_password(secret, hasher="pbkdf2_sha256")
    )
    assert grant(client_id, secret).status_code == 200


def test_user_passwords_never_use_it(db):
    user = UserFactory()
    user.set_password("a long enough pass phrase for a person, 2026")
    assert not user.password.startswith("blazon_client_secret$")
    assert user.check_password("a long enough pass phrase for a person, 2026")


def test_a_short_human_chosen_secret_gets_the_slow_default_hasher(db):
    encoded = make_password("s3cret-s3cret", hasher="blazon_client_secret")
    assert not encoded.startswith("blazon_client_secret$")
    assert check_password("s3cret-s3cret", encoded)
    assert ClientSecretHasher().verify("s3cret-s3cret", "blazon_client_secret$salt$digest") is False


def test_it_verifies_only_the_exact_secret():
    encoded = make_password("x" * 64, hasher="blazon_client_secret")
    assert check_password("x" * 64, encoded)
    assert not check_password("x" * 63, encoded)
    assert not check_password("short", encoded)
