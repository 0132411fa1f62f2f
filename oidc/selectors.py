"""Reads of the OIDC provider: clients, who may use them, the claims a user releases."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from directory.models import RoleMembership
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
    return application._blazon_oidc_client


def user_can_sign_in(user: Any) -> bool:
    """An ACTIVE identity whose login is not locked."""
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and getattr(user, "status", "") == "ACTIVE"
        and not getattr(user, "login_locked", False)
    )


def user_may_use_client(user: Any, client: OIDCClient) -> bool:
    """Whether ``user`` may log in to ``client``: the client is active, the user may sign in at
    all, and the client admits everyone or the user holds one of its roles."""
    if not client.active or not user_can_sign_in(user):
        return False
    if client.access == ClientAccess.EVERYONE:
        return True
    now = timezone.now()
    return (
        RoleMembership.objects.filter(user_id=user.pk, role__oidc_clients=client)
        .filter(Q(start_date__isnull=True) | Q(start_date__lte=now))
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=now))
        .exists()
    )


def custom_scope_claims() -> dict[str, dict[str, str]]:
    """``{scope: {claim: user field or attribute key}}`` (``BLAZON_OIDC_SCOPE_CLAIMS``)."""
    return settings.BLAZON_OIDC_SCOPE_CLAIMS


def user_attribute(user: Any, source: str) -> Any:
    if source in USER_FIELDS:
        return getattr(user, source)
    return (user.attributes or {}).get(source)
