from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """Brute-force defence and web-session controls (issue #5 §2 and §3)."""

    name = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        # deferred: the receivers import models, loaded only once the app registry is ready
        from security import receivers  # noqa: F401  (connects the login and life-cycle receivers)
