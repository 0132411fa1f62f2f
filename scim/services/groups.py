"""Group (role) membership by SCIM: a member added is a GRANT_ROLE request, one removed a
REVOKE_ROLE request, each processed at once like any request of the pipeline."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from blazon.errors import DomainError
from directory.models import Role, Source, User
from directory.services.config.catalog import role_create, role_delete, role_update
from requests_workflow.models import RequestType
from scim import errors
from scim.filters import as_id
from scim.models import ScimClient, ScimGroup
from scim.representation import HIDDEN_STATUSES
from scim.schemas import CORE_GROUP
from scim.services.users import APPLIED, _request, external_id_set, scim_error_of


def _member_ids(data: Any) -> set[int]:
    if not isinstance(data, dict):
        raise errors.invalid_syntax("A Group is a JSON object.")
    members = next((v for k, v in data.items() if k.lower() == "members"), None) or []
    if not isinstance(members, list):
        raise errors.invalid_value("members is a list.")
    out: set[int] = set()
    for item in members:
        ref = item.get("value") if isinstance(item, dict) else None
        target = as_id(ref)
        if not isinstance(target, int):
            raise errors.invalid_value(f"No user with id {ref!r}.")
        out.add(target)
    return out


def _apply(client: ScimClient, role: Role, before: set[int], after: set[int]) -> bool:
    """Grant and revoke; True when a request waits (approval, SoD)."""
    added, removed = sorted(after - before), sorted(before - after)
    users = {
        u.pk: u for u in User.objects.filter(pk__in=[*added, *removed]).exclude(status__in=HIDDEN_STATUSES)
    }
    missing = [pk for pk in added if pk not in users]
    if missing:
        raise errors.invalid_value(f"No user with id {missing[0]}.")
    pending = False
    for pk in added:
        req = _request(client, RequestType.GRANT_ROLE, beneficiary=users[pk], role=role)
        pending = pending or req.status not in APPLIED
    for pk in removed:
        if pk in users:
            req = _request(client, RequestType.REVOKE_ROLE, beneficiary=users[pk], role=role)
            pending = pending or req.status not in APPLIED
    return pending


def _owns(client: ScimClient, role: Role) -> bool:
    return client.manage_groups and ScimGroup.objects.filter(role=role, client=client).exists()


def _display_name(data: dict[str, Any]) -> Any:
    return next((v for k, v in data.items() if k.lower() == "displayname"), None)


def _check_name(client: ScimClient, role: Role, data: dict[str, Any]) -> None:
    """A group's displayName is its role's name: only the client that created the role renames it."""
    schemas = data.get("schemas")
    if schemas is not None and schemas != [CORE_GROUP]:
        raise errors.invalid_value(f"Unknown schemas in {schemas!r}.")
    name = _display_name(data)
    if name is None or name == role.name:
        return
    if not _owns(client, role):
        raise errors.mutability("displayName is the role's name, changed by administrators in Blazon.")
    if not isinstance(name, str) or not name.strip():
        raise errors.invalid_value("displayName is a non-empty string.")
    try:
        role_update(actor=client.user, source=Source.SCIM, role=role, data={"name": name.strip()})
    except DomainError as exc:
        raise scim_error_of(exc) from exc


def _code_for(name: str) -> str:
    base = slugify(name)[:50].strip("-") or "group"
    code, n = f"scim-{base}", 1
    while Role.objects.filter(code=code).exists():
        n += 1
        code = f"scim-{base}-{n}"
    return code


def group_create(*, client: ScimClient, data: Any) -> tuple[Role, bool]:
    """POST /Groups, for a client registered with ``--groups``: an empty role (not self-service;
    administrators add what it grants), then its members (GRANT_ROLE requests). Returns the role
    and whether a grant waits for approval."""
    if not client.manage_groups:
        raise errors.ScimError(
            403,
            "Groups are Blazon roles, defined by administrators; this client may only change their members.",
        )
    if not isinstance(data, dict):
        raise errors.invalid_syntax("A Group is a JSON object.")
    schemas = data.get("schemas")
    if schemas is not None and schemas != [CORE_GROUP]:
        raise errors.invalid_value(f"Unknown schemas in {schemas!r}.")
    name = _display_name(data)
    if not isinstance(name, str) or not name.strip():
        raise errors.invalid_value("displayName is required.")
    if Role.objects.filter(name__iexact=name.strip()).exists():
        raise errors.uniqueness(f"A role named {name.strip()!r} exists already.")
    members = _member_ids(data)
    try:
        with transaction.atomic():
            role = role_create(
                actor=client.user,
                source=Source.SCIM,
                code=_code_for(name),
                name=name.strip(),
                description=f"Created by SCIM client {client.name}.",
                self_service=False,
            )
            ScimGroup.objects.create(role=role, client=client)
    except DomainError as exc:
        raise scim_error_of(exc) from exc
    ext = next((v for k, v in data.items() if k.lower() == "externalid"), None)
    if isinstance(ext, str) and ext:
        external_id_set(client=client, external_id=ext, role=role)
    return role, _apply(client, role, set(), members)


def group_delete(*, client: ScimClient, role: Role) -> bool:
    """DELETE /Groups/{id} of a role this client created: its members are revoked (REVOKE_ROLE
    requests), then the role is deleted. True when a revocation waits (the role stays)."""
    if not _owns(client, role):
        raise errors.ScimError(403, "Roles are deleted by administrators in Blazon, not by this SCIM client.")
    before = set(role.memberships.values_list("user_id", flat=True))
    if _apply(client, role, before, set()):
        return True
    try:
        role_delete(actor=client.user, source=Source.SCIM, role=role)
    except DomainError as exc:
        raise scim_error_of(exc) from exc
    return False


def group_replace(*, client: ScimClient, role: Role, data: Any) -> bool:
    """PUT /Groups/{id}: members become exactly the ones given."""
    after = _member_ids(data)
    _check_name(client, role, data)
    ext = next((v for k, v in data.items() if k.lower() == "externalid"), None)
    external_id_set(client=client, external_id=ext if isinstance(ext, str) and ext else None, role=role)
    before = set(role.memberships.values_list("user_id", flat=True))
    return _apply(client, role, before, after)


def group_patch(*, client: ScimClient, role: Role, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """PATCH /Groups/{id}, once its operations were applied to the group's JSON."""
    _check_name(client, role, after)
    ext = next((v for k, v in after.items() if k.lower() == "externalid"), None)
    external_id_set(client=client, external_id=ext if isinstance(ext, str) and ext else None, role=role)
    return _apply(client, role, _member_ids(before), _member_ids(after))
