"""Registering SCIM clients and checking their bearer tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed
from blazon.permissions import HELPDESK
from directory.models import Source, User
from scim.models import ScimClient, ScimScope

TOKEN_PREFIX = "scim_"
_PREFIX_LENGTH = 13


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def scim_client_register(
    *, actor: User | None, name: str, scope: str = ScimScope.WRITE, manage_groups: bool = False
) -> tuple[ScimClient, str]:
    """Register a SCIM client and its service identity (a help-desk console role: it may request
    user and role-membership changes, never configure Blazon). Returns the client and its bearer
    token, shown once: only its digest is kept."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(
            "A SCIM client needs a name of 1 to 100 characters.", fields={"name": ["Required."]}
        )
    if scope not in ScimScope.values:
        raise ValidationFailed(f"Unknown scope {scope!r}.", fields={"scope": [f"One of {ScimScope.values}."]})
    if ScimClient.objects.filter(name=name).exists():
        raise Conflict(f"A SCIM client named {name!r} exists already.")
    username = f"scim-client.{slugify(name)[:80] or secrets.token_hex(4)}"
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"The username {username!r} of the client's service identity is taken.")
    user = User(
        username=username,
        first_name="SCIM client",
        last_name=name,
        display_name=f"SCIM client {name}",
        console_role=HELPDESK,
        created_source=Source.SCIM,
    )
    user.set_unusable_password()
    user.save()
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ScimClient.objects.create(
        name=name,
        user=user,
        scope=scope,
        manage_groups=manage_groups and scope == ScimScope.WRITE,
        prefix=raw[:_PREFIX_LENGTH],
        digest=token_digest(raw),
    )
    audit_record(
        actor=actor,
        action="scim.client.register",
        obj=client,
        new={"name": name, "scope": scope, "manage_groups": client.manage_groups, "service_user": username},
        source=Source.SCIM,
    )
    return client, raw


@transaction.atomic
def scim_client_revoke(*, actor: User | None, client: ScimClient) -> ScimClient:
    """Revoke a client's token: its calls are refused from now on."""
    client = ScimClient.objects.select_for_update().get(pk=client.pk)
    if client.revoked_at is not None:
        return client
    client.revoked_at = timezone.now()
    client.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="scim.client.revoke", obj=client, source=Source.SCIM)
    return client


def scim_client_authenticate(raw: str) -> ScimClient | None:
    """The live client whose token is ``raw`` (its service identity able to act), or None. The
    digests are compared in constant time; the prefix lookup only narrows the search."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    client = (
        ScimClient.objects.select_related("user")
        .filter(prefix=raw[:_PREFIX_LENGTH], revoked_at__isnull=True)
        .first()
    )
    if client is None or not hmac.compare_digest(client.digest, token_digest(raw)):
        return None
    user = client.user
    if not user.is_active or user.login_locked or user.status != "ACTIVE":
        return None
    now = timezone.now()
    if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
        ScimClient.objects.filter(pk=client.pk).update(last_used_at=now)
    return client
