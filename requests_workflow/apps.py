from django.apps import AppConfig


class RequestsWorkflowConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "requests_workflow"
    verbose_name = "Requests and tasks"

    def ready(self) -> None:
        from requests_workflow.mail import connect_signals

        connect_signals()
