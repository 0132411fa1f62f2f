"""Helpers to run Blazon in a child process with a controlled environment."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Every variable the settings read; cleared so the parent's environment cannot leak in.
CONFIG_VARIABLES = (
    "BLAZON_ENV",
    "BLAZON_DEBUG",
    "BLAZON_SECRET_KEY",
    "BLAZON_VAULT_KEYS",
    "BLAZON_AUDIT_KEYS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
)


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES and not k.startswith("BLAZON_")}
    env["DJANGO_SETTINGS_MODULE"] = "blazon.settings"
    env["PYTHONPATH"] = str(REPO)
    env.update(overrides)
    return env


def production_env(**overrides: str | None) -> dict[str, str]:
    """A complete, valid production environment; an override of None removes the variable."""
    values = {
        "BLAZON_ENV": "production",
        "BLAZON_SECRET_KEY": secrets.token_urlsafe(64),
        "BLAZON_VAULT_KEYS": "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "BLAZON_AUDIT_KEYS": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": "postgres://blazon:secret@db.example.internal:5432/blazon",
        "CELERY_BROKER_URL": "redis://redis.example.internal:6379/0",
        "ALLOWED_HOSTS": "blazon.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://blazon.example.com",
    }
    values.update(overrides)
    return clean_env(**{k: v for k, v in values.items() if v is not None})


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
