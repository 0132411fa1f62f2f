"""Group (role) membership by SCIM: a member added is a GRANT_ROLE request, one removed a
REVOKE_ROLE request, each processed at once like any request of the pipeline."""

from __future__ import annotations

from typing import Any

from directory.models import Role, User
from requests_workflow.models import RequestType
from scim import errors
from scim.filters import as_id
from scim.models import ScimClient
from scim.representation import HIDDEN_STATUSES
from scim.schemas import CORE_GROUP
from scim.services.users import APPLIED, _request, external_id_set


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


def _check_name(role: Role, data: dict[str, Any]) -> None:
    name = next((v for k, v in data.items() if k.lower() == "displayname"), role.name)
    if name != role.name:
        raise errors.mutability("displayName is the role's name, changed by administrators in Blazon.")
    schemas = data.get("schemas")
    if schemas is not None and schemas != [CORE_GROUP]:
        raise errors.invalid_value(f"Unknown schemas in {schemas!r}.")


def group_replace(*, client: ScimClient, role: Role, data: Any) -> bool:
    """PUT /Groups/{id}: members become exactly the ones given."""
    after = _member_ids(data)
    _check_name(role, data)
    ext = next((v for k, v in data.items() if k.lower() == "externalid"), None)
    external_id_set(client=client, external_id=ext if isinstance(ext, str) and ext else None, role=role)
    before = set(role.memberships.values_list("user_id", flat=True))
    return _apply(client, role, before, after)


def group_patch(*, client: ScimClient, role: Role, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """PATCH /Groups/{id}, once its operations were applied to the group's JSON."""
    _check_name(role, after)
    ext = next((v for k, v in after.items() if k.lower() == "externalid"), None)
    external_id_set(client=client, external_id=ext if isinstance(ext, str) and ext else None, role=role)
    return _apply(client, role, _member_ids(before), _member_ids(after))
