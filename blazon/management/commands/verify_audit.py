"""Verify the audit hash chain; exit non-zero and name the first bad event on tampering.

``--checkpoint FILE`` (repeatable) also checks the chain against signed checkpoints written by
``audit_checkpoint``: truncation or a rewrite at or below a checkpoint is reported."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from blazon.audit.checkpoints import CheckpointError, checkpoint_check, checkpoint_load
from blazon.audit.keys import load_public_key, load_signing_key
from blazon.audit.services import audit_verify


class Command(BaseCommand):
    help = "Verify the audit log hash chain (and, with --checkpoint, against signed checkpoints)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            metavar="FILE",
            help="a checkpoint file written by audit_checkpoint (may be given several times)",
        )
        parser.add_argument(
            "--public-key",
            metavar="FILE",
            help="the checkpoint signer's public key (PEM); default: the configured signing key's",
        )

    def handle(self, *args, **options):
        checkpoints = []
        if options["checkpoint"]:
            try:
                public_key = (
                    load_public_key(Path(options["public_key"]))
                    if options["public_key"]
                    else load_signing_key().public_key()
                )
                checkpoints = [checkpoint_load(Path(path), public_key) for path in options["checkpoint"]]
            except (CheckpointError, ImproperlyConfigured, OSError, ValueError) as exc:
                raise CommandError(f"Checkpoint rejected: {exc}") from None
        result = audit_verify()
        if not result.ok:
            raise CommandError(f"Audit chain broken at event #{result.first_bad_seq}: {result.reason}")
        for checkpoint in checkpoints:
            problem = checkpoint_check(checkpoint)
            if problem:
                raise CommandError(f"Audit chain does not match checkpoint #{checkpoint.seq}: {problem}")
        message = f"Audit chain intact: {result.checked} events verified"
        if result.legacy:
            message += f" ({result.legacy} legacy events from before the chain was keyed: plain SHA-256)"
        if checkpoints:
            message += f"; matches {len(checkpoints)} signed checkpoint(s) up to event #{max(c.seq for c in checkpoints)}"
        self.stdout.write(self.style.SUCCESS(message + "."))
