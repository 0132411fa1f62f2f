"""Internal administrative roles (``ConsoleRole``): who may give them, and the last
administrator who keeps theirs."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.permissions import role_of
from directory.models import ConsoleRole, User, UserStatus


@transaction.atomic
def console_role_set(*, actor: User | None, source: str, user: User, role: str) -> User:
    """Give ``user`` an internal administrative role (a ``ConsoleRole`` value), or take it away
    with ``""``. Only an administrator (or the system, ``actor=None``) may; the last
    administrator who can still log in keeps the role, so the console is never left without one."""
    if role not in ConsoleRole.values:
        choices = ", ".join(v for v in ConsoleRole.values if v)
        raise ValidationFailed(
            gettext("Unknown console role %(role)r: use %(choices)s, or nothing to remove the role.")
            % {"role": role, "choices": choices},
            fields={"role": [gettext("Choose %(choices)s or nothing.") % {"choices": choices}]},
        )
    if actor is not None and role_of(actor) != ConsoleRole.ADMINISTRATOR:
        raise NotAllowed(gettext("Only an administrator can change console roles."))
    # Lock every administrator in one order first: two administrators demoting each other at
    # once then wait for each other instead of both succeeding (or deadlocking).
    administrators = list(
        User.objects.select_for_update()
        .filter(Q(console_role=ConsoleRole.ADMINISTRATOR) | Q(is_superuser=True))
        .order_by("pk")
        .values_list("pk", "status", "login_locked")
    )
    user = User.objects.select_for_update().get(pk=user.pk)
    old = user.console_role
    if old == role:
        return user
    if role and user.status == UserStatus.REMOVED:
        raise ValidationFailed(
            gettext("%(username)s is REMOVED: a removed identity gets no console role.")
            % {"username": user.username},
            fields={"role": [gettext("The user is removed.")]},
        )
    if old == ConsoleRole.ADMINISTRATOR and not user.is_superuser:
        others = [
            pk
            for pk, status, locked in administrators
            if pk != user.pk and status == UserStatus.ACTIVE and not locked
        ]
        if not others:
            message = (
                gettext("You are the last administrator: make someone else an administrator first.")
                if actor is not None and actor.pk == user.pk
                else gettext(
                    "%(username)s is the last administrator: make someone else an administrator first."
                )
                % {"username": user.username}
            )
            raise Conflict(
                message,
                fields={"role": [gettext("The last administrator keeps the role.")]},
                code="last_administrator",
            )
    user.console_role = role
    user.save(update_fields=["console_role"])
    audit_record(
        actor=actor,
        action="user.console_role_changed",
        obj=user,
        old={"console_role": old},
        new={"console_role": role},
        source=source,
        subject_user_id=user.pk,
    )
    return user
