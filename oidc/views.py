"""The OpenID Connect endpoints (``/o/``): authorize (with Blazon's consent page and user
rules), discovery, JWKS and RP-initiated logout, on top of django-oauth-toolkit.

Anonymous users at the authorize endpoint go to ``settings.LOGIN_URL`` and come back
(``redirect_to_login``, via DOT's ``LoginRequiredMixin``). A user the client does not admit,
or whose identity is not active or is locked, gets a 403 page and no code.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.signals import app_authorized

from oidc import keys
from oidc.authorizations import AMR_MARKER, AUTH_TIME_MARKER, session_markers
from oidc.selectors import client_for_application, user_may_use_client
from oidc.services import available_scopes
from oidc.validators import SESSION_MARKER

DENIED = gettext_lazy(
    "You are not allowed to sign in to this application, or your login is locked or inactive."
)


@method_decorator(never_cache, name="dispatch")
class AuthorizationView(dot_views.AuthorizationView):
    template_name = "oidc/consent.html"

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        request.META[SESSION_MARKER] = "1" if request.user.is_authenticated else "0"
        for marker in (AUTH_TIME_MARKER, AMR_MARKER):
            request.META.pop(marker, None)
        if request.user.is_authenticated:
            request.META.update(session_markers(request.session, request.user))
            client_id = (
                request.POST.get("client_id") if request.method == "POST" else request.GET.get("client_id")
            )
            application = get_application_model().objects.filter(client_id=client_id or "").first()
            client = client_for_application(application)
            # unknown clients and adapter clients fall through to DOT, which refuses them
            # without redirecting (the redirect URI cannot be trusted then)
            if client is not None and not user_may_use_client(request.user, client):
                raise PermissionDenied(DENIED)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        method = request.GET.get("code_challenge_method")
        if method is not None and method != "S256":
            # oauthlib accepts "plain"; DOT would refuse it only after consent. Refuse now, to
            # the redirect URI once oauthlib has confirmed it is registered for the client.
            try:
                _scopes, credentials = self.validate_authorization_request(request)
            except OAuthToolkitError as error:
                return self.error_response(error, application=None)
            application = get_application_model().objects.get(client_id=credentials["client_id"])
            params = {"error": "invalid_request", "error_description": "code_challenge_method must be S256."}
            if credentials.get("state"):
                params["state"] = credentials["state"]
            uri = credentials["redirect_uri"]
            return self.redirect(uri + ("&" if "?" in uri else "?") + urlencode(params), application)
        return super().get(request, *args, **kwargs)


@method_decorator(
    sensitive_post_parameters("password", "client_secret"), name="authorization_flow_token_response"
)
class TokenView(dot_views.TokenView):
    """DOT's token endpoint without its read-back of the token just issued when nobody listens
    to ``app_authorized`` (one query less on every adapter's grant: B10)."""

    def authorization_flow_token_response(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if app_authorized.has_listeners():
            return super().authorization_flow_token_response(request, *args, **kwargs)
        _url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for key, value in headers.items():
            response[key] = value
        return response


def server_metadata(view: dot_views.ConnectDiscoveryInfoView, request: HttpRequest) -> dict[str, Any]:
    """What both discovery documents say about the authorization server (RFC 8414 and OpenID
    Connect Discovery must agree): the endpoints that exist, the grants, response types, client
    authentication methods and PKCE method the server accepts, and the scopes relying parties
    may ask for (``adapter`` is for resource adapters' client credentials, never announced)."""
    auth_methods = ["client_secret_basic", "client_secret_post", "none"]
    return {
        "issuer": oauth2_settings.oidc_issuer(request),
        "authorization_endpoint": view._get_endpoint_url(request, "authorize", required=True),
        "token_endpoint": view._get_endpoint_url(request, "token", required=True),
        "jwks_uri": view._get_endpoint_url(request, "jwks-info", required=True),
        "revocation_endpoint": view._get_endpoint_url(request, "revoke-token", required=True),
        "scopes_supported": available_scopes(),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }


def _metadata_response(data: dict[str, Any]) -> JsonResponse:
    response = JsonResponse(data)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=300"
    return response


class ConnectDiscoveryInfoView(dot_views.ConnectDiscoveryInfoView):
    """DOT's discovery document (claims, userinfo, logout), with the server's metadata shared
    with the RFC 8414 document and RS256 (keys come from ``oidc.keys``, not settings)."""

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data.update(server_metadata(self, request))
        data["id_token_signing_alg_values_supported"] = ["RS256"]
        data["claims_supported"] = sorted({*data.get("claims_supported", []), "auth_time", "amr"})
        return _metadata_response(data)


class OAuthServerMetadataView(dot_views.ConnectDiscoveryInfoView):
    """RFC 8414 authorization server metadata: the same server description as the discovery
    document (DOT's own view announced grants that do not exist here, such as the device code,
    and other client authentication methods)."""

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return _metadata_response(server_metadata(self, request))


class JwksInfoView(dot_views.JwksInfoView):
    """The published signing keys: the active one and those replaced within the overlap."""

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = JsonResponse({"keys": keys.published_keys()})
        response["Access-Control-Allow-Origin"] = "*"
        # short: a rotated-in key must reach relying parties before it signs much
        response["Cache-Control"] = "public, max-age=300"
        return response


class RPInitiatedLogoutView(dot_views.RPInitiatedLogoutView):
    template_name = "oidc/logout_confirm.html"
