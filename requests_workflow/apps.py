from django.apps import AppConfig


class RequestsWorkflowConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "requests_workflow"
    verbose_name = "Requests and tasks"

    def ready(self) -> None:
        # ready() runs once the apps are loaded: the services and Celery tasks can be imported
        # only from here, not at module level of apps.py
        from requests_workflow import receivers
        from requests_workflow.models import RequestType
        from requests_workflow.services import stuck
        from requests_workflow.services.approvals import task_decision_apply
        from requests_workflow.services.sla import sla_tasks_opened
        from requests_workflow.tasks import mail_approval_requests
        from worklist.models import TaskKind
        from worklist.registry import register_sla_assigner, register_subject_types, register_task_kind

        receivers.connect()  # provisioning's announcements about the entries of requests
        # this app owns approval tasks: how a decision applies, and who gets told (SoD tasks
        # belong to the sod app, which registers them)
        register_task_kind(TaskKind.APPROVAL, decide=task_decision_apply, notify=mail_approval_requests)
        # task definitions may be limited to request types
        register_subject_types(RequestType.choices)
        # task definitions (SLA, escalation) match on requests: this app assigns them for every
        # task opened, provisioning's manual tasks included
        register_sla_assigner(sla_tasks_opened)
        # requests left in an intermediate state are re-driven by the kernel's stuck-work sweep
        stuck.register()
