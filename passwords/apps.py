from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.utils.translation import gettext_lazy as _


class PasswordsConfig(AppConfig):
    name = "passwords"
    verbose_name = _("Passwords")

    def ready(self) -> None:
        # deferred: ready() runs once the app registry is loaded; these modules import models
        from directory import ports
        from passwords.directory_port import DirectoryPasswords
        from passwords.middleware import on_login

        # the directory checks and records passwords through its port (docs/dev/architecture.md)
        ports.register_passwords(DirectoryPasswords())
        # plumbing, not domain flow: the expiry verdict is cached in the new session at login
        user_logged_in.connect(on_login, dispatch_uid="passwords.remember_verdict")
