from django.apps import AppConfig


class AuthnConfig(AppConfig):
    name = "authn"
    verbose_name = "Authentication"
    default_auto_field = "django.db.models.BigAutoField"
