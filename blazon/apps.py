from django.apps import AppConfig
from django.utils.translation import gettext_noop


class BlazonConfig(AppConfig):
    name = "blazon"
    verbose_name = "Blazon kernel"

    def ready(self) -> None:
        # deferred: ready() runs once the app registry is loaded; these modules import models
        from blazon.audit import checks  # noqa: F401  (registers the BLAZON_AUDIT_KEYS system check)
        from blazon.outbox import tasks  # noqa: F401  (the outbox's Celery tasks)
        from blazon.outbox.registry import register_sweep
        from blazon.outbox.selectors import outbox_redrive, outbox_stuck_count

        register_sweep(
            "outbox",
            label=gettext_noop("queued work items (pipeline steps, e-mails, role changes)"),
            count=outbox_stuck_count,
            redrive=outbox_redrive,
        )
