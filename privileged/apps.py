from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_noop


class PrivilegedConfig(AppConfig):
    name = "privileged"
    verbose_name = "Privileged access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # deferred: ready() runs once the app registry is loaded; these modules import models.
        # Access tasks belong to this app: it decides what approving a level, disapproving and
        # reviewing an emergency mean; their subject is the access request.
        from blazon.outbox.registry import register_sweep
        from directory import ports
        from privileged import subjects
        from privileged.services.flow import access_requests_expire, access_task_decide, due_requests
        from privileged.services.rotation import user_left
        from privileged.tasks import mail_access_task
        from privileged.views import access_task_page
        from worklist.models import TaskKind
        from worklist.registry import register_task_kind

        subjects.register()
        for kind in (TaskKind.ACCESS, TaskKind.ACCESS_REVIEW):
            register_task_kind(
                kind, decide=access_task_decide, notify=mail_access_task, page=access_task_page
            )
        # the embedded mode has no beat: the stuck-work sweep (manage.py run_relay) ends the
        # windows that are over, as the periodic task does in production
        register_sweep(
            "privileged.windows",
            label=gettext_noop("privileged accesses whose window is over"),
            count=lambda older_than: due_requests(older_than).count(),
            redrive=lambda older_than, limit: access_requests_expire(limit=limit),
        )
        # a user who leaves loses their live accesses; shared accounts they knew are rotated
        ports.register_user_leaving("privileged_access_ended", user_left)
