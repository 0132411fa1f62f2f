"""What a SCIM write becomes: requests of the pipeline (source ``scim``, requested by the
client's service identity), processed at once so that a request that needs no approval has
reached the directory when the call answers.

A call may make several requests (PUT changing fields and ``active``: UPDATE_USER then
INACTIVATE_USER); each is atomic. ``Outcome.pending`` tells the view that one waits (approval,
SoD): the client gets 202 and the resource as it is now (docs/scim.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower

from blazon.audit.services import audit_record
from blazon.errors import Conflict, DomainError, NotAllowed
from directory.models import Role, Source, User, UserStatus
from requests_workflow.models import Request, RequestStatus, RequestType
from requests_workflow.services.pipeline import request_process
from requests_workflow.services.requests import request_create
from scim import errors
from scim.models import ScimClient, ScimExternalId
from scim.representation import shown_display_name

#: Statuses in which the change is in the directory (provisioning may still run).
APPLIED = (RequestStatus.FINISHED, RequestStatus.WAITING_PROVISIONING)
REFUSED = (RequestStatus.REJECTED, RequestStatus.CANCELED, RequestStatus.FAILED)


@dataclass
class Outcome:
    """The requests one SCIM call made, and the user they are about (None: not created yet)."""

    user: User | None = None
    requests: list[Request] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return any(r.status not in APPLIED for r in self.requests)


def _justification(client: ScimClient) -> str:
    return f"SCIM client {client.name}"


def _why_refused(req: Request) -> str:
    last = req.events.order_by("-id").first()
    return last.message if last else f"The request ended {req.status}."


def scim_error_of(exc: DomainError) -> errors.ScimError:
    """The SCIM error of a refused request (§3.12)."""
    if isinstance(exc, NotAllowed):
        return errors.ScimError(403, exc.message)
    if isinstance(exc, Conflict):
        if "username" in exc.message.lower() or "taken" in exc.message.lower() or exc.fields.get("username"):
            return errors.uniqueness(exc.message)
        return errors.ScimError(409, exc.message)
    fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
    detail = exc.message if not fields or fields in exc.message else f"{exc.message} ({fields})"
    if any("unique" in " ".join(v).lower() or "taken" in " ".join(v).lower() for v in exc.fields.values()):
        return errors.uniqueness(detail)
    return errors.invalid_value(detail)


def _request(client: ScimClient, request_type: str, **kwargs: Any) -> Request:
    """Create (stages 1-2, committed) and process a request at once; a refusal changes nothing."""
    try:
        with transaction.atomic():
            req = request_create(
                actor=client.user,
                source=Source.SCIM,
                request_type=request_type,
                justification=_justification(client),
                **kwargs,
            )
    except DomainError as exc:
        raise scim_error_of(exc) from exc
    req = request_process(request_id=req.pk)
    req.refresh_from_db()
    if req.status in REFUSED:
        detail = _why_refused(req)
        if req.status == RequestStatus.FAILED and "taken" in detail.lower():
            raise errors.uniqueness(detail)
        raise errors.ScimError(409 if req.status != RequestStatus.FAILED else 400, detail, None)
    return req


def _username_clash(username: str, exclude_pk: int | None = None) -> None:
    qs = User.objects.annotate(lname=Lower("username")).filter(lname=username.strip().lower())
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise errors.uniqueness(f"The userName {username!r} is taken.")


@transaction.atomic
def external_id_set(
    *, client: ScimClient, external_id: str | None, user: User | None = None, role: Role | None = None
) -> None:
    """Keep (or forget, None) the client's own id of a user or role; audited when it changes."""
    lookup: dict[str, Any] = (
        {"client": client, "user": user} if user is not None else {"client": client, "role": role}
    )
    current = ScimExternalId.objects.select_for_update().filter(**lookup).first()
    old = current.external_id if current else None
    if old == external_id:
        return
    if external_id is None:
        ScimExternalId.objects.filter(**lookup).delete()
    elif current is None:
        ScimExternalId.objects.create(external_id=external_id, **lookup)
    else:
        current.external_id = external_id
        current.save(update_fields=["external_id"])
    audit_record(
        actor=client.user,
        action="scim.external_id.set",
        obj=user if user is not None else role,
        old={"externalId": old, "client": client.name},
        new={"externalId": external_id, "client": client.name},
        source=Source.SCIM,
    )


