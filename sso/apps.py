from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = _("Single sign-on (SAML identity provider)")

    def ready(self) -> None:
        # deferred: the check imports models, loaded only once the app registry is ready
        from sso import checks  # noqa: F401  (registers the BLAZON_SAML_SIGNER system check)
