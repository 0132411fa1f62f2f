"""Console operations on OIDC clients: register, update, rotate the secret, delete.

Each is atomic and audited; the client secret is returned once and stored only hashed
(``oidc.hashers``). Redirect URIs match exactly (no wildcards) and must be https.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext
from oauth2_provider.generators import generate_client_id, generate_client_secret
from oauth2_provider.models import Application

from blazon.audit.services import audit_record
from blazon.errors import ValidationFailed
from directory.models import Role
from oidc.models import ClientAccess, OIDCClient

MAX_REDIRECT_URIS = 20


def available_scopes() -> list[str]:
    """Scopes an OIDC client may be allowed (``adapter`` is for adapter clients only)."""
    return [s for s in settings.OAUTH2_PROVIDER["SCOPES"] if s != "adapter"]


def _clean_uris(
    raw: str | list[str], field: str, errors: dict[str, list[str]], *, required: bool
) -> list[str]:
    uris = raw.split() if isinstance(raw, str) else list(raw)
    problems = []
    if required and not uris:
        problems.append("Give at least one redirect URI.")
    if len(uris) > MAX_REDIRECT_URIS:
        problems.append(gettext("At most %(n)s URIs.") % {"n": MAX_REDIRECT_URIS})
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme not in settings.OAUTH2_PROVIDER["ALLOWED_REDIRECT_URI_SCHEMES"] or not parts.hostname:
            problems.append(f"{uri!r} is not an absolute https URI.")
        elif parts.fragment or "*" in uri:
            problems.append(f"{uri!r} must not contain a fragment or a wildcard: URIs match exactly.")
    if problems:
        errors[field] = problems
    return list(dict.fromkeys(uris))


def _validate(
    *,
    name: str,
    redirect_uris: str | list[str],
    post_logout_redirect_uris: str | list[str],
    scopes: list[str],
    access: str,
    roles: list[Role],
    exclude_pk: Any = None,
) -> tuple[str, list[str], list[str], list[str]]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [gettext("A name is required.")]
    elif len(name) > 200:
        errors["name"] = [gettext("The name is too long (200 characters at most).")]
    elif OIDCClient.objects.filter(name=name).exclude(pk=exclude_pk).exists():
        errors["name"] = [gettext("An OIDC client named %(name)s already exists.") % {"name": repr(name)}]
    uris = _clean_uris(redirect_uris, "redirect_uris", errors, required=True)
    logout_uris = _clean_uris(post_logout_redirect_uris, "post_logout_redirect_uris", errors, required=False)
    unknown = sorted(set(scopes) - set(available_scopes()))
    if unknown:
        errors["scopes"] = [gettext("Unknown scope(s): %(scopes)s.") % {"scopes": ", ".join(unknown)}]
    if access not in ClientAccess.values:
        errors["access"] = [gettext("Unknown access rule %(access)s.") % {"access": repr(access)}]
    elif access == ClientAccess.ROLES and not roles:
        errors["roles"] = [gettext("Choose at least one role, or admit every active user.")]
    if errors:
        raise ValidationFailed(gettext("The OIDC client is not valid."), fields=errors)
    allowed = ["openid", *sorted(set(scopes) - {"openid"})]
    return name, uris, logout_uris, allowed


def _describe(client: OIDCClient) -> dict[str, Any]:
    app = client.application
    return {
        "name": client.name,
        "client_id": app.client_id,
        "client_type": app.client_type,
        "redirect_uris": app.redirect_uris.split(),
        "post_logout_redirect_uris": app.post_logout_redirect_uris.split(),
        "scopes": client.allowed_scopes,
        "access": client.access,
        "roles": sorted(client.roles.values_list("code", flat=True)),
        "trusted": app.skip_authorization,
        "active": client.active,
    }


@transaction.atomic
def oidc_client_create(
    *,
    actor: Any,
    source: str,
    name: str,
    confidential: bool,
    redirect_uris: str | list[str],
    post_logout_redirect_uris: str | list[str] = "",
    scopes: list[str],
    access: str = ClientAccess.EVERYONE,
    roles: list[Role] | None = None,
    trusted: bool = False,
) -> tuple[OIDCClient, str | None]:
    """Register a relying party. Returns the client and, for a confidential client, its secret
    (shown once: only its hash is stored); a public client has no secret and must use PKCE."""
    roles = list(roles or [])
    name, uris, logout_uris, allowed = _validate(
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        scopes=scopes,
        access=access,
        roles=roles,
    )
    raw_secret: str | None = generate_client_secret() if confidential else None
    application = Application.objects.create(
        name=f"oidc:{name}"[:255],
        client_id=generate_client_id(),
        client_secret=raw_secret or "",  # hashed on save (oidc.hashers.ClientSecretHasher)
        hash_client_secret=bool(raw_secret),
        client_type=Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(uris),
        post_logout_redirect_uris=" ".join(logout_uris),
        skip_authorization=trusted,
        algorithm=Application.RS256_ALGORITHM,
    )
    client = OIDCClient.objects.create(
        name=name, application=application, allowed_scopes=allowed, access=access
    )
    client.roles.set(roles if access == ClientAccess.ROLES else [])
    audit_record(actor=actor, action="oidc_client.created", obj=client, new=_describe(client), source=source)
    return client, raw_secret


@transaction.atomic
def oidc_client_update(
    *,
    actor: Any,
    source: str,
    client: OIDCClient,
    name: str,
    redirect_uris: str | list[str],
    post_logout_redirect_uris: str | list[str] = "",
    scopes: list[str],
    access: str,
    roles: list[Role] | None = None,
    trusted: bool,
    active: bool,
) -> OIDCClient:
    """Change a relying party's settings (its type and client id never change)."""
    locked = OIDCClient.objects.select_for_update().select_related("application").get(pk=client.pk)
    roles = list(roles or [])
    name, uris, logout_uris, allowed = _validate(
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        scopes=scopes,
        access=access,
        roles=roles,
        exclude_pk=locked.pk,
    )
    old = _describe(locked)
    app = locked.application
    app.name = f"oidc:{name}"[:255]
    app.redirect_uris = " ".join(uris)
    app.post_logout_redirect_uris = " ".join(logout_uris)
    app.skip_authorization = trusted
    app.save(
        update_fields=["name", "redirect_uris", "post_logout_redirect_uris", "skip_authorization", "updated"]
    )
    locked.name, locked.allowed_scopes, locked.access, locked.active = name, allowed, access, active
    locked.save(update_fields=["name", "allowed_scopes", "access", "active", "updated_at"])
    locked.roles.set(roles if access == ClientAccess.ROLES else [])
    new = _describe(locked)
    if new != old:
        audit_record(
            actor=actor,
            action="oidc_client.updated",
            obj=locked,
            old={k: v for k, v in old.items() if new[k] != v},
            new={k: v for k, v in new.items() if old[k] != v},
            source=source,
        )
    return locked


@transaction.atomic
def oidc_client_rotate_secret(*, actor: Any, source: str, client: OIDCClient) -> str:
    """Give a confidential client a new secret (the old one stops working now); shown once."""
    locked = OIDCClient.objects.select_for_update().select_related("application").get(pk=client.pk)
    app = locked.application
    if app.client_type != Application.CLIENT_CONFIDENTIAL:
        raise ValidationFailed(gettext("A public client has no secret: it proves itself with PKCE."))
    raw_secret: str = generate_client_secret()
    app.client_secret = raw_secret
    app.hash_client_secret = True
    app.save(update_fields=["client_secret", "hash_client_secret", "updated"])
    audit_record(
        actor=actor,
        action="oidc_client.secret_rotated",
        obj=locked,
        new={"client_id": app.client_id},
        source=source,
    )
    return raw_secret


@transaction.atomic
def oidc_client_delete(*, actor: Any, source: str, client: OIDCClient) -> None:
    """Remove a relying party with its application, grants and tokens."""
    locked = OIDCClient.objects.select_for_update().select_related("application").get(pk=client.pk)
    audit_record(actor=actor, action="oidc_client.deleted", obj=locked, old=_describe(locked), source=source)
    locked.application.delete()  # cascades to the client, grants, tokens
