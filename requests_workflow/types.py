"""The 20 request types: where each may come from, which stages it goes through, and the
stage-4 function that applies it to the directory through the directory and vault services.

Sources follow the seed's table of types (seed 002, "Requisições"), plus the API for every type
and the ``automatic`` source for the revoke types (the end of a time-bound access).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.translation import gettext

from blazon import notify
from blazon.errors import Conflict
from directory.models import Account, AccountType, EntitlementMembership, RoleMembership, Source, UserStatus
from directory.services import access, lifecycle, users
from passwords.services import password_generate_for
from requests_workflow import tasks
from requests_workflow.models import Request, RequestType
from vault import crypto as vault_crypto
from vault import services as vault_services

T = RequestType
S = Source
ACTIVE, INACTIVE, REVOKED = UserStatus.ACTIVE, UserStatus.INACTIVE, UserStatus.REVOKED

ApplyFn = Callable[[Request, Any], dict[str, Any]]
RollbackFn = Callable[[Request, Any], str]


@dataclass(frozen=True)
class TypeSpec:
    """What a request type is allowed and how it changes the directory."""

    code: str
    category: str
    sources: frozenset[str]
    approval: bool
    sod: bool
    provisions: bool
    apply: ApplyFn
    rollback: RollbackFn | None = None
    requires: tuple[str, ...] = ()  # object references: resource, account, entitlement, role
    time_bound: bool = False  # may carry a start/end of the access period
    self_service: bool = False  # a user may request it for themselves
    beneficiary_statuses: frozenset[str] = frozenset({ACTIVE, INACTIVE, REVOKED})
    lifecycle_target: str = ""  # for the user life-cycle types: the status they lead to


# --- stage-4 functions ------------------------------------------------------------------------
# Each takes the locked request and the actor, calls the directory/vault services, and returns
# what stage 5 and a rollback need to know. A DomainError leaves nothing behind (savepoint).


def _lifecycle(fn: Callable[..., Any]) -> ApplyFn:
    def apply(req: Request, actor: Any) -> dict[str, Any]:
        before = req.beneficiary.status
        fn(actor=actor, source=req.source, user=req.beneficiary)
        return {"previous_status": before, "status": req.beneficiary.status}

    return apply


def _create_user(req: Request, actor: Any) -> dict[str, Any]:
    user = users.user_create(actor=actor, source=req.source, data=req.payload["user"])
    req.beneficiary = user
    return {"user_id": user.pk, "username": user.username}


def _update_user(req: Request, actor: Any) -> dict[str, Any]:
    users.user_update(actor=actor, source=req.source, user=req.beneficiary, data=req.payload["changes"])
    return {"changed": sorted(req.payload["changes"])}


def _lock(req: Request, actor: Any) -> dict[str, Any]:
    lifecycle.user_lock(actor=actor, source=req.source, user=req.beneficiary)
    return {"login_locked": True}


def _unlock(req: Request, actor: Any) -> dict[str, Any]:
    lifecycle.user_unlock(actor=actor, source=req.source, user=req.beneficiary)
    return {"login_locked": False}


def _reset_password(req: Request, actor: Any) -> dict[str, Any]:
    user = req.beneficiary
    password = password_generate_for(user)  # meets the user's password policy
    users.user_update(actor=actor, source=req.source, user=user, data={"password": password})
    recipient = user.email
    # The new password exists only in this message: not in the request, the audit or logs. Until
    # the mail is sent it waits in the outbox sealed with the vault's master key (durable, like
    # every notification, and never readable from the database).
    sealed = vault_crypto.seal(
        password,
        secret_id=f"reset-mail-{req.pk}",
        kind="mail",
        owner_id=user.pk,
        account_id=None,
        ring=vault_crypto.keyring(),
    )
    notify.on_commit(
        tasks.mail_password_reset,
        req.pk,
        {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in asdict(sealed).items()},
    )
    return {"password_reset": True, "emailed_to": recipient}


def password_reset_mail_send(request_id: int, sealed: dict[str, Any]) -> int:
    """E-mail the beneficiary of a RESET_PASSWORD request their new password (unsealed from the
    outbox row, ``_reset_password``); how many e-mails were sent. Run by ``mail_password_reset``."""
    req = Request.objects.select_related("beneficiary").filter(pk=request_id).first()
    if req is None or req.beneficiary is None or not req.beneficiary.email:
        return 0
    user = req.beneficiary
    fields = {k: base64.b64decode(v) if isinstance(v, str) else v for k, v in sealed.items()}
    password = vault_crypto.open_sealed(
        secret_id=f"reset-mail-{req.pk}",
        kind="mail",
        owner_id=user.pk,
        account_id=None,
        ring=vault_crypto.keyring(),
        **fields,
    )
    message = EmailMessage(
        gettext("Your Blazon password was reset"),
        gettext(
            "Hello %(user)s,\n\nYour password was reset (request #%(id)s).\n"
            "Your new password: %(password)s\n\nPlease change it after you sign in.\n"
        )
        % {"user": user, "id": req.pk, "password": password},
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )
    return notify.send_messages([message], what=f"password reset, request #{req.pk}")


def _create_account(req: Request, actor: Any) -> dict[str, Any]:
    account = access.account_create(
        actor=actor,
        source=req.source,
        resource=req.resource,
        owner=req.beneficiary,
        identifier=req.payload.get("identifier") or None,
        attributes=req.payload.get("attributes") or None,
    )
    req.account = account
    return {"account_id": account.pk, "account_created": True}


def _remove_created_account(req: Request, actor: Any) -> str:
    """A new account the application never received is deleted (its waiting entries canceled,
    no REVOKE_ACCOUNT entry); one it may have received is revoked instead."""
    account_id = req.result.get("account_id") or req.result.get("created_account_id")
    account = Account.objects.select_related("resource").filter(pk=account_id).first() if account_id else None
    if account is None:
        return "nothing to roll back"
    name = str(account)
    try:
        access.account_remove(actor=actor, source=S.AUTOMATIC, account=account)
    except Conflict:
        lifecycle.account_revoke(actor=actor, source=S.AUTOMATIC, account=account)
        return f"account {name} revoked (the application may have received it)"
    return f"account {name} removed (never provisioned)"


def _update_account(req: Request, actor: Any) -> dict[str, Any]:
    previous = dict(req.account.attributes or {})
    changes = req.payload["attributes"]
    access.account_update(actor=actor, source=req.source, account=req.account, attributes=changes)
    # only what this request changed goes back on rollback (None: the key did not exist)
    return {"previous_attributes": {k: previous.get(k) for k in changes}}


def _restore_account_attributes(req: Request, actor: Any) -> str:
    access.account_update(
        actor=actor, source=S.AUTOMATIC, account=req.account, attributes=req.result["previous_attributes"]
    )
    return "account attributes restored"


def _account_transition(fn: Callable[..., Any]) -> ApplyFn:
    def apply(req: Request, actor: Any) -> dict[str, Any]:
        before = req.account.status
        fn(actor=actor, source=req.source, account=req.account)
        return {"previous_status": before}

    return apply


def _account_restore(req: Request, actor: Any) -> str:
    before = req.result.get("previous_status")
    account = Account.objects.get(pk=req.account_id)
    if before == account.status:
        return "account already in its previous status"
    fn = {ACTIVE: lifecycle.account_activate, INACTIVE: lifecycle.account_inactivate}.get(before)
    if fn is None:
        return f"account cannot go back to {before}"
    fn(actor=actor, source=S.AUTOMATIC, account=account)
    return f"account restored to {before}"


def _revoke_account(req: Request, actor: Any) -> dict[str, Any]:
    """Revoke the account, keeping what the revocation takes in the directory (management,
    entitlements, roles) so a refusal by the application can put it back."""
    before, snapshot = req.account.status, lifecycle.account_access_snapshot(req.account)
    lifecycle.account_revoke(actor=actor, source=req.source, account=req.account)
    return {"previous_status": before, "previous_access": snapshot}


def _unrevoke_account(req: Request, actor: Any) -> str:
    """The application refused the revocation: it still has the account, so the directory says
    so again (seed 002: the account is restored), without a provisioning entry."""
    before = req.result.get("previous_status")
    snapshot = req.result.get("previous_access") or {}
    account = Account.objects.get(pk=req.account_id)
    restored = lifecycle.account_restore_revoked(
        actor=actor, source=S.AUTOMATIC, account=account, status=before, snapshot=snapshot
    )
    kept = len(snapshot.get("memberships", []))
    return f"account restored to {restored.status} with its {kept} entitlement(s) (the application kept it)"


def _beneficiary_account(req: Request, actor: Any) -> tuple[Account, bool]:
    """The beneficiary's account on the entitlement's resource, created when missing. An
    existing one is read locked, with what ``membership_grant`` needs (see ``account_locked``)."""
    if req.account_id:
        return req.account, False
    account = (
        Account.objects.select_for_update(of=("self",))
        .select_related("resource", "owner")
        .filter(
            owner=req.beneficiary, resource_id=req.entitlement.resource_id, account_type=AccountType.REGULAR
        )
        .exclude(status="REVOKED")
        .first()
    )
    if account is not None:
        return account, False
    account = access.account_create(
        actor=actor, source=req.source, resource=req.entitlement.resource, owner=req.beneficiary
    )
    return account, True


def _grant_entitlement(req: Request, actor: Any) -> dict[str, Any]:
    account, created = _beneficiary_account(req, actor)
    membership = access.membership_grant(
        actor=actor,
        source=req.source,
        account=account,
        entitlement=req.entitlement,
        account_locked=not created and not req.account_id,  # locked just above
    )
    req.account = account
    return {
        "membership_id": membership.pk,
        "created_account_id": account.pk if created else None,
    }


def _undo_grant_entitlement(req: Request, actor: Any) -> str:
    done = []
    membership = EntitlementMembership.objects.filter(pk=req.result.get("membership_id")).first()
    if membership is not None:
        access.membership_revoke(actor=actor, source=S.AUTOMATIC, membership=membership)
        done.append("membership revoked")
    if req.result.get("created_account_id"):
        done.append(_remove_created_account(req, actor))
    return ", ".join(done) or "nothing to roll back"


def _revoke_entitlement(req: Request, actor: Any) -> dict[str, Any]:
    membership = EntitlementMembership.objects.filter(
        account=req.account, entitlement=req.entitlement
    ).first()
    if membership is None:  # gone since the request was made (another request, a campaign, reconciliation)
        raise Conflict(
            gettext("%(account)s no longer holds %(entitlement)s: nothing to revoke.")
            % {"account": req.account, "entitlement": req.entitlement},
            code="membership_gone",
        )
    access.membership_revoke(actor=actor, source=req.source, membership=membership)
    return {"revoked_membership_id": membership.pk}


def _regrant_entitlement(req: Request, actor: Any) -> str:
    access.membership_grant(actor=actor, source=S.AUTOMATIC, account=req.account, entitlement=req.entitlement)
    return "membership granted again"


def _grant_role(req: Request, actor: Any) -> dict[str, Any]:
    membership = access.role_grant(
        actor=actor,
        source=req.source,
        user=req.beneficiary,
        role=req.role,
        start_date=req.start_at,
        end_date=req.end_at,
    )
    return {"role_membership_id": membership.pk}


def _undo_grant_role(req: Request, actor: Any) -> str:
    membership = RoleMembership.objects.filter(pk=req.result.get("role_membership_id")).first()
    if membership is None:
        return "role membership already gone"
    access.role_revoke(actor=actor, source=S.AUTOMATIC, membership=membership)
    return "role membership revoked"


def _revoke_role(req: Request, actor: Any) -> dict[str, Any]:
    membership = RoleMembership.objects.get(user=req.beneficiary, role=req.role)
    previous = {"start_date": membership.start_date, "end_date": membership.end_date}
    access.role_revoke(actor=actor, source=req.source, membership=membership)
    return {"previous": {k: v.isoformat() if v else None for k, v in previous.items()}}


def _regrant_role(req: Request, actor: Any) -> str:
    access.role_grant(actor=actor, source=S.AUTOMATIC, user=req.beneficiary, role=req.role)
    return "role granted again"


def _vault_checkin(req: Request, actor: Any) -> dict[str, Any]:
    """The account's credential goes into the beneficiary's vault (an ACTIVE check-out)."""
    checkout = vault_services.checkout_open(
        actor=actor, source=req.source, account=req.account, user=req.beneficiary, request_id=req.pk
    )
    return {"checkout_id": getattr(checkout, "pk", None)}


def _vault_checkout(req: Request, actor: Any) -> dict[str, Any]:
    """The beneficiary gives the credential back; the password is rotated (a CHANGE_PASSWORD
    entry tells the resource, so the request waits for provisioning)."""
    checkout = vault_services.checkout_release(
        actor=actor, source=req.source, account=req.account, user=req.beneficiary, rotate=True
    )
    rotation = getattr(checkout, "rotation", {})
    return {"checkout_id": getattr(checkout, "pk", None), "password_rotated": rotation.get("rotated", False)}


def _rotation_not_confirmed(req: Request, actor: Any) -> str:
    # The check-out itself stands (the holder gave the credential back); only the resource did
    # not confirm the new password, which the vault already holds.
    return (
        "check-out kept; the resource did not take the new password: set the vault's password on "
        "the resource by hand, or check the account in and out again"
    )


# --- the registry -----------------------------------------------------------------------------

_API = frozenset({S.API})
CONSOLE_IMPORT = _API | {S.CONSOLE, S.IMPORT}
IMPORT_WORKSPACE = _API | {S.IMPORT, S.WORKSPACE}
# the grants: self-service in the workspace, and an administrator's or the help desk's grant to a
# chosen user from the console (the user's and the role's pages)
GRANTS = IMPORT_WORKSPACE | {S.CONSOLE}
# what a manager does to the people who report to them from the workspace's "My team" (seed 002:
# "manualmente, via Workspace, pelo usuário responsável")
MANAGER = frozenset({S.WORKSPACE})
WORKSPACE = _API | {S.WORKSPACE}
LIVE = frozenset({ACTIVE, INACTIVE})
ONLY_ACTIVE = frozenset({ACTIVE})

#: The types the SCIM service provider (scim/, docs/scim.md) requests: users and role members.
_SCIM_TYPES = frozenset(
    {
        T.CREATE_USER,
        T.UPDATE_USER,
        T.ACTIVATE_USER,
        T.INACTIVATE_USER,
        T.REVOKE_USER,
        T.GRANT_ROLE,
        T.REVOKE_ROLE,
    }
)

_SPECS = [
    TypeSpec(
        T.CREATE_USER,
        "users",
        _API | {S.CONSOLE, S.IMPORT, S.WORKSPACE},
        True,
        False,
        False,
        _create_user,
        beneficiary_statuses=frozenset(),
    ),
    TypeSpec(
        T.UPDATE_USER,
        "users",
        CONSOLE_IMPORT,
        True,
        False,
        False,
        _update_user,
        beneficiary_statuses=LIVE,
    ),
    TypeSpec(
        T.REVOKE_USER,
        "users",
        CONSOLE_IMPORT | MANAGER,
        True,
        False,
        False,
        _lifecycle(lifecycle.user_revoke),
        lifecycle_target=REVOKED,
    ),
    TypeSpec(
        T.ACTIVATE_USER,
        "users",
        CONSOLE_IMPORT | MANAGER,
        True,
        False,
        False,
        _lifecycle(lifecycle.user_activate),
        lifecycle_target=ACTIVE,
    ),
    TypeSpec(
        T.INACTIVATE_USER,
        "users",
        CONSOLE_IMPORT | MANAGER,
        True,
        False,
        False,
        _lifecycle(lifecycle.user_inactivate),
        lifecycle_target=INACTIVE,
    ),
    TypeSpec(T.LOCK_USER, "users", CONSOLE_IMPORT, False, False, False, _lock),
    TypeSpec(T.UNLOCK_USER, "users", CONSOLE_IMPORT, False, False, False, _unlock),
    TypeSpec(
        T.RESET_PASSWORD,
        "users",
        _API | {S.CONSOLE},
        False,
        False,
        False,
        _reset_password,
        beneficiary_statuses=LIVE,
    ),
    TypeSpec(
        T.CREATE_ACCOUNT,
        "accounts",
        GRANTS,
        True,
        True,
        True,
        _create_account,
        _remove_created_account,
        requires=("resource",),
        time_bound=True,
        self_service=True,
        beneficiary_statuses=ONLY_ACTIVE,
    ),
    TypeSpec(
        T.UPDATE_ACCOUNT,
        "accounts",
        CONSOLE_IMPORT,
        True,
        False,
        True,
        _update_account,
        _restore_account_attributes,
        requires=("account",),
        beneficiary_statuses=LIVE,
    ),
    TypeSpec(
        T.ACTIVATE_ACCOUNT,
        "accounts",
        CONSOLE_IMPORT,
        True,
        False,
        True,
        _account_transition(lifecycle.account_activate),
        _account_restore,
        requires=("account",),
        beneficiary_statuses=ONLY_ACTIVE,
    ),
    TypeSpec(
        T.INACTIVATE_ACCOUNT,
        "accounts",
        CONSOLE_IMPORT,
        True,
        False,
        True,
        _account_transition(lifecycle.account_inactivate),
        _account_restore,
        requires=("account",),
        beneficiary_statuses=LIVE,
    ),
    TypeSpec(
        T.REVOKE_ACCOUNT,
        "accounts",
        CONSOLE_IMPORT | {S.AUTOMATIC},
        True,
        False,
        True,
        _revoke_account,
        _unrevoke_account,
        requires=("account",),
        beneficiary_statuses=LIVE,
    ),
    TypeSpec(
        T.CHECKIN_ADMIN_ACCOUNT,
        "accounts",
        WORKSPACE,
        True,
        False,
        False,
        _vault_checkin,
        requires=("account",),
        self_service=True,
        beneficiary_statuses=ONLY_ACTIVE,
    ),
    TypeSpec(
        T.CHECKOUT_ADMIN_ACCOUNT,
        "accounts",
        WORKSPACE | {S.AUTOMATIC},
        True,
        False,
        True,
        _vault_checkout,
        _rotation_not_confirmed,
        requires=("account",),
        self_service=True,
        beneficiary_statuses=LIVE,
    ),
    TypeSpec(
        T.CHECKIN_APPLICATION_ACCOUNT,
        "accounts",
        WORKSPACE,
        True,
        False,
        False,
        _vault_checkin,
        requires=("account",),
        self_service=True,
        beneficiary_statuses=ONLY_ACTIVE,
    ),
    TypeSpec(
        T.GRANT_ENTITLEMENT,
        "entitlement members",
        GRANTS,
        True,
        True,
        True,
        _grant_entitlement,
        _undo_grant_entitlement,
        requires=("entitlement",),
        time_bound=True,
        self_service=True,
        beneficiary_statuses=ONLY_ACTIVE,
    ),
    TypeSpec(
        T.REVOKE_ENTITLEMENT,
        "entitlement members",
        CONSOLE_IMPORT | MANAGER | {S.AUTOMATIC},
        True,
        False,
        True,
        _revoke_entitlement,
        _regrant_entitlement,
        requires=("account", "entitlement"),
        self_service=True,
        beneficiary_statuses=LIVE,
    ),
    TypeSpec(
        T.GRANT_ROLE,
        "role members",
        GRANTS,
        True,
        True,
        True,
        _grant_role,
        _undo_grant_role,
        requires=("role",),
        time_bound=True,
        self_service=True,
        beneficiary_statuses=ONLY_ACTIVE,
    ),
    TypeSpec(
        T.REVOKE_ROLE,
        "role members",
        CONSOLE_IMPORT | MANAGER | {S.AUTOMATIC},
        True,
        False,
        True,
        _revoke_role,
        _regrant_role,
        requires=("role",),
        self_service=True,
        beneficiary_statuses=LIVE,
    ),
]

_SPECS = [replace(s, sources=s.sources | {S.SCIM}) if s.code in _SCIM_TYPES else s for s in _SPECS]
#: The types a certification's revoke decision requests (certification/, docs/certification.md).
_CERTIFICATION_TYPES = frozenset({T.REVOKE_ACCOUNT, T.REVOKE_ENTITLEMENT, T.REVOKE_ROLE})
_SPECS = [
    replace(s, sources=s.sources | {S.CERTIFICATION}) if s.code in _CERTIFICATION_TYPES else s for s in _SPECS
]
SPECS: dict[str, TypeSpec] = {spec.code: spec for spec in _SPECS}
assert set(SPECS) == set(RequestType.values), "every request type needs a spec"

#: What ends a time-bound access: the revoke type and the object references it carries.
END_OF_ACCESS: dict[str, tuple[str, tuple[str, ...]]] = {
    T.CREATE_ACCOUNT: (T.REVOKE_ACCOUNT, ("account",)),
    T.GRANT_ENTITLEMENT: (T.REVOKE_ENTITLEMENT, ("account", "entitlement")),
    T.GRANT_ROLE: (T.REVOKE_ROLE, ("role",)),
}
