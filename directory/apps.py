from django.apps import AppConfig
from django.utils.translation import gettext_noop


class DirectoryConfig(AppConfig):
    name = "directory"
    verbose_name = "Directory"

    def ready(self) -> None:
        # deferred: ready() runs once the app registry is loaded; these modules import models
        from blazon.outbox.registry import register_sweep
        from directory.services.access.role_changes import role_changes_redrive, role_changes_stuck

        # role changes left PENDING or RUNNING are re-driven by the kernel's stuck-work sweep
        register_sweep(
            "directory.role_changes",
            label=gettext_noop("role changes pending or running"),
            count=lambda t: role_changes_stuck(t).count(),
            redrive=role_changes_redrive,
        )
