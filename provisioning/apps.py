from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        import provisioning.services
        from directory import ports

        # the directory writes what applications must be told through its port
        # (directory.ports.Provisioning; docs/dev/architecture.md): this module provides it
        ports.register_provisioning(provisioning.services)
