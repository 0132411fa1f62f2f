"""Register a resource adapter and print its OAuth2 client credentials (once).

    python manage.py adapter_register NAME --resource CODE [--resource CODE …] --public-key-file adapter.pub.pem

Standard output gets two lines, ``client_id=…`` and ``client_secret=…`` (only the secret's
hash is stored); details go to standard error. See docs/adapters.md.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from blazon.errors import DomainError
from directory.models import Resource
from provisioning.services.adapter import adapter_client_register


class Command(BaseCommand):
    help = "Register a resource adapter bound to resources; print its client id and secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--resource", action="append", required=True, help="Code of a resource it serves (repeatable)."
        )
        parser.add_argument(
            "--public-key-file", required=True, help="PEM RSA public key (2048+ bits) secrets are sealed to."
        )

    def handle(self, *args, **options) -> None:
        codes = options["resource"]
        resources = list(Resource.objects.filter(code__in=codes))
        missing = sorted(set(codes) - {r.code for r in resources})
        if missing:
            raise CommandError(f"No resource with code {', '.join(missing)}.")
        try:
            pem = Path(options["public_key_file"]).read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read the public key file: {exc.strerror}.") from None
        try:
            client, client_id, secret = adapter_client_register(
                actor=None, source="console", name=options["name"], resources=resources, public_key=pem
            )
        except DomainError as exc:
            details = " ".join(m for ms in exc.fields.values() for m in ms)
            raise CommandError(f"{exc.message} {details}".strip()) from None
        self.stdout.write(f"client_id={client_id}\nclient_secret={secret}")
        self.stderr.write(
            f"Adapter client {client.name!r} registered for {', '.join(sorted(codes))}. "
            "The secret is shown only now; get a token at /o/token/ (grant_type=client_credentials)."
        )
