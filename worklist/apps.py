from django.apps import AppConfig


class WorklistConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "worklist"
    verbose_name = "Worklist"

    def ready(self) -> None:
        # ready() runs once the apps are loaded: the selectors import models
        from worklist import dashboard, home

        home.register()  # the workspace home's "Waiting for you" panel
        dashboard.register()  # the console dashboard's overdue tasks
