"""Stages 1 and 2: creating a request and its validation policies; cancelling it.

Validation runs when the request is created, so bad input gets a clear error and nothing is
written. The policies: the type exists and may come from this source; its required fields are
there; the payload carries no secret; justification where the type needs one
(``BLAZON_REQUEST_JUSTIFICATION_REQUIRED``); who may request for whom (oneself for self-service
types, a manager for their reports, console administrators for anyone); the beneficiary's status;
the access period; and no other pending request for the same beneficiary, type and object. The
administrator's ``ValidationPolicy`` rows then add their own rules (``services/validation.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import Conflict, NotAllowed, TransitionNotAllowed, ValidationFailed
from blazon.permissions import can
from blazon.tasks import enqueue_on_commit
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    Entitlement,
    EntitlementMembership,
    Management,
    Resource,
    Role,
    RoleMembership,
    Source,
    User,
    UserStatus,
)
from directory.services.lifecycle.rules import user_transition_check
from requests_workflow.models import Request, RequestStatus, RequestType
from requests_workflow.payloads import payload_check
from requests_workflow.services.common import CANCELABLE, request_events, request_move
from requests_workflow.services.validation import (
    active_validation_policies,
    validation_policies_check,
    validation_policies_requester,
)
from requests_workflow.tasks import process_request
from requests_workflow.types import SPECS, TypeSpec
from worklist.models import Task
from worklist.services import tasks_cancel

#: Types whose requests must say why, unless the setting says otherwise.
DEFAULT_JUSTIFICATION_REQUIRED = frozenset(
    {
        RequestType.CREATE_ACCOUNT,
        RequestType.GRANT_ENTITLEMENT,
        RequestType.GRANT_ROLE,
        RequestType.CHECKIN_ADMIN_ACCOUNT,
        RequestType.CHECKIN_APPLICATION_ACCOUNT,
    }
)
VAULT_TYPES = frozenset(
    {
        RequestType.CHECKIN_ADMIN_ACCOUNT,
        RequestType.CHECKOUT_ADMIN_ACCOUNT,
        RequestType.CHECKIN_APPLICATION_ACCOUNT,
    }
)
SECRET_WORDS = ("password", "secret", "token", "credential", "private_key", "otp")


def justification_required(request_type: str) -> bool:
    configured = getattr(settings, "BLAZON_REQUEST_JUSTIFICATION_REQUIRED", None)
    return request_type in (DEFAULT_JUSTIFICATION_REQUIRED if configured is None else set(configured))


def _secret_keys(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if any(word in str(key).lower() for word in SECRET_WORDS):
                found.append(here)
            found.extend(_secret_keys(item, here))
        return found
    if isinstance(value, list):
        return [k for i, item in enumerate(value) for k in _secret_keys(item, f"{path}[{i}]")]
    return []


def _spec(request_type: str) -> TypeSpec:
    spec = SPECS.get(request_type)
    if spec is None:
        raise ValidationFailed(
            gettext("Unknown request type %(request_type)r; expected one of %(values)s.")
            % {"request_type": request_type, "values": ", ".join(RequestType.values)},
            fields={"type": [gettext("Unknown request type.")]},
            code="unknown_type",
        )
    return spec


def _may_request(
    actor: User | None, *, source: str, spec: TypeSpec, beneficiary: User | None, payload: dict[str, Any]
) -> bool:
    """Who may request for whom: the system (automatic source) for the automatic types, console
    administrators for anyone, a user for themselves on self-service types, a manager for their
    direct reports (and for a new user who will report to them)."""
    if actor is None:
        return source in (Source.AUTOMATIC, Source.CERTIFICATION)
    if source == Source.CERTIFICATION:
        # the certification service has checked that the actor reviews this access; no client
        # chooses this source (the API and pages pass their own)
        return True
    if actor.status != UserStatus.ACTIVE or actor.login_locked:
        return False
    if can(actor, "manage_users"):
        return True
    if beneficiary is None:
        manager = (payload.get("user") or {}).get("manager")
        return manager in (actor.username, actor.pk)
    if beneficiary.pk == actor.pk:
        return spec.self_service
    return beneficiary.manager_id == actor.pk


def _check_objects(
    spec: TypeSpec, refs: dict[str, Any], beneficiary: User | None, errors: dict[str, Any]
) -> User | None:
    """Required references are present and fit together; returns the beneficiary (taken from
    the account for account types when not given)."""
    for name in spec.requires:
        if refs.get(name) is None:
            errors[name] = [
                gettext("A %(name)s is required for %(code)s.") % {"name": name, "code": spec.code}
            ]
    account: Account | None = refs.get("account")
    entitlement: Entitlement | None = refs.get("entitlement")
    if account is not None:
        holder = account.owner if account.owner_id else account.responsible
        if spec.code in VAULT_TYPES:
            # any user may ask for an administrative/application account's credentials
            holder = beneficiary or holder
        if beneficiary is None:
            beneficiary = holder
        elif holder is not None and holder.pk != beneficiary.pk:
            errors["account"] = [
                gettext("Account %(account)s belongs to %(username)s, not to %(username2)s.")
                % {"account": account, "username": holder.username, "username2": beneficiary.username}
            ]
        if spec.code in (RequestType.CHECKIN_ADMIN_ACCOUNT, RequestType.CHECKOUT_ADMIN_ACCOUNT):
            if account.account_type != AccountType.ADMINISTRATIVE:
                errors["account"] = [
                    gettext("Account %(account)s is not an administrative account.") % {"account": account}
                ]
        if (
            spec.code == RequestType.CHECKIN_APPLICATION_ACCOUNT
            and account.account_type != AccountType.APPLICATION
        ):
            errors["account"] = [
                gettext("Account %(account)s is not an application account.") % {"account": account}
            ]
        if account.status == AccountStatus.REVOKED and spec.code not in (RequestType.REVOKE_ACCOUNT,):
            errors["account"] = [gettext("Account %(account)s is revoked.") % {"account": account}]
        if entitlement is not None and entitlement.resource_id != account.resource_id:
            errors["entitlement"] = [
                gettext("%(name)s is not an entitlement of %(name2)s.")
                % {"name": entitlement.name, "name2": account.resource.name}
            ]
    return beneficiary


def _check_state(
    spec: TypeSpec, refs: dict[str, Any], beneficiary: User, source: str, errors: dict[str, Any]
) -> None:
    """The directory allows the change now (so approvers never approve the impossible)."""
    code = spec.code
    account, entitlement, role = refs.get("account"), refs.get("entitlement"), refs.get("role")
    if spec.lifecycle_target:
        try:
            if not user_transition_check(user=beneficiary, to=spec.lifecycle_target, source=source):
                errors["beneficiary"] = [
                    gettext("%(username)s is already %(status)s.")
                    % {"username": beneficiary.username, "status": beneficiary.status}
                ]
        except TransitionNotAllowed as exc:
            errors["beneficiary"] = [exc.message]
    elif code == RequestType.LOCK_USER and beneficiary.login_locked:
        errors["beneficiary"] = [
            gettext("%(username)s is already locked.") % {"username": beneficiary.username}
        ]
    elif code == RequestType.UNLOCK_USER and not beneficiary.login_locked:
        errors["beneficiary"] = [gettext("%(username)s is not locked.") % {"username": beneficiary.username}]
    elif code == RequestType.RESET_PASSWORD and not beneficiary.email:
        errors["beneficiary"] = [
            gettext("%(username)s has no e-mail address to receive the new password.")
            % {"username": beneficiary.username}
        ]
    elif code == RequestType.CREATE_ACCOUNT and refs.get("resource") is not None:
        if Account.objects.filter(
            owner=beneficiary, resource=refs["resource"], account_type=AccountType.REGULAR
        ).exists():
            errors["resource"] = [
                gettext("%(username)s already has an account on %(name)s.")
                % {"username": beneficiary.username, "name": refs["resource"].name}
            ]
    elif (
        code in (RequestType.ACTIVATE_ACCOUNT, RequestType.INACTIVATE_ACCOUNT, RequestType.REVOKE_ACCOUNT)
        and account
    ):
        targets: dict[str, str] = {
            RequestType.ACTIVATE_ACCOUNT: AccountStatus.ACTIVE,
            RequestType.INACTIVATE_ACCOUNT: AccountStatus.INACTIVE,
            RequestType.REVOKE_ACCOUNT: AccountStatus.REVOKED,
        }
        target = targets[code]
        if account.status == target:
            errors["account"] = [
                gettext("Account %(account)s is already %(target)s.") % {"account": account, "target": target}
            ]
        elif account.management == Management.ROLE and code == RequestType.REVOKE_ACCOUNT:
            errors["account"] = [
                gettext("Account %(account)s is kept by a role: the role decides.") % {"account": account}
            ]
    elif code == RequestType.GRANT_ENTITLEMENT and entitlement is not None:
        holds = EntitlementMembership.objects.filter(
            account__owner=beneficiary, entitlement=entitlement, manual=True
        ).exists()
        if holds:
            errors["entitlement"] = [
                gettext("%(username)s already holds %(name)s.")
                % {"username": beneficiary.username, "name": entitlement.name}
            ]
    elif code == RequestType.REVOKE_ENTITLEMENT and account and entitlement:
        membership = EntitlementMembership.objects.filter(account=account, entitlement=entitlement).first()
        if membership is None:
            errors["entitlement"] = [
                gettext("Account %(account)s does not hold %(name)s.")
                % {"account": account, "name": entitlement.name}
            ]
        elif membership.management == Management.ROLE and not membership.manual:
            errors["entitlement"] = [
                gettext("%(name)s is kept by a role on %(account)s: the role decides.")
                % {"name": entitlement.name, "account": account}
            ]
    elif code == RequestType.GRANT_ROLE and role is not None:
        if RoleMembership.objects.filter(user=beneficiary, role=role).exists():
            errors["role"] = [
                gettext("%(username)s already has the role %(name)s.")
                % {"username": beneficiary.username, "name": role.name}
            ]
    elif code == RequestType.REVOKE_ROLE and role is not None:
        if not RoleMembership.objects.filter(user=beneficiary, role=role).exists():
            errors["role"] = [
                gettext("%(username)s does not have the role %(name)s.")
                % {"username": beneficiary.username, "name": role.name}
            ]


def _check_period(
    spec: TypeSpec, start_at: datetime | None, end_at: datetime | None, errors: dict[str, Any]
) -> None:
    if start_at is None and end_at is None:
        return
    if not spec.time_bound:
        errors["end_at"] = [gettext("%(code)s requests do not carry an access period.") % {"code": spec.code}]
        return
    for name, value in (("start_at", start_at), ("end_at", end_at)):
        if value is not None and timezone.is_naive(value):
            errors[name] = [gettext("Give a date and time with a time zone.")]
    if errors:
        return
    if end_at is not None and end_at <= timezone.now():
        errors["end_at"] = [gettext("The end of the access period must be in the future.")]
    if start_at is not None and end_at is not None and end_at <= start_at:
        errors["end_at"] = [gettext("The end of the access period must be after its start.")]


def dedup_key(
    request_type: str, beneficiary: User | None, refs: dict[str, Any], payload: dict[str, Any]
) -> str | None:
    """Identifies "the same thing" for the one-pending-request rule."""
    if request_type == RequestType.CREATE_USER:
        username = str((payload.get("user") or {}).get("username") or "").strip().lower()
        return f"{request_type}:username:{username}" if username else None
    ids = ":".join(
        str(getattr(refs.get(n), "pk", "") or "") for n in ("resource", "account", "entitlement", "role")
    )
    return f"{request_type}:{beneficiary.pk if beneficiary else ''}:{ids}"


@transaction.atomic
def request_create(
    *,
    actor: User | None,
    source: str,
    request_type: str,
    beneficiary: User | None = None,
    resource: Resource | None = None,
    account: Account | None = None,
    entitlement: Entitlement | None = None,
    role: Role | None = None,
    payload: dict[str, Any] | None = None,
    justification: str = "",
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    origin: Request | None = None,
) -> Request:
    """Stage 1 (creation) and stage 2 (validation policies) of a request; its processing (stage
    3 onwards) starts once the transaction commits."""
    spec = _spec(request_type)
    payload = dict(payload or {})
    justification = (justification or "").strip()
    refs = {"resource": resource, "account": account, "entitlement": entitlement, "role": role}
    errors: dict[str, list[str]] = {}
    beneficiary = request_shape_check(
        spec,
        source=source,
        payload=payload,
        justification=justification,
        refs=refs,
        beneficiary=beneficiary,
        start_at=start_at,
        end_at=end_at,
        errors=errors,
    )
    if beneficiary is not None:
        beneficiary = User.objects.select_for_update().get(pk=beneficiary.pk)  # serialise same-user requests
        if beneficiary_status_check(spec, beneficiary, errors) and not errors:
            _check_state(spec, refs, beneficiary, source, errors)
    policies = active_validation_policies() if source != Source.AUTOMATIC else []
    validation_policies_check(
        policies,
        spec=spec,
        source=source,
        refs=refs,
        beneficiary=beneficiary,
        payload=payload,
        justification=justification,
        start_at=start_at,
        end_at=end_at,
        errors=errors,
    )
    if errors:
        detail = " ".join(msg for msgs in errors.values() for msg in msgs)
        raise ValidationFailed(
            gettext("The request cannot be created: %(detail)s") % {"detail": detail}, fields=errors
        )
    if not _may_request(actor, source=source, spec=spec, beneficiary=beneficiary, payload=payload):
        whom = beneficiary.username if beneficiary else "a new user"
        raise NotAllowed(
            gettext(
                "%(value)s may not request %(code)s for %(whom)s: requests are made for oneself (self-service types), by a manager for their reports, or by a console administrator."
            )
            % {"value": getattr(actor, "username", "The system"), "code": spec.code, "whom": whom}
        )
    refusal = validation_policies_requester(
        policies, actor=actor, spec=spec, source=source, refs=refs, beneficiary=beneficiary, payload=payload
    )
    if refusal:
        raise NotAllowed(refusal)
    key = dedup_key(spec.code, beneficiary, refs, payload)
    # One pending request per key: the partial unique index ``request_one_pending_per_object``
    # decides (no SELECT first, no savepoint). A duplicate fails the INSERT; the Conflict raised
    # then leaves this function's atomic block at once, which rolls back to its own savepoint
    # (or the whole transaction), so the aborted statement never poisons the caller.
    try:
        req = Request.objects.create(
            type=spec.code,
            requester=actor,
            beneficiary=beneficiary,
            source=source,
            payload=payload,
            justification=justification,
            start_at=start_at,
            end_at=end_at,
            dedup_key=key,
            origin=origin,
            stage=2,
            **refs,
        )
    except IntegrityError:  # a pending identical request exists (or a concurrent one won)
        raise _duplicate(spec, beneficiary) from None
    events = request_events(
        req,
        [
            {"stage": 1, "actor": actor, "to": RequestStatus.NEW, "message": f"Created from {source}."},
            {"stage": 2, "actor": actor, "message": "Validation policies passed."},
        ],
    )
    # The request as created, with its history and no task: callers (the API) render it without
    # reading it back.
    req._prefetched_objects_cache = {"events": events, "tasks": []}  # type: ignore[attr-defined]  # Django's own
    audit_record(
        actor=actor,
        action="request.created",
        obj=req,
        new={
            "type": spec.code,
            "beneficiary": beneficiary.username if beneficiary else None,
            **{name: str(obj) for name, obj in refs.items() if obj is not None},
            "payload": payload,
            "justification": justification,
            "start_at": start_at,
            "end_at": end_at,
        },
        source=source,
        subject_user_id=beneficiary.pk if beneficiary else None,
    )

    enqueue_on_commit(process_request, req.pk)
    return req


def _duplicate(spec: TypeSpec, beneficiary: User | None) -> Conflict:
    whom = beneficiary.username if beneficiary else "this user"
    return Conflict(
        gettext(
            "A %(code)s request for %(whom)s and the same object is already pending; wait for it to finish or cancel it."
        )
        % {"code": spec.code, "whom": whom},
        code="duplicate_pending",
    )


@transaction.atomic
def request_cancel(*, actor: User, source: str, request: Request, reason: str = "") -> Request:
    """Cancel a request before stage 4 (the requester or a console administrator); its open
    tasks are canceled with it."""
    req = Request.objects.select_for_update().get(pk=request.pk)
    if actor is None or not (actor.pk == req.requester_id or can(actor, "manage_users")):
        raise NotAllowed(gettext("Only the requester or a console administrator may cancel a request."))
    if req.status not in CANCELABLE:
        raise TransitionNotAllowed(
            gettext(
                "Request #%(pk)s is %(status)s: it can only be canceled before it is applied to the directory."
            )
            % {"pk": req.pk, "status": req.status},
            fields={"status": [gettext("%(status)s cannot be canceled.") % {"status": req.status}]},
        )
    tasks_cancel(Task.objects.filter(request=req))
    message = "Canceled" + (f": {reason.strip()}" if reason.strip() else ".")
    request_move(
        req, RequestStatus.CANCELED, stage=max(req.stage, 1), actor=actor, message=message, source=source
    )
    request.status = req.status
    return req


def request_shape_check(
    spec: Any,
    *,
    source: str,
    payload: dict[str, Any],
    justification: str,
    refs: dict[str, Any],
    beneficiary: User | None,
    start_at: Any,
    end_at: Any,
    errors: dict[str, list[str]],
) -> User | None:
    """Stage 1's checks of what a request says (source, payload against its type's shape in
    ``requests_workflow.payloads``, justification, period, the objects it names, its
    beneficiary), into ``errors``; the beneficiary the objects imply.
    Shared by ``request_create`` and the CSV import's dry validation (one rule set)."""
    if source not in spec.sources:
        errors["source"] = [
            gettext("%(code)s requests cannot come from %(source)s; allowed: %(sources)s.")
            % {"code": spec.code, "source": source, "sources": ", ".join(sorted(spec.sources))}
        ]
    secret_keys = _secret_keys(payload)
    if secret_keys:
        errors["payload"] = [
            gettext("A request never carries secrets; remove %(secret_keys)s.")
            % {"secret_keys": ", ".join(secret_keys)}
        ]
    payload_check(spec.code, payload, errors)
    if spec.code == RequestType.CREATE_USER and beneficiary is not None:
        errors["beneficiary"] = [
            gettext("A new user request has no beneficiary yet: the user is created at the end.")
        ]
    if justification_required(spec.code) and not justification:
        errors["justification"] = [gettext("%(code)s requests need a justification.") % {"code": spec.code}]
    _check_period(spec, start_at, end_at, errors)
    beneficiary = _check_objects(spec, refs, beneficiary, errors)
    if spec.code != RequestType.CREATE_USER and beneficiary is None and "beneficiary" not in errors:
        errors["beneficiary"] = [gettext("%(code)s requests need a beneficiary.") % {"code": spec.code}]
    return beneficiary


def beneficiary_status_check(spec: Any, beneficiary: User, errors: dict[str, list[str]]) -> bool:
    """Whether a request of this type may be made for ``beneficiary`` today (else the error)."""
    if beneficiary.status == UserStatus.REMOVED:
        errors["beneficiary"] = [
            gettext("%(username)s is REMOVED: no request can be made for them.")
            % {"username": beneficiary.username}
        ]
        return False
    if spec.beneficiary_statuses and beneficiary.status not in spec.beneficiary_statuses:
        allowed = ", ".join(sorted(spec.beneficiary_statuses))
        errors["beneficiary"] = [
            gettext("%(username)s is %(status)s; %(code)s needs %(allowed)s.")
            % {
                "username": beneficiary.username,
                "status": beneficiary.status,
                "code": spec.code,
                "allowed": allowed,
            }
        ]
        return False
    return True
