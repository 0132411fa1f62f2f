"""Print a new audit chain key entry for BLAZON_AUDIT_KEYS (``<key id>:<base64 of 32 random bytes>``)."""

from django.core.management.base import BaseCommand, CommandError

from blazon.audit.keys import generate_audit_key


class Command(BaseCommand):
    help = "Print a new audit chain key entry; put it FIRST in BLAZON_AUDIT_KEYS, keep the old ones after it."

    def add_arguments(self, parser):
        parser.add_argument("--key-id", required=True, help="a short name for the key, e.g. 2026-12")

    def handle(self, *args, **options):
        try:
            self.stdout.write(generate_audit_key(options["key_id"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
