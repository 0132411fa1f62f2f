from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Vault"

    def ready(self) -> None:
        # deferred: ready() runs once the app registry is loaded; these modules import models
        from directory import ports
        from vault.services import checkouts_release_for_user

        # a user who is inactivated, revoked or removed gives back what they checked out
        ports.register_user_leaving("checkouts_released", checkouts_release_for_user)
        # a rotated password is kept once the application confirmed it; a failed one opens a task
        from vault import rotation

        rotation.register()
        # registers its system check on import: after the registry is loaded, like the rest
        from vault import checks  # noqa: F401  (registers the BLAZON_VAULT_KEYS system check)
