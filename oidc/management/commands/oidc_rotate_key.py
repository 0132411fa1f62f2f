"""``manage.py oidc_rotate_key``: a new ID-token signing key (the old one stays published for
BLAZON_OIDC_KEY_OVERLAP_SECONDS); ``--retire-only`` just withdraws keys past the overlap."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from oidc.keys import signing_key_rotate, signing_keys_retire


class Command(BaseCommand):
    help = "Rotate the OpenID Connect ID-token signing key (docs/sso-oidc.md)."

    def add_arguments(self, parser):
        parser.add_argument("--retire-only", action="store_true", help="only withdraw keys past the overlap")

    def handle(self, *args, retire_only: bool = False, **options):
        if retire_only:
            count = signing_keys_retire(actor=None, source="command")
            self.stdout.write(f"{count} signing key(s) withdrawn from the JWKS.")
            return
        key = signing_key_rotate(actor=None, source="command")
        self.stdout.write(f"kid={key.kid}")
