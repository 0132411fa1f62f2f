"""A verifier for machine-generated OAuth2 client secrets (adapter and OIDC clients).

django-oauth-toolkit stores client secrets hashed with a Django password hasher and checks
them on every token request. A person's password needs a slow hash (Argon2id) because it has
little entropy and an attacker holding the table can guess it. A client secret is 128
characters drawn at random by ``oauth2_provider.generators.generate_client_secret`` (over 700
bits): no guessing attack is possible, so a deliberately slow hash only costs every grant tens
of milliseconds of CPU. This hasher keeps what matters — only a one-way digest is stored, a
per-secret salt, constant-time comparison — with one HMAC-SHA256. A secret shorter than
``MIN_SECRET_LENGTH`` was chosen by a person (set through the Django admin, say): it is hashed
with the default password hasher instead (docs/sso-oidc.md, "Client secrets").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from django.contrib.auth.hashers import BasePasswordHasher, make_password, mask_hash

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise
from django.utils.crypto import RANDOM_STRING_CHARS, get_random_string

ALGORITHM = "blazon_client_secret"
#: generate_client_secret() yields 128 characters; anything much shorter is not a machine secret.
MIN_SECRET_LENGTH = 40


class ClientSecretHasher(BasePasswordHasher):
    algorithm = ALGORITHM
    salt_entropy = 128

    def salt(self) -> str:
        return get_random_string(22, RANDOM_STRING_CHARS)

    def _digest(self, password: str, salt: str) -> str:
        mac = hmac.new(salt.encode(), password.encode(), hashlib.sha256).digest()
        return base64.b64encode(mac).decode("ascii")

    def encode(self, password: str, salt: str) -> str:
        if not isinstance(password, str) or len(password) < MIN_SECRET_LENGTH:
            # not a generated secret: it may be guessable, so it gets the slow default hasher
            return make_password(password)
        self._check_encode_args(password, salt)  # type: ignore[attr-defined]  # Django's, not in the stubs
        return f"{ALGORITHM}${salt}${self._digest(password, salt)}"

    def decode(self, encoded: str) -> dict[str, str]:
        algorithm, salt, digest = encoded.split("$", 2)
        assert algorithm == self.algorithm  # noqa: S101 - Django's hashers do the same
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        try:
            decoded = self.decode(encoded)
        except ValueError:
            return False
        if not isinstance(password, str) or len(password) < MIN_SECRET_LENGTH:
            return False
        return hmac.compare_digest(self._digest(password, decoded["salt"]), decoded["hash"])

    def safe_summary(self, encoded: str) -> dict[str | StrPromise, Any]:
        decoded = self.decode(encoded)
        return {
            "algorithm": decoded["algorithm"],
            "salt": mask_hash(decoded["salt"]),
            "hash": mask_hash(decoded["hash"]),
        }

    def must_update(self, encoded: str) -> bool:
        return False

    def harden_runtime(self, password: str, encoded: str) -> None:
        return None
