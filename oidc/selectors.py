"""Reads of the OIDC provider: clients, who may use them, the claims a user releases."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from directory.models import RoleMembership
from directory.selectors import membership_in_effect, user_can_sign_in, user_value
from oidc.models import ClientAccess, OIDCClient

#: Standard OIDC claims and how each is read from a user.
STANDARD_CLAIMS: dict[str, Any] = {
    "name": lambda u: u.display_name or u.get_full_name() or u.username,
    "given_name": lambda u: u.first_name,
    "family_name": lambda u: u.last_name,
    "preferred_username": lambda u: u.username,
    "email": lambda u: u.email,
}
#: User fields a custom claim may name besides the keys of ``User.attributes``.
USER_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "display_name",
    "job_title",
    "department",
    "employee_type",
)


def oidc_clients() -> QuerySet[OIDCClient]:
    return OIDCClient.objects.select_related("application").prefetch_related("roles").order_by("name")


def client_for_application(application: Any) -> OIDCClient | None:
    """The OIDC client of an OAuth2 application (None for adapter clients), cached on it."""
    if application is None:
        return None
    if application.authorization_grant_type != "authorization-code":
        return None  # an adapter (client credentials): no query on its every token request
    if not hasattr(application, "_blazon_oidc_client"):
        application._blazon_oidc_client = (
            OIDCClient.objects.filter(application_id=application.pk).prefetch_related("roles").first()
        )
    client: OIDCClient | None = application._blazon_oidc_client
    return client


def user_may_use_client(user: Any, client: OIDCClient) -> bool:
    """Whether ``user`` may log in to ``client``: the client is active, the user may sign in at
    all, and the client admits everyone or the user holds one of its roles."""
    if not client.active or not user_can_sign_in(user):
        return False
    if client.access == ClientAccess.EVERYONE:
        return True
    return (
        RoleMembership.objects.filter(user_id=user.pk, role__oidc_clients=client)
        .filter(membership_in_effect())
        .exists()
    )


def custom_scope_claims() -> dict[str, dict[str, str]]:
    """``{scope: {claim: user field or attribute key}}`` (``BLAZON_OIDC_SCOPE_CLAIMS``)."""
    return settings.BLAZON_OIDC_SCOPE_CLAIMS


def user_attribute(user: Any, source: str) -> Any:
    return user_value(user, source, USER_FIELDS)
