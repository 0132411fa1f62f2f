from django.apps import AppConfig


class RequestsWorkflowConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "requests_workflow"
    verbose_name = "Requests and tasks"

    def ready(self) -> None:
        # ready() runs once the apps are loaded: the services and Celery tasks can be imported
        # only from here, not at module level of apps.py
        from requests_workflow import dashboard, home, receivers, selectors, subjects
        from requests_workflow.api.serializers import TASK_SUBJECT_RELATED, task_subject_fields
        from requests_workflow.models import RequestType
        from requests_workflow.services import stuck
        from requests_workflow.services.approvals import task_comment_add, task_decision_apply
        from requests_workflow.services.reassign import task_reassign
        from requests_workflow.services.sla import sla_tasks_opened
        from requests_workflow.tasks import mail_approval_requests
        from requests_workflow.views import workspace
        from worklist.models import TaskKind
        from worklist.registry import (
            register_page_context,
            register_sla_assigner,
            register_subject_types,
            register_task_access,
            register_task_api_fields,
            register_task_kind,
            register_task_reassigner,
        )

        receivers.connect()  # provisioning's announcements about the entries of requests
        # this app owns approval tasks (SoD tasks are the sod app's): how a decision applies, who gets told
        # and their workspace pages: the request's details, the access period, comments
        pages = {
            "page": workspace.approval_task_page,
            "details": workspace.approval_decision_details,
            "comment": task_comment_add,
        }
        register_task_kind(
            TaskKind.APPROVAL, decide=task_decision_apply, notify=mail_approval_requests, **pages
        )
        register_page_context(self.name, workspace.page_context)
        # tasks link to requests through the typed subject link ("request", id)
        subjects.register()
        # who decides a task: assignees, queue members and their out-of-office delegates (this
        # app's Delegation), never for their own request; reassigning checks the request's people
        register_task_access(
            decider_filter=selectors.decider_filter,
            with_delegation=selectors.with_delegation,
            attach_delegators=selectors.attach_delegators,
        )
        register_task_reassigner(task_reassign)
        # what /api/v1/tasks/ says of a task's request
        register_task_api_fields(self.name, fields=task_subject_fields, related=TASK_SUBJECT_RELATED)
        # task definitions may be limited to request types
        register_subject_types(RequestType.choices)
        # task definitions (SLA, escalation) match on requests: this app assigns them for every
        # task opened, provisioning's manual tasks included
        register_sla_assigner(sla_tasks_opened)
        # requests left in an intermediate state are re-driven by the kernel's stuck-work sweep
        stuck.register()
        # the workspace home's panels: my requests in flight, accesses ending soon, my team
        home.register()
        dashboard.register()  # the console dashboard's requests per day
