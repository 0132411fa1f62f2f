from __future__ import annotations

from django.apps import AppConfig


class CertificationConfig(AppConfig):
    name = "certification"
    verbose_name = "Certification"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Certification tasks belong to this app: one per reviewer per campaign, about the
        # campaign; the reviewer decides the items on the review page, not the task itself.
        from certification import home, subjects
        from certification.views import certification_task_decide, certification_task_page
        from worklist.models import TaskKind
        from worklist.registry import register_task_kind

        subjects.register()
        register_task_kind(
            TaskKind.CERTIFICATION,
            decide=certification_task_decide,
            page=certification_task_page,
        )
        home.register()  # the workspace home's "Reviews to do"
        # attribute-change policies: a watched field of a user changed -> their accesses to review
        from certification.services.attribute_change import user_changed
        from directory.ports import register_user_changed

        register_user_changed("certification_attribute_change", user_changed)
