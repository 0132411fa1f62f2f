from __future__ import annotations

from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Reconciliation tasks belong to this app: it decides what resolving a conflict, an
        # orphan or a rogue account means. Imported here: the modules import models.
        from reconciliation import subjects
        from reconciliation.services.cases import case_task_decide
        from reconciliation.views import case_task_page
        from worklist.models import TaskKind
        from worklist.registry import register_task_kind

        subjects.register()
        register_task_kind(TaskKind.RECONCILIATION, decide=case_task_decide, page=case_task_page)
