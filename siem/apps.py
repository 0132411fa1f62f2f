from __future__ import annotations

from django.apps import AppConfig


class SiemConfig(AppConfig):
    name = "siem"
    verbose_name = "SIEM forwarding"
    default_auto_field = "django.db.models.BigAutoField"
