"""Show, create or rotate the SAML IdP signing key (the private key lives in the vault)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from sso import keys
from sso.models import IdPKey, KeyStatus


class Command(BaseCommand):
    help = "Show the SAML IdP signing keys; --stage-next publishes a new key, --rotate makes it sign."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--stage-next", action="store_true", help="Create the NEXT key (in the metadata, not signing)."
        )
        group.add_argument(
            "--rotate", action="store_true", help="Promote NEXT (or a new key) to ACTIVE; retire the old."
        )
        parser.add_argument("--key-size", type=int, choices=[2048, 3072, 4096], default=None)

    def handle(self, *args, stage_next: bool, rotate: bool, key_size: int | None, **options):
        if stage_next:
            key = keys.idp_key_stage_next(actor=None, source="cli", key_size=key_size)
            self.stdout.write(
                f"Staged NEXT key {key.fingerprint_sha256}: SPs can now fetch it from the metadata."
            )
        elif rotate:
            key = keys.idp_key_rotate(actor=None, source="cli", key_size=key_size)
            self.stdout.write(f"ACTIVE key is now {key.fingerprint_sha256}.")
        else:
            keys.idp_key_ensure(actor=None, source="cli", key_size=key_size)
        for key in IdPKey.objects.filter(status__in=[KeyStatus.ACTIVE, KeyStatus.NEXT]).order_by("status"):
            self.stdout.write(
                f"{key.status:7} {key.key_size} bits  {key.fingerprint_sha256}  until {key.not_after:%Y-%m-%d}"
            )
