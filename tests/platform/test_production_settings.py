"""Production mode refuses insecure settings at start-up and passes Django's deploy checks."""

from __future__ import annotations

import os

import pytest

from tests.conftest import require

from ._env import clean_env, production_env, run

SETUP = ["-c", "import django; django.setup(); print('started')"]


def assert_refused(env: dict[str, str], *fragments: str) -> None:
    result = run(SETUP, env)
    assert result.returncode != 0, result.stdout
    assert "started" not in result.stdout
    assert "Refusing to start in production mode" in result.stderr or "BLAZON_ENV" in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr[-2000:]


def test_a_complete_production_environment_starts():
    result = run(SETUP, production_env())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "started" in result.stdout


def test_embedded_default_starts_with_nothing_configured():
    result = run(
        [
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DEBUG, settings.CELERY_TASK_ALWAYS_EAGER, settings.DATABASES['default']['ENGINE'])",
        ],
        clean_env(),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # DEBUG is off in embedded mode too (issue 12, item 18): BLAZON_DEBUG=1 turns it on
    assert result.stdout.split() == ["False", "True", "django.db.backends.sqlite3"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BLAZON_DEBUG": "true"}, "DEBUG must be off in production"),
        ({"BLAZON_SECRET_KEY": None}, "BLAZON_SECRET_KEY must be set"),
        (
            {"BLAZON_SECRET_KEY": "blazon-embedded-insecure-secret-key-change-me"},
            "BLAZON_SECRET_KEY must be set",
        ),
        ({"BLAZON_SECRET_KEY": "x" * 49}, "at least 50 characters"),
        ({"BLAZON_VAULT_KEYS": None}, "BLAZON_VAULT_KEYS must be set"),
        ({"BLAZON_VAULT_KEYS": ""}, "BLAZON_VAULT_KEYS must be set"),
        ({"BLAZON_AUDIT_KEYS": None}, "BLAZON_AUDIT_KEYS must be set"),
        ({"DATABASE_URL": None}, "DATABASE_URL must point at PostgreSQL"),
        ({"DATABASE_URL": "sqlite:////tmp/blazon.sqlite3"}, "DATABASE_URL must point at PostgreSQL"),
        ({"CELERY_BROKER_URL": None}, "CELERY_BROKER_URL must point at Redis"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS must list"),
    ],
    ids=[
        "debug",
        "no-secret",
        "default-secret",
        "short-secret",
        "no-vault-key",
        "empty-vault-key",
        "no-audit-key",
        "no-database",
        "sqlite-database",
        "no-broker",
        "no-allowed-hosts",
    ],
)
def test_production_refuses_an_insecure_setting(overrides, message):
    assert_refused(production_env(**overrides), message)


def test_every_problem_is_named_at_once():
    env = clean_env(BLAZON_ENV="production", BLAZON_DEBUG="1")
    assert_refused(
        env,
        "DEBUG must be off",
        "BLAZON_SECRET_KEY must be set",
        "BLAZON_VAULT_KEYS must be set",
        "BLAZON_AUDIT_KEYS must be set",
        "DATABASE_URL must point at PostgreSQL",
    )


def test_manage_py_refuses_too():
    result = run(["manage.py", "check"], production_env(BLAZON_VAULT_KEYS=None))
    assert result.returncode != 0
    assert "BLAZON_VAULT_KEYS must be set" in result.stderr


def test_a_mistyped_mode_is_refused_rather_than_running_the_embedded_mode():
    result = run(SETUP, clean_env(BLAZON_ENV="prod"))
    assert result.returncode != 0
    assert "BLAZON_ENV must be 'embedded' or 'production'" in result.stderr


def test_check_deploy_is_clean_in_production():
    """``check --deploy`` at WARNING level, connected to the real PostgreSQL database."""
    database_url = os.environ.get("DATABASE_URL", "")
    require(database_url.startswith(("postgres://", "postgresql://")), "PostgreSQL (DATABASE_URL)")
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING", "--database", "default"],
        production_env(DATABASE_URL=database_url),
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "System check identified no issues" in result.stdout


def test_production_security_settings():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
        "s.CELERY_TASK_ALWAYS_EAGER, s.SESSION_ENGINE, s.EMAIL_BACKEND)"
    )
    result = run(["-c", code], production_env(BLAZON_SESSION_AGE="3600"))
    assert result.returncode == 0, result.stderr[-2000:]
    secure_session, secure_csrf, redirect, hsts, eager, session_engine, email = result.stdout.split()
    assert (secure_session, secure_csrf, redirect) == ("True", "True", "True")
    assert int(hsts) >= 31536000
    assert eager == "False"
    assert session_engine == "django.contrib.sessions.backends.db"  # any web node serves any user
    assert email == "django.core.mail.backends.smtp.EmailBackend"
