"""Resolving the follow-up events a life-cycle cascade opens (seed 002): choose a new owner or
responsible (or keep the current one: continuity), remove an inactivated member from a shared
account (or keep them), note that a shared password was rotated or a released check-out seen.

Each resolution is one transaction: the event is locked, the object changed through the same
rules as elsewhere, both audited. Who may resolve: ``manage_config`` for ownerships of
configuration objects (resources, entitlements, roles, organizations), ``manage_users`` for
accounts and shared-account members.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import can
from directory.models import (
    Account,
    AccountStatus,
    DirectoryEvent,
    DirectoryEventDecision,
    DirectoryEventKind,
    DirectoryEventStatus,
    Entitlement,
    Organization,
    Resource,
    Role,
    SharedAccountMember,
    User,
    UserStatus,
)
from directory.services.access.shared import shared_member_remove
from directory.services.lifecycle.rules import _check_source

K, D = DirectoryEventKind, DirectoryEventDecision

#: The decisions each kind of event takes.
DECISIONS: dict[str, tuple[str, ...]] = {
    K.OWNER_CHANGE: (D.REASSIGN, D.CONTINUITY),
    K.ACCOUNT_ADMIN_CHANGE: (D.REASSIGN, D.CONTINUITY),
    K.SHARED_MEMBER_REVIEW: (D.REMOVE, D.CONTINUITY),
    K.SHARED_MEMBER_REMOVED: (D.DONE,),
    K.CHECKOUT_RELEASED: (D.DONE,),
}

_OWNED_BY_FK: dict[str, type[Entitlement] | type[Role] | type[Organization]] = {
    "directory.Entitlement": Entitlement,
    "directory.Role": Role,
    "directory.Organization": Organization,
}
_CONFIG_TYPES = ("directory.Resource", *_OWNED_BY_FK)


def directory_event_capability(event: DirectoryEvent) -> str:
    """The capability resolving ``event`` needs."""
    if event.kind in (K.OWNER_CHANGE, K.ACCOUNT_ADMIN_CHANGE) and event.object_type in _CONFIG_TYPES:
        return "manage_config"
    return "manage_users"


def _reassign(event: DirectoryEvent, new_user: User) -> dict[str, str]:
    """Put ``new_user`` where the event's user was; what changed, for the audit."""
    former_id = event.user_id
    if event.object_type == "directory.Resource":
        resource = Resource.objects.select_for_update().filter(pk=event.object_id).first()
        if resource is None:
            raise Conflict(
                gettext("The resource no longer exists: resolve the event with continuity."), code="gone"
            )
        if former_id is not None:
            resource.owners.remove(former_id)
        resource.owners.add(new_user)
        return {"field": "owners"}
    model = _OWNED_BY_FK.get(event.object_type)
    if model is not None:
        updated = model.objects.filter(pk=event.object_id).update(owner=new_user)
        if not updated:
            raise Conflict(
                gettext("The object no longer exists: resolve the event with continuity."), code="gone"
            )
        return {"field": "owner"}
    if event.object_type == "directory.Account":
        account = Account.objects.select_for_update().filter(pk=event.object_id).first()
        if account is None or account.status == AccountStatus.REVOKED:
            raise Conflict(
                gettext("The account is gone or revoked: resolve the event with continuity."), code="gone"
            )
        account.responsible = new_user
        account.save(update_fields=["responsible", "updated_at"])
        return {"field": "responsible"}
    raise ValidationFailed(
        gettext("Events about %(object_type)s cannot be reassigned.") % {"object_type": event.object_type}
    )


@transaction.atomic
def directory_event_resolve(
    *,
    actor: User | None,
    source: str,
    event: DirectoryEvent,
    decision: str,
    new_user: User | None = None,
    note: str = "",
) -> DirectoryEvent:
    """Resolve an OPEN follow-up event with ``decision`` (see ``DECISIONS``); REASSIGN needs an
    ACTIVE ``new_user`` other than the one who left. Refused: already closed, a decision the kind
    does not take, an actor without the capability."""
    _check_source(source)
    locked = DirectoryEvent.objects.select_for_update().filter(pk=event.pk).first()
    if locked is None:
        raise Conflict(gettext("This event no longer exists."), code="gone")
    event = locked
    needed = directory_event_capability(event)
    if actor is not None and not can(actor, needed):
        raise NotAllowed(
            gettext("Resolving this event needs the '%(needed)s' capability.") % {"needed": needed}
        )
    if event.status != DirectoryEventStatus.OPEN:
        raise Conflict(
            gettext("Event #%(pk)s is already %(status)s.")
            % {"pk": event.pk, "status": event.status.lower()},
            code="event_closed",
        )
    allowed = DECISIONS.get(event.kind, ())
    if decision not in allowed:
        raise ValidationFailed(
            gettext("A %(kind)s event is resolved with %(allowed)s, not %(decision)r.")
            % {
                "kind": event.get_kind_display().lower(),
                "allowed": " or ".join(allowed),
                "decision": decision,
            },
            fields={"decision": [gettext("Use one of: %(allowed)s.") % {"allowed": ", ".join(allowed)}]},
        )
    note = (note or "").strip()[:2000]
    changed: dict[str, str] = {}
    if decision == D.REASSIGN:
        if new_user is None:
            raise ValidationFailed(
                gettext("Choose the new owner / responsible."),
                fields={"new_user": [gettext("Required for REASSIGN.")]},
            )
        new_user = User.objects.get(pk=new_user.pk)
        if new_user.status != UserStatus.ACTIVE or new_user.pk == event.user_id:
            raise ValidationFailed(
                gettext("%(username)s cannot take it over: the new owner must be another ACTIVE user.")
                % {"username": new_user.username},
                fields={"new_user": [gettext("Must be another ACTIVE user.")]},
            )
        changed = _reassign(event, new_user)
        audit_record(  # in the object's own history too
            actor=actor,
            action="ownership.changed",
            object_type=event.object_type,
            object_id=event.object_id,
            object_repr=event.object_repr,
            old={changed["field"]: event.user_repr},
            new={changed["field"]: new_user.username, "event_id": event.pk},
            source=source,
            subject_user_id=event.user_id,
        )
    elif decision == D.REMOVE:
        member = (
            SharedAccountMember.objects.filter(account_id=event.object_id, user_id=event.user_id).first()
            if event.user_id is not None
            else None
        )
        if member is not None:  # gone already: the question answered itself
            shared_member_remove(actor=actor, source=source, member=member)
    event.status = DirectoryEventStatus.RESOLVED
    event.decision = decision
    event.closed_at = timezone.now()
    event.resolved_by = actor
    event.new_user = new_user if decision == D.REASSIGN else None
    event.note = note
    event.save(update_fields=["status", "decision", "closed_at", "resolved_by", "new_user", "note"])
    audit_record(
        actor=actor,
        action="directory_event.resolved",
        obj=event,
        old={"status": DirectoryEventStatus.OPEN},
        new={
            "status": DirectoryEventStatus.RESOLVED,
            "kind": event.kind,
            "decision": decision,
            "object": f"{event.object_type}:{event.object_id}",
            "former": event.user_repr,
            "new_user": new_user.username if decision == D.REASSIGN and new_user else None,
            **changed,
            "note": note,
        },
        source=source,
        subject_user_id=event.user_id,
    )
    return event
