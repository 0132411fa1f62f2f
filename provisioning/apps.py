from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        # ready() runs once the apps are loaded: the services can be imported only from here
        from provisioning.services.manual import entry_task_decide
        from worklist.models import TaskKind
        from worklist.registry import register_task_kind

        # this app owns manual provisioning tasks: a decision resolves the entry by hand
        register_task_kind(TaskKind.PROVISIONING, decide=entry_task_decide)
