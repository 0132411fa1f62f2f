"""The life-cycle transition table (seed 002): which user moves each source may make."""

from __future__ import annotations

from django.utils.translation import gettext

from blazon.errors import TransitionNotAllowed
from directory.models import Account, AccountStatus, DirectoryEventKind, Source, User, UserStatus

ACT, INA, REV, REM = UserStatus.ACTIVE, UserStatus.INACTIVE, UserStatus.REVOKED, UserStatus.REMOVED
S = Source

#: The seed's transition table: (from, to) -> the sources allowed to make that move.
#: "Manual" is the admin console and the API (an administrator's integration); the workspace
#: may activate, inactivate or revoke (the responsible user, the person's manager in "My team";
#: seed: "via Workspace, pelo usuário responsável", said of each of the three).
#: SCIM (an identity provider or HR feed, docs/scim.md) inactivates, activates and revokes, never removes.
USER_TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (ACT, INA): frozenset({S.CONSOLE, S.API, S.SCIM, S.WORKSPACE, S.IMPORT, S.RECONCILIATION}),
    (ACT, REV): frozenset({S.CONSOLE, S.API, S.SCIM, S.WORKSPACE, S.IMPORT, S.RECONCILIATION}),
    (ACT, REM): frozenset({S.CONSOLE, S.API, S.IMPORT}),
    (INA, ACT): frozenset({S.CONSOLE, S.API, S.SCIM, S.WORKSPACE, S.IMPORT, S.RECONCILIATION}),
    (INA, REV): frozenset({S.CONSOLE, S.API, S.SCIM, S.WORKSPACE, S.IMPORT, S.RECONCILIATION, S.AUTOMATIC}),
    (INA, REM): frozenset({S.CONSOLE, S.API, S.IMPORT}),
    (REV, REM): frozenset({S.CONSOLE, S.API, S.IMPORT, S.AUTOMATIC}),
}

#: Role-managed accounts are revoked by their roles, never by hand; only these sources (an
#: automatic job, reconciliation finding the account gone) may revoke one directly.
ROLE_MANAGED_REVOKE_SOURCES = frozenset({S.AUTOMATIC, S.RECONCILIATION})

#: The follow-up events an activation cancels: the user is back and keeps what they had.
OWNER_EVENT_KINDS = (
    DirectoryEventKind.OWNER_CHANGE,
    DirectoryEventKind.ACCOUNT_ADMIN_CHANGE,
    DirectoryEventKind.SHARED_MEMBER_REVIEW,
)


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _check_source(source: str) -> None:
    if source not in Source.values:
        raise TransitionNotAllowed(
            gettext("Unknown source %(source)r: use one of %(values)s.")
            % {"source": source, "values": ", ".join(Source.values)},
            fields={"source": [gettext("Unknown.")]},
        )


def user_transition_check(*, user: User, to: str, source: str) -> bool:
    """Raise TransitionNotAllowed unless ``user`` may move to ``to`` from ``source``; False
    when the user is already there (nothing to do)."""
    _check_source(source)
    frm = user.status
    if frm == to:
        return False
    allowed = USER_TRANSITIONS.get((frm, to))
    if allowed is None:
        final = " " + gettext("REMOVED is final.") if frm == REM else ""
        raise TransitionNotAllowed(
            gettext("User %(username)s cannot go from %(frm)s to %(to)s (source %(source)s).%(final)s")
            % {"username": user.username, "frm": frm, "to": to, "source": source, "final": final},
            fields={
                "status": [
                    gettext("%(frm)s → %(to)s is not a life-cycle transition.") % {"frm": frm, "to": to}
                ]
            },
        )
    if source not in allowed:
        raise TransitionNotAllowed(
            gettext(
                "User %(username)s cannot go from %(frm)s to %(to)s from source %(source)s; allowed sources: %(allowed)s."
            )
            % {
                "username": user.username,
                "frm": frm,
                "to": to,
                "source": source,
                "allowed": ", ".join(sorted(allowed)),
            },
            fields={"source": [gettext("Not allowed for %(frm)s → %(to)s.") % {"frm": frm, "to": to}]},
        )
    return True


def _lock_user(user: User) -> User:
    return User.objects.select_for_update().get(pk=user.pk)


def _sync(target: User, fresh: User) -> User:
    """Reflect the new state on the caller's instance too (views keep using it)."""
    for f in ("status", "login_locked", "inactive_since", "revoked_at", "removed_at", "status_changed_at"):
        setattr(target, f, getattr(fresh, f))
    return fresh


#: The status each user life-cycle action leads to (lock/unlock leave the status alone).
USER_ACTION_TARGETS = {"activate": ACT, "inactivate": INA, "revoke": REV}


def user_actions_allowed(user: User, *, source: str) -> list[str]:
    """The life-cycle actions ``source`` may take on ``user`` now (the transition table, and the
    login lock for anyone not REMOVED): what the console offers, nothing the services refuse."""
    out = [
        action
        for action, to in USER_ACTION_TARGETS.items()
        if user.status != to and source in USER_TRANSITIONS.get((user.status, to), frozenset())
    ]
    if user.status != REM:
        out.append("unlock" if user.login_locked else "lock")
    return out


#: Account actions and the statuses they may start from (``accounts.ACCOUNT_TRANSITIONS``).
ACCOUNT_ACTION_FROM = {
    "activate": (AccountStatus.INACTIVE,),
    "inactivate": (AccountStatus.ACTIVE,),
    "revoke": (AccountStatus.ACTIVE, AccountStatus.INACTIVE),
}


def account_actions_allowed(account: Account) -> list[str]:
    """The status actions an account can take now: none for a revoked one (final), none for an
    account without an owner (nobody to request them for)."""
    if account.owner_id is None:
        return []
    return [action for action, starts in ACCOUNT_ACTION_FROM.items() if account.status in starts]
