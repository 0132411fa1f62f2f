"""Organizations: the business units users belong to, in a tree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from blazon.changes import config_create, config_delete, config_update
from blazon.errors import Conflict
from directory.models import Organization, User
from directory.services.config.common import _check_keys, _clean_code, _clean_text, _fail, _resolve

ORGANIZATION_FIELDS = ("code", "name", "parent", "owner")
CODE_TAKEN = gettext_noop("An organization with this code already exists.")


def _organization_apply(org: Organization, data: Mapping[str, Any]) -> None:
    _check_keys(data, ORGANIZATION_FIELDS)
    if "code" in data:
        org.code = _clean_code(data["code"])
        if Organization.objects.filter(code=org.code).exclude(pk=org.pk).exists():
            raise Conflict(
                gettext("An organization with code %(code)r already exists.") % {"code": org.code},
                fields={"code": [gettext(CODE_TAKEN)]},
            )
    if "name" in data:
        org.name = _clean_text(data["name"], "name", max_length=200)
    if "owner" in data:
        org.owner = _resolve(User, data["owner"], "owner", label="user")
    if "parent" in data:
        parent = _resolve(Organization, data["parent"], "parent", label="organization")
        if parent is not None and org.pk is not None:
            # Walk up from the new parent: meeting ``org`` means the tree would loop.
            seen, node = set(), parent
            while node is not None and node.pk not in seen:
                if node.pk == org.pk:
                    raise _fail(
                        "parent", gettext("An organization cannot be inside itself or one of its children.")
                    )
                seen.add(node.pk)
                node = node.parent
        org.parent = parent


@transaction.atomic
def organization_create(
    *, actor: User | None, source: str, code: str, name: str, parent: Any = None, owner: Any = None
) -> Organization:
    """Create a business unit users can belong to."""
    org = Organization()
    _organization_apply(org, {"code": code, "name": name, "parent": parent, "owner": owner})
    return config_create(
        org,
        fields=ORGANIZATION_FIELDS,
        actor=actor,
        source=source,
        action="organization.create",
        conflict=CODE_TAKEN,
        conflict_field="code",
        validate=True,
    )


@transaction.atomic
def organization_update(
    *, actor: User | None, source: str, organization: Organization, data: Mapping[str, Any]
) -> Organization:
    """Change the given fields (code, name, parent, owner) of an organization."""
    with config_update(
        Organization,
        organization.pk,
        fields=ORGANIZATION_FIELDS,
        actor=actor,
        source=source,
        action="organization.update",
        conflict=CODE_TAKEN,
        conflict_field="code",
        validate=True,
    ) as change:
        _organization_apply(change.obj, data)
    return change.obj


@transaction.atomic
def organization_delete(*, actor: User | None, source: str, organization: Organization) -> None:
    """Delete an organization that has no members and no child organizations."""
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    members = User.objects.filter(organization=org).count()
    if members:
        raise Conflict(
            gettext("Organization %(code)r still has %(members)s member(s); move them first.")
            % {"code": org.code, "members": members},
            fields={
                "members": [
                    gettext("%(members)s user(s) belong to this organization.") % {"members": members}
                ]
            },
        )
    children = Organization.objects.filter(parent=org).count()
    if children:
        raise Conflict(
            gettext("Organization %(code)r still has %(children)s child organization(s).")
            % {"code": org.code, "children": children},
            fields={
                "children": [
                    gettext("%(children)s organization(s) are inside this one.") % {"children": children}
                ]
            },
        )
    config_delete(org, fields=ORGANIZATION_FIELDS, actor=actor, source=source, action="organization.delete")
