"""What the directory needs from the apps above it, plugged in by those apps at start-up.

The directory sits low in the app layers (docs/dev/architecture.md): provisioning, the
password service and the vault build on it and import it; it imports none of them. Yet a
directory change has consequences there, inside the same transaction: an account created must
be written to the provisioning queue, a password set must pass the password policy and be
synchronised, a user who leaves must give back the vault credentials they hold. So the
directory states here what it needs (a ``Protocol`` per port) and the app that provides it
registers itself in its ``AppConfig.ready`` (dependency inversion). Calls stay synchronous and
transactional, exactly as when the directory imported the other app.

A missing provider is a deployment error (the app is not in ``INSTALLED_APPS``) and fails
loudly, except for the "user leaving" listeners, which are optional by nature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from directory.models import Resource, RoleChange, User


class Provisioning(Protocol):
    """Writes what applications must be told into the provisioning queue (provisioning app)."""

    def entry_write(
        self,
        *,
        resource: Resource,
        event_type: str,
        account_id: int | None = None,
        entitlement_id: int | None = None,
        user_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Any:
        """One entry if ``resource`` provisions ``event_type``; the entry or None."""

    def entries_write_many(
        self, *, resource: Resource, event_type: str, rows: Iterable[dict[str, Any]], chunk_size: int = 5000
    ) -> int:
        """Entries for many rows of one resource; how many were written."""

    def entries_write_for_accounts(
        self,
        rows: Iterable[tuple[int, int, int | None, str, dict[str, str]]],
        *,
        event_type: str,
        reason: str,
    ) -> int:
        """One entry per (account id, resource id, owner id, identifier, resource modes) row,
        across resources, for the resources that provision ``event_type``; how many."""

    def entries_cancel_pending_for_account(self, *, account_id: int) -> int:
        """Cancel an account's entries not yet pulled; how many."""

    def entries_delivered_for_account(self, *, account_id: int) -> int:
        """How many of an account's entries the application may have acted on."""

    def entries_count_for_resource(self, *, resource_id: int) -> int:
        """How many entries (history included) a resource has."""

    def users_with_open_entries(self, *, user_ids: Iterable[int]) -> set[int]:
        """Those of ``user_ids`` whose entries the applications have not all settled yet."""


class Passwords(Protocol):
    """The password policy and what follows a password change (passwords app)."""

    def password_policy_validate(self, user: User, password: str) -> None:
        """Raise ``ValidationFailed`` when ``password`` breaks the user's policy."""

    def password_recorded_by_directory(
        self, *, user: User, actor: User | None, source: str, password: str, notify: bool
    ) -> None:
        """History, expiry clock and synchronisation of a password the directory just saved."""


class RoleChangeApprovals(Protocol):
    """The approval steps of a role change (seed 004), kept by the governance layer (sod app)."""

    def hold(self, *, change: RoleChange, actor: User | None, source: str) -> bool:
        """Open the change's approval steps; True when it waits for a decision (the caller must
        then not fan it out), False when no step holds it (fan it out as before)."""

    def steps(self, change_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """The approval steps of these changes, in order, for display (one query)."""


# (actor, source, user, reason) -> how many things were released
UserLeavingListener = Callable[..., int]

_provisioning: Provisioning | None = None
_passwords: Passwords | None = None
_user_leaving: dict[str, UserLeavingListener] = {}
_role_change_approvals: RoleChangeApprovals | None = None
# (actor, source, user, changed) -> None: a user was created (changed None) or the named fields
# changed (an administrator-defined attribute as "attributes.<name>")
UserChangedListener = Callable[..., None]
_user_changed: dict[str, UserChangedListener] = {}


def register_provisioning(provider: Provisioning) -> None:
    global _provisioning
    _provisioning = provider


def register_passwords(provider: Passwords) -> None:
    global _passwords
    _passwords = provider


def register_user_leaving(name: str, listener: UserLeavingListener) -> None:
    """``listener(actor=, source=, user=, reason=)`` runs inside the transaction that
    inactivates, revokes or removes a user and returns how many things it released."""
    _user_leaving[name] = listener


def register_role_change_approvals(provider: RoleChangeApprovals | None) -> None:
    global _role_change_approvals
    _role_change_approvals = provider


def role_change_approvals() -> RoleChangeApprovals | None:
    """The approval steps of role changes; None (optional port): changes are applied at once."""
    return _role_change_approvals


def register_user_changed(name: str, listener: UserChangedListener) -> None:
    """``listener(actor=, source=, user=, changed=)`` runs inside the transaction that created a
    user (``changed`` None) or changed their fields (``changed``: the names, an
    administrator-defined attribute as ``attributes.<name>``): the assignment policies
    re-evaluate them, the attribute-change certification policies put their accesses to review."""
    _user_changed[name] = listener


def user_changed(
    *, actor: User | None, source: str, user: User, changed: frozenset[str] | None = None
) -> None:
    for _name, listener in sorted(_user_changed.items()):
        listener(actor=actor, source=source, user=user, changed=changed)


def provisioning() -> Provisioning:
    if _provisioning is None:
        raise ImproperlyConfigured(
            "No provisioning provider registered: is 'provisioning' in INSTALLED_APPS?"
        )
    return _provisioning


def passwords() -> Passwords:
    if _passwords is None:
        raise ImproperlyConfigured("No password provider registered: is 'passwords' in INSTALLED_APPS?")
    return _passwords


def user_leaving(*, actor: User | None, source: str, user: User, reason: str) -> dict[str, int]:
    """Tell every registered listener that ``user`` leaves; what each released, by name."""
    return {
        name: listener(actor=actor, source=source, user=user, reason=reason)
        for name, listener in sorted(_user_leaving.items())
    }
