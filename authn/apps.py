from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuthnConfig(AppConfig):
    name = "authn"
    verbose_name = _("Authentication")
    default_auto_field = "django.db.models.BigAutoField"