def _new_user_payload(fields: dict[str, Any]) -> dict[str, Any]:
    user: dict[str, Any] = {k: v for k, v in fields.items() if k != "attributes" and v not in ("", None)}
    attributes = {k: v for k, v in (fields.get("attributes") or {}).items() if v not in ("", None)}
    if attributes:
        user["attributes"] = attributes
    return user


def scim_user_create(
    *, client: ScimClient, fields: dict[str, Any], active: bool | None, external_id: str | None
) -> Outcome:
    """POST /Users: a CREATE_USER request (and INACTIVATE_USER when ``active`` is false)."""
    username = fields.get("username") or ""
    if not username:
        raise errors.invalid_value("userName is required.")
    _username_clash(username)
    req = _request(client, RequestType.CREATE_USER, payload={"user": _new_user_payload(fields)})
    outcome = Outcome(requests=[req])
    if req.status not in APPLIED or req.beneficiary_id is None:
        return outcome
    user = User.objects.get(pk=req.beneficiary_id)
    outcome.user = user
    if external_id:
        external_id_set(client=client, external_id=external_id, user=user)
    if active is False:
        outcome.requests.append(_request(client, RequestType.INACTIVATE_USER, beneficiary=user))
    return outcome


def _current(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": shown_display_name(user),
        "email": user.email,
        "job_title": user.job_title,
        "employee_type": user.employee_type,
        "department": user.department,
        "manager": user.manager_id,
    }


def scim_user_replace(
    *, client: ScimClient, user: User, fields: dict[str, Any], active: bool | None, external_id: str | None
) -> Outcome:
    """PUT (and PATCH, once applied) /Users/{id}: UPDATE_USER with the fields that differ, then
    the life-cycle request ``active`` asks for (ACTIVATE_USER / INACTIVATE_USER)."""
    if not fields.get("username"):
        raise errors.invalid_value("userName is required.")
    current = _current(user)
    changes = {k: v for k, v in fields.items() if k != "attributes" and current.get(k) != v}
    if "username" in changes:
        if not changes["username"]:
            raise errors.invalid_value("userName cannot be emptied.")
        if changes["username"].lower() != user.username.lower():
            _username_clash(changes["username"], exclude_pk=user.pk)
    values = user.attributes or {}
    attributes = {
        k: v
        for k, v in (fields.get("attributes") or {}).items()
        if values.get(k) != v and not (v in (None, "") and values.get(k) in (None, ""))
    }
    if attributes:
        changes["attributes"] = attributes
    outcome = Outcome(user=user)
    if changes:
        outcome.requests.append(
            _request(client, RequestType.UPDATE_USER, beneficiary=user, payload={"changes": changes})
        )
    external_id_set(client=client, external_id=external_id, user=user)  # PUT: absent clears it
    if active is not None and active != (user.status == UserStatus.ACTIVE) and not outcome.pending:
        kind = RequestType.ACTIVATE_USER if active else RequestType.INACTIVATE_USER
        outcome.requests.append(_request(client, kind, beneficiary=user))
    return outcome


def scim_user_delete(*, client: ScimClient, user: User) -> Outcome:
    """DELETE /Users/{id}: a REVOKE_USER request (the life cycle's revocation: every access goes).
    A revoked user is no longer shown by SCIM; removal and purge stay Blazon's own decisions."""
    return Outcome(user=user, requests=[_request(client, RequestType.REVOKE_USER, beneficiary=user)])
