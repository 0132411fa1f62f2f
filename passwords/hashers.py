"""Argon2id with cost parameters from the settings (``BLAZON_ARGON2_*``), so an operator can
tune them to the hardware without code. Django re-hashes a password on the next successful
login when its stored parameters differ from these (``must_update``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class BlazonArgon2idPasswordHasher(Argon2PasswordHasher):
    """Django's Argon2 hasher (variant Argon2id) with configurable time, memory and lanes."""

    # the algorithm name stays "argon2": hashes made by Django's own hasher verify and upgrade
    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return int(settings.BLAZON_ARGON2_TIME_COST)

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return int(settings.BLAZON_ARGON2_MEMORY_KIB)

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return int(settings.BLAZON_ARGON2_PARALLELISM)
