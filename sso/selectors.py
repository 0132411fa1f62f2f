"""Who may sign in to which service provider, and what Blazon tells the SP about them."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from directory.models import Account, AccountStatus, RoleMembership
from directory.selectors import membership_in_effect, user_can_sign_in
from sso.models import AccessRule, NameIDFormat, PersistentNameID, ServiceProvider


def _allowed_condition(user: Any) -> Q:
    has_account = Exists(
        Account.objects.filter(resource=OuterRef("resource"), owner=user, status=AccountStatus.ACTIVE)
    )
    in_role = Exists(RoleMembership.objects.filter(membership_in_effect(), role=OuterRef("role"), user=user))
    return (
        Q(access_rule=AccessRule.ANY_ACTIVE_USER)
        | (Q(access_rule=AccessRule.RESOURCE_ACCOUNT) & has_account)
        | (Q(access_rule=AccessRule.ROLE_MEMBER) & in_role)
    )


def service_providers_for_user(user: Any) -> QuerySet[ServiceProvider]:
    """The enabled SPs ``user`` may sign in to (one query; the workspace's "My applications")."""
    if not user_can_sign_in(user):
        return ServiceProvider.objects.none()
    return ServiceProvider.objects.filter(enabled=True).filter(_allowed_condition(user)).order_by("name")


def user_may_use(user: Any, sp: ServiceProvider) -> bool:
    return sp.enabled and service_providers_for_user(user).filter(pk=sp.pk).exists()


def _field_value(user: Any, source: str) -> list[str]:
    if source.startswith("attributes."):
        value = (user.attributes or {}).get(source[len("attributes.") :])
    elif source == "organization":
        value = user.organization.code if user.organization_id else None
    else:
        value = getattr(user, source, None)
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and v != ""]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def attributes_for(user: Any, sp: ServiceProvider) -> dict[str, list[str]]:
    """The SAML attributes ``sp`` receives for ``user`` per its attribute mapping."""
    return {name: _field_value(user, source) for name, source in (sp.attribute_mapping or {}).items()}


def name_id_for(user: Any, sp: ServiceProvider) -> str:
    """The NameID value: the e-mail, the username, or the user's opaque persistent id for this SP
    (created on first sign-in; random, so two SPs cannot correlate it)."""
    if sp.nameid_format == NameIDFormat.EMAIL:
        email_or_username: str = user.email or user.username
        return email_or_username
    if sp.nameid_format == NameIDFormat.UNSPECIFIED:
        username: str = user.username
        return username
    existing = (
        PersistentNameID.objects.filter(service_provider=sp, user=user)
        .values_list("value", flat=True)
        .first()
    )
    if existing:
        return existing
    try:
        with transaction.atomic():
            return PersistentNameID.objects.create(
                service_provider=sp, user=user, value=secrets.token_hex(20)
            ).value
    except IntegrityError:  # a concurrent first sign-in created it
        return PersistentNameID.objects.get(service_provider=sp, user=user).value
