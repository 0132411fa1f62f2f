"""Sign a checkpoint of the audit chain (last seq + hash, Ed25519) after verifying it.

The checkpoint goes to ``--output FILE`` (keep it away from the database: another host, WORM
storage, a ticket), to standard output and to the log stream (logger ``blazon.audit.checkpoint``).
``--public-key`` prints the signer's public key instead, for auditors who verify elsewhere."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from blazon.audit.checkpoints import CheckpointError, checkpoint_create
from blazon.audit.keys import load_signing_key, public_key_pem
from blazon.audit.services import audit_verify


class Command(BaseCommand):
    help = "Verify the audit chain and sign a checkpoint of its last event."

    def add_arguments(self, parser):
        parser.add_argument("--output", metavar="FILE", help="write the checkpoint to this file")
        parser.add_argument(
            "--public-key", action="store_true", help="print the signing key's public key (PEM) and exit"
        )

    def handle(self, *args, **options):
        try:
            signing_key = load_signing_key()
        except (ImproperlyConfigured, OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if options["public_key"]:
            self.stdout.write(public_key_pem(signing_key.public_key()), ending="")
            return
        try:
            checkpoint = checkpoint_create(verified=audit_verify(), signing_key=signing_key)
        except CheckpointError as exc:
            raise CommandError(str(exc)) from None
        text = checkpoint.to_json()
        if options["output"]:
            Path(options["output"]).write_text(text + "\n")
        self.stdout.write(text)
