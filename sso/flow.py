"""The sign-in flow: keep a verified AuthnRequest server-side while the user logs in (a random,
expiring, single-use resume id) and issue the signed response, audited."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from blazon.audit.services import audit_record
from sso import idp
from sso.models import PendingAuthnRequest, ServiceProvider
from sso.selectors import attributes_for, name_id_for


def _pending_seconds() -> int:
    return int(getattr(settings, "BLAZON_SAML_PENDING_SECONDS", 600))


@transaction.atomic
def pending_create(*, sp: ServiceProvider, parsed: idp.ParsedAuthnRequest) -> PendingAuthnRequest:
    """Store a verified AuthnRequest under a new random id (the resume URL)."""
    now = timezone.now()
    # housekeeping: rows long past their expiry are of no use to anyone
    PendingAuthnRequest.objects.filter(expires_at__lt=now - dt.timedelta(days=1)).delete()
    return PendingAuthnRequest.objects.create(
        id=secrets.token_urlsafe(32),
        service_provider=sp,
        request_id=parsed.request_id or "",
        acs_url=parsed.acs_url,
        relay_state=parsed.relay_state,
        force_authn=parsed.force_authn,
        expires_at=now + dt.timedelta(seconds=_pending_seconds()),
    )


def pending_get(pending_id: str) -> PendingAuthnRequest | None:
    """The pending request if it is still usable (not consumed, not expired)."""
    if not isinstance(pending_id, str) or len(pending_id) > 64:
        return None
    return (
        PendingAuthnRequest.objects.select_related("service_provider")
        .filter(pk=pending_id, consumed_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def pending_consume(pending: PendingAuthnRequest) -> bool:
    """Mark it used; False when another request consumed it first (a replay)."""
    now = timezone.now()
    return (
        PendingAuthnRequest.objects.filter(
            pk=pending.pk, consumed_at__isnull=True, expires_at__gt=now
        ).update(consumed_at=now)
        == 1
    )


@transaction.atomic
def saml_response_issue(
    *,
    user: Any,
    sp: ServiceProvider,
    request: Any,
    acs_url: str,
    in_response_to: str | None,
    initiated_by: str,
) -> str:
    """The signed SAML Response (XML) that signs ``user`` in to ``sp``; audited as a sign-in."""
    server = idp.server_for(sp, request)
    name_id = name_id_for(user, sp)
    attributes = attributes_for(user, sp)
    xml = idp.build_response(
        server,
        sp,
        in_response_to=in_response_to,
        destination=acs_url,
        name_id=name_id,
        attributes=attributes,
        authn_instant=int(user.last_login.timestamp()) if user.last_login else None,
    )
    audit_record(
        actor=user,
        action="sso.saml.signed_in",
        obj=sp,
        new={
            "entity_id": sp.entity_id,
            "acs_url": acs_url,
            "nameid_format": sp.nameid_format,
            "attributes": sorted(k for k, v in attributes.items() if v),
            "initiated_by": initiated_by,
        },
        source="sso",
        subject_user_id=user.pk,
    )
    return xml
