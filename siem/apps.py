from __future__ import annotations

from django.apps import AppConfig


class SiemConfig(AppConfig):
    name = "siem"
    verbose_name = "SIEM forwarding"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # the destinations' backlog and last error in manage.py status
        from blazon.outbox.registry import register_probe
        from siem.selectors import destination_status_lines

        register_probe("SIEM destinations", destination_status_lines)
