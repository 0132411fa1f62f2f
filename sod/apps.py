from __future__ import annotations

from django.apps import AppConfig


class SodConfig(AppConfig):
    name = "sod"
    verbose_name = "Segregation of duties"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # SoD tasks belong to this app: it decides what approving (an exception) and rejecting
        # mean, for a request's conflict and for a detected violation alike.
        from sod import dashboard, subjects
        from sod.services.decide import sod_task_decide
        from sod.tasks import mail_role_change_task, mail_sod_task
        from sod.views import (
            role_change_task_page,
            sod_task_comment,
            sod_task_decision_details,
            sod_task_page,
        )
        from worklist.models import TaskKind
        from worklist.registry import register_task_kind

        # their pages: a request's conflict shows the request's approval page (with the conflict
        # and the exception's expiry), a detected violation its own page
        subjects.register()  # a detected violation's task points at the violation
        dashboard.register()  # the console dashboard's SoD tile
        register_task_kind(
            TaskKind.SOD,
            decide=sod_task_decide,
            notify=mail_sod_task,
            page=sod_task_page,
            details=sod_task_decision_details,
            comment=sod_task_comment,
        )
        # the role-change approval flow (seed 004): its tasks, and the directory's port that
        # holds a submitted change until its steps pass
        from directory.ports import register_role_change_approvals
        from sod.services.role_changes import approvals, role_change_task_decide

        register_task_kind(
            TaskKind.ROLE_CHANGE,
            decide=role_change_task_decide,
            notify=mail_role_change_task,
            page=role_change_task_page,
        )
        register_role_change_approvals(approvals)
        # birthright roles: a user created or changed is re-evaluated against the policies
        from directory.ports import register_user_changed
        from sod.services.assignment import user_changed

        register_user_changed("assignment_policies", user_changed)
