"""Issue an API token for a user with an administrative role and print it (once).

    python manage.py issue_api_token USERNAME [--name NAME] [--expires-days N]

Only the token is printed on standard output, so ``TOKEN=$(python manage.py issue_api_token
alice)`` works; the details go to standard error. Use it as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from blazon.api.services import api_token_issue
from blazon.errors import DomainError


def _positive_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, not {value!r}") from None
    if days < 1:
        raise argparse.ArgumentTypeError("expected 1 or more days")
    return days


class Command(BaseCommand):
    help = "Issue an API bearer token for USERNAME (a user with an administrative role) and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--name", default="default", help="A label to tell tokens apart (default: default)."
        )
        parser.add_argument(
            "--expires-days", type=_positive_days, default=None, help="Expire after N days (default: never)."
        )

    def handle(self, *args, **options) -> None:
        username = options["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        expires_at = None
        if options["expires_days"]:
            expires_at = timezone.now() + timedelta(days=options["expires_days"])
        try:
            token, raw = api_token_issue(
                actor=None, source="console", user=user, name=options["name"], expires_at=expires_at
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(raw)
        until = f"until {token.expires_at:%Y-%m-%d %H:%M %Z}" if token.expires_at else "without expiry"
        self.stderr.write(
            f"Token {token.prefix}… ({token.name!r}) issued for {user.username}, valid {until}. "
            "It is shown only now; send it as 'Authorization: Bearer <token>'."
        )
