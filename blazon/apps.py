from django.apps import AppConfig


class BlazonConfig(AppConfig):
    name = "blazon"
    verbose_name = "Blazon kernel"

    def ready(self) -> None:
        from blazon.audit import checks  # noqa: F401  (registers the BLAZON_AUDIT_KEYS system check)
