"""``manage.py issue_api_token``: prints a working token once, stores only its digest, and
refuses users the API would refuse anyway."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from blazon.api.authentication import token_digest
from blazon.api.models import ApiToken
from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole, UserStatus
from tests.api.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("issue_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_prints_a_token_that_authenticates_and_stores_only_the_digest():
    user = UserFactory(username="alice", console_role=ConsoleRole.AUDITOR)
    raw, err = run("alice", "--name", "ci-pipeline")
    assert raw.startswith("blz_") and "\n" not in raw
    assert "alice" in err and "Bearer" in err

    token = ApiToken.objects.get(user=user)
    assert token.name == "ci-pipeline"
    assert token.expires_at is None
    assert token.digest == token_digest(raw)
    assert raw not in {token.digest, token.prefix, token.name}
    # the raw token is nowhere in the audit log either
    event = AuditEvent.objects.get(action="api_token.issue")
    assert event.new_values["prefix"] == token.prefix
    assert raw not in str(event.new_values) + event.object_repr

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/users/")
    assert response.status_code == 200
    assert response.json()["results"][0]["username"] == "alice"


def test_expires_days_sets_the_expiry():
    UserFactory(username="bob", console_role=ConsoleRole.HELPDESK)
    run("bob", "--expires-days", "7")
    token = ApiToken.objects.get(user__username="bob")
    delta = token.expires_at - timezone.now()
    assert 6 < delta.total_seconds() / 86400 <= 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nobody",), "No user named 'nobody'"),
        (("plain",), "no administrative role"),
        (("gone",), "cannot sign in"),
        (("carol", "--expires-days", "0"), "1 or more days"),
        (("carol", "--expires-days", "soon"), "whole number of days"),
        (("carol", "--name", "   "), "name"),
    ],
)
def test_refusals_exit_non_zero_with_a_clear_message_and_issue_nothing(args, message):
    UserFactory(username="plain")
    UserFactory(username="gone", console_role=ConsoleRole.ADMINISTRATOR, status=UserStatus.REVOKED)
    UserFactory(username="carol", console_role=ConsoleRole.ADMINISTRATOR)
    with pytest.raises((CommandError, SystemExit)) as excinfo:
        run(*args)
    if isinstance(excinfo.value, CommandError):
        assert message in str(excinfo.value)
    else:
        assert excinfo.value.code != 0
    assert ApiToken.objects.count() == 0
    assert not AuditEvent.objects.filter(action="api_token.issue").exists()


def test_command_line_exit_status(tmp_path):
    """Run as a real process: unknown user → non-zero exit and the reason on stderr."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    env = {**os.environ}
    # The test database is the one the command must look in.
    from django.db import connection

    db = connection.settings_dict
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "issue_api_token", "nobody-at-all"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    assert "No user named 'nobody-at-all'" in result.stderr
    assert result.stdout == ""
