"""OAuth2 client-credentials authentication for resource adapters.

A valid access token (django-oauth-toolkit) whose application is an active ``AdapterClient``
and that carries the ``adapter`` scope authenticates the adapter; ``request.user`` is then an
``AdapterPrincipal`` (no person acts: audit events name the adapter). A missing, malformed, unknown or
expired token is a 401; a valid token that is not an adapter's, or lacks the scope, a 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.permissions import BasePermission

from blazon.api.authentication import bearer_token
from provisioning.models import AdapterClient
from provisioning.services.adapter import adapter_client_for_application

SCOPE = "adapter"


@dataclass(frozen=True)
class AdapterPrincipal:
    """Who calls: an adapter client, not a person."""

    client: AdapterClient | None
    is_authenticated: bool = True
    is_active: bool = True
    pk: None = None

    def __str__(self) -> str:
        return f"adapter:{self.client.name if self.client else '?'}"


class AdapterAuthentication(OAuth2Authentication):
    www_authenticate_realm = "blazon-adapter"

    def authenticate(self, request):
        # A header that is not "Bearer <b64token>" is refused here, before oauthlib and the
        # token loaders see it (they answered a stray NO-BREAK SPACE with a 500).
        bearer_token(request)
        result = super().authenticate(request)
        if result is None:
            return None
        _, token = result
        client = adapter_client_for_application(token.application_id)
        return AdapterPrincipal(client=client), token


class IsAdapter(BasePermission):
    message = "This token does not belong to an active adapter client with the 'adapter' scope."

    def has_permission(self, request, view) -> bool:
        user, token = request.user, request.auth
        return (
            isinstance(user, AdapterPrincipal)
            and user.client is not None
            and token is not None
            and token.allow_scopes([SCOPE])
        )


class AdapterAuthenticationScheme(OpenApiAuthenticationExtension):
    """The adapter API's security scheme: OAuth2 client credentials, scope ``adapter``."""

    target_class = "provisioning.api.auth.AdapterAuthentication"
    name = "adapterOAuth2"

    def get_security_requirement(self, auto_schema):
        return {self.name: [SCOPE]}

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": "Client credentials of a registered adapter client "
            "(`python manage.py adapter_register`); see docs/adapters.md.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/o/token/",
                    "scopes": {SCOPE: "Pull provisioning entries and report their outcome"},
                }
            },
        }
