from django.apps import AppConfig


class RequestsWorkflowConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "requests_workflow"
    verbose_name = "Requests and tasks"

    def ready(self) -> None:
        # imported here: models and services may only be imported once the app registry is ready
        from requests_workflow import receivers
        from requests_workflow.mail import connect_signals

        connect_signals()
        receivers.connect()  # provisioning's announcements about the entries of requests
