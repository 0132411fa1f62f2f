from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "Single sign-on (SAML identity provider)"

    def ready(self) -> None:
        from sso import checks  # noqa: F401  (registers the BLAZON_SAML_SIGNER system check)
