"""Argon2id by default, with the configured cost; older hashes are upgraded at the next login."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import identify_hasher, make_password
from django.test import Client, override_settings

from tests.api.factories import UserFactory

pytestmark = pytest.mark.django_db
SECRET = "Quiet-Meadow-Falcon-42"


def test_new_passwords_are_argon2id_with_the_configured_cost(settings):
    encoded = make_password(SECRET)
    assert encoded.startswith("argon2$argon2id$v=19$")
    params = encoded.split("$")[3]
    assert params == (
        f"m={settings.BLAZON_ARGON2_MEMORY_KIB},t={settings.BLAZON_ARGON2_TIME_COST},"
        f"p={settings.BLAZON_ARGON2_PARALLELISM}"
    )
    assert params == "m=19456,t=2,p=1"  # OWASP's Argon2id setting


def test_an_old_pbkdf2_hash_is_upgraded_at_login(db):
    user = UserFactory(username="olduser", password=make_password(SECRET, hasher="pbkdf2_sha256"))
    assert Client().login(username="olduser", password=SECRET)
    user.refresh_from_db()
    assert identify_hasher(user.password).algorithm == "argon2" and user.check_password(SECRET)


def test_a_hash_with_a_lower_cost_is_rehashed_with_the_current_one(db):
    with override_settings(BLAZON_ARGON2_TIME_COST=1, BLAZON_ARGON2_MEMORY_KIB=8192):
        weak = make_password(SECRET)
    assert "m=8192,t=1" in weak
    user = UserFactory(username="cheap", password=weak)
    assert Client().login(username="cheap", password=SECRET)
    user.refresh_from_db()
    assert "m=19456,t=2,p=1" in user.password
