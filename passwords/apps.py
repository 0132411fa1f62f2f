from django.apps import AppConfig


class PasswordsConfig(AppConfig):
    name = "passwords"
    verbose_name = "Passwords"

    def ready(self) -> None:
        from directory import ports
        from passwords.directory_port import DirectoryPasswords

        # the directory checks and records passwords through its port (docs/dev/architecture.md)
        ports.register_passwords(DirectoryPasswords())
        from django.contrib.auth.signals import user_logged_in

        from passwords.middleware import on_login

        # plumbing, not domain flow: the expiry verdict is cached in the new session at login
        user_logged_in.connect(on_login, dispatch_uid="passwords.remember_verdict")
