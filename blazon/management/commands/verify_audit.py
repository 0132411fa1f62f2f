"""Verify the audit hash chain; exit non-zero and name the first bad event on tampering."""

from django.core.management.base import BaseCommand, CommandError

from blazon.audit.services import audit_verify


class Command(BaseCommand):
    help = "Verify the audit log hash chain."

    def handle(self, *args, **options):
        result = audit_verify()
        if not result.ok:
            raise CommandError(f"Audit chain broken at event #{result.first_bad_seq}: {result.reason}")
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {result.checked} events verified."))
