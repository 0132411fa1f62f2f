from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    """Brute-force defence and web-session controls (issue #5 §2 and §3)."""

    name = "security"
    verbose_name = _("Security")

    def ready(self) -> None:
        # deferred: the receivers import models, loaded only once the app registry is ready
        from security import receivers  # noqa: F401  (connects the login and life-cycle receivers)
