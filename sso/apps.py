from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "Single sign-on (SAML identity provider)"

    def ready(self) -> None:
        # deferred: the check imports models, loaded only once the app registry is ready
        from sso import checks  # noqa: F401  (registers the BLAZON_SAML_SIGNER system check)
