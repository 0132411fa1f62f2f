from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        # ready() runs once the apps are loaded: the services can be imported only from here
        import provisioning.services
        from blazon.outbox.registry import register_probe
        from directory import ports
        from provisioning import dashboard, subjects, task_views
        from provisioning.selectors import adapter_status_lines
        from provisioning.services.manual import entry_task_decide
        from worklist.models import TaskKind
        from worklist.registry import register_task_kind

        # the directory writes what applications must be told through its port
        # (directory.ports.Provisioning; docs/dev/architecture.md): this module provides it
        ports.register_provisioning(provisioning.services)
        # this app owns manual provisioning tasks: a decision resolves the entry by hand
        register_task_kind(
            TaskKind.PROVISIONING,
            decide=entry_task_decide,
            page=task_views.provisioning_task_page,
            actions={
                "reveal-password": task_views.provisioning_task_reveal,
                "resolve": task_views.provisioning_task_resolve,
            },
        )
        # manual tasks link to their entry through the typed subject link ("provisioning_entry", id)
        subjects.register()
        # adapter health for manage.py status
        register_probe("Resource adapters", adapter_status_lines)
        dashboard.register()  # the console dashboard's provisioning backlog
