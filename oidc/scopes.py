"""Which scopes an OAuth2 application may ask for: an adapter client only ``adapter``; an OIDC
client the scopes the console allows it (always ``openid``). Discovery lists every scope."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import SettingsScopes

from oidc.selectors import client_for_application

ADAPTER_SCOPES = ["adapter"]


class BlazonScopes(SettingsScopes):
    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args, **kwargs
    ) -> list[str]:
        if application is None:
            return list(self.get_all_scopes())
        client = client_for_application(application)
        if client is None:
            return ADAPTER_SCOPES
        return client.allowed_scopes if client.active else []

    def get_default_scopes(self, application: Any = None, request: Any = None, *args, **kwargs) -> list[str]:
        if application is not None and client_for_application(application) is not None:
            return ["openid"]
        return ADAPTER_SCOPES
