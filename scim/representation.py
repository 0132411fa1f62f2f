"""Blazon users and roles as SCIM resources, and back: the mapping table of docs/scim.md.

``user_resource`` renders a user; ``user_fields_from_resource`` reads a full SCIM User (POST,
PUT, or the result of a PATCH) into the directory's user fields; ``USER_FILTER_FIELDS`` and
``GROUP_FILTER_FIELDS`` say how each filterable attribute becomes a ``Q``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from directory.models import AttributeDefinition, AttributeType, Role, RoleMembership, User, UserStatus
from scim import errors
from scim.filters import NOTHING, QBuilder, as_bool, as_datetime, as_id, text_field, value_field
from scim.schemas import BLAZON_USER, CORE_GROUP, CORE_USER, ENTERPRISE_USER

#: Users SCIM does not show: removed ones (gone), and revoked ones (DELETE revokes: 404 after).
HIDDEN_STATUSES = (UserStatus.REVOKED, UserStatus.REMOVED)

#: Attributes of the core User schema (RFC 7643 §4.1) that Blazon does not keep: accepted and
#: ignored, so identity providers that send them (Entra ID, Okta) are not refused.
IGNORED_CORE = frozenset(
    {
        "nickname", "profileurl", "preferredlanguage", "locale", "timezone", "phonenumbers",
        "ims", "photos", "addresses", "entitlements", "roles", "x509certificates", "password",
    }
)  # fmt: skip
READ_ONLY = frozenset({"id", "meta", "groups", "schemas"})


def version_of(body: dict[str, Any]) -> str:
    """A weak ETag over everything the resource shows (but its meta): any change changes it."""
    payload = json.dumps({k: v for k, v in body.items() if k != "meta"}, sort_keys=True, default=str)
    return 'W/"' + hashlib.sha256(payload.encode()).hexdigest()[:20] + '"'


def users_queryset() -> QuerySet[User]:
    return (
        User.objects.exclude(status__in=HIDDEN_STATUSES)
        .filter(scim_client__isnull=True)
        .select_related("organization")
        .prefetch_related(
            Prefetch(
                "role_memberships", queryset=RoleMembership.objects.select_related("role").order_by("role_id")
            )
        )
    )


def groups_queryset() -> QuerySet[Role]:
    return Role.objects.prefetch_related(
        Prefetch(
            "memberships",
            queryset=RoleMembership.objects.select_related("user")
            .exclude(user__status__in=HIDDEN_STATUSES)
            .order_by("user_id"),
        )
    )


def _date(value: Any) -> str | None:
    return value.isoformat() if value else None


def shown_display_name(user: User) -> str:
    """The display name, unless it is the one Blazon derives from the names (then none is shown,
    so a client that removed it does not see it come back)."""
    derived = f"{user.first_name} {user.last_name}"
    return "" if user.display_name == derived else user.display_name


def user_resource(user: User, base: str, definitions: list[AttributeDefinition]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [CORE_USER, ENTERPRISE_USER, BLAZON_USER],
        "id": str(user.pk),
        "userName": user.username,
        "name": {
            "givenName": user.first_name,
            "familyName": user.last_name,
        },
        "active": user.status == UserStatus.ACTIVE,
    }
    for key, text in (
        ("displayName", shown_display_name(user)),
        ("title", user.job_title),
        ("userType", user.employee_type),
    ):
        if text:
            body[key] = text
    if user.email:
        body["emails"] = [{"value": user.email, "type": "work"}]
    groups = [
        {"value": str(m.role_id), "$ref": f"{base}/Groups/{m.role_id}", "display": m.role.name}
        for m in user.role_memberships.all()
    ]
    if groups:
        body["groups"] = groups
    enterprise: dict[str, Any] = {}
    if user.department:
        enterprise["department"] = user.department
    if user.manager_id:
        enterprise["manager"] = {
            "value": str(user.manager_id),
            "$ref": f"{base}/Users/{user.manager_id}",
        }
    if enterprise:
        body[ENTERPRISE_USER] = enterprise
    blazon: dict[str, Any] = {}
    if user.organization is not None:
        blazon["organization"] = user.organization.code
    values = user.attributes or {}
    for d in definitions:
        value = values.get(d.name)
        if value not in (None, ""):
            blazon[d.name] = value
    if blazon:
        body[BLAZON_USER] = blazon
    body["meta"] = {
        "resourceType": "User",
        "created": user.date_joined.isoformat(),
        "lastModified": (user.status_changed_at or user.date_joined).isoformat(),
        "location": f"{base}/Users/{user.pk}",
        "version": version_of(body),
    }
    return body


def group_resource(role: Role, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [CORE_GROUP],
        "id": str(role.pk),
        "displayName": role.name,
        "members": [
            {
                "value": str(m.user_id),
                "$ref": f"{base}/Users/{m.user_id}",
                "type": "User",
            }
            for m in role.memberships.all()
        ],
    }
    if not body["members"]:
        del body["members"]
    body["meta"] = {
        "resourceType": "Group",
        "created": role.created_at.isoformat(),
        "lastModified": role.created_at.isoformat(),
        "location": f"{base}/Groups/{role.pk}",
        "version": version_of(body),
    }
    return body


# --- filters --------------------------------------------------------------------------------


def _active(op: str, value: Any) -> Q:
    if op == "pr":
        return ~NOTHING
    try:
        wanted = as_bool(value)
    except ValueError as exc:
        raise errors.invalid_filter("active compares with true or false.") from exc
    if op not in ("eq", "ne"):
        raise errors.invalid_filter(f"{op} does not apply to active.")
    q = Q(status=UserStatus.ACTIVE)
    return q if (op == "eq") == wanted else ~q


def _constant_when(lookup: str, constant: Any) -> QBuilder:
    """An attribute Blazon always shows as ``constant`` when ``lookup`` is set (the one e-mail
    is type "work" and primary)."""

    def build(op: str, value: Any) -> Q:
        present = Q(**{f"{lookup}__isnull": False}) & ~Q(**{lookup: ""})
        if op == "pr":
            return present
        if op in ("eq", "ne"):
            same = str(value).lower() == str(constant).lower() if value is not None else False
            q = present if same else NOTHING
            return q if op == "eq" else ~q
        raise errors.invalid_filter(f"{op} does not apply here.")

    return build


def _member_of(field: str, other: str) -> QBuilder:
    """groups.value of a user / members.value of a group: a subquery, never a join that repeats rows."""

    def build(op: str, value: Any) -> Q:
        if op == "pr":
            return Q(pk__in=RoleMembership.objects.values(field))
        if op not in ("eq", "ne"):
            raise errors.invalid_filter(f"{op} does not apply to a member id.")
        target = as_id(value)
        if not isinstance(target, int):
            return NOTHING if op == "eq" else ~NOTHING
        q = Q(pk__in=RoleMembership.objects.filter(**{other: target}).values(field))
        return q if op == "eq" else ~q

    return build


def _attribute(d: AttributeDefinition) -> QBuilder:
    lookup = f"attributes__{d.name}"
    if d.type in (AttributeType.INTEGER,):
        return value_field(lookup, int)
    if d.type == AttributeType.BOOLEAN:
        return value_field(lookup, as_bool)
    return text_field(lookup)


_ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"

USER_FILTER_FIELDS: dict[str, QBuilder] = {
    "id": value_field("pk", as_id),
    "username": text_field("username"),
    "name.givenname": text_field("first_name"),
    "name.familyname": text_field("last_name"),
    "displayname": text_field("display_name"),
    "title": text_field("job_title"),
    "usertype": text_field("employee_type"),
    "active": _active,
    "emails.value": text_field("email"),
    "emails.type": _constant_when("email", "work"),
    "emails.primary": _constant_when("email", True),
    "department": text_field("department"),
    "manager.value": value_field("manager_id", as_id),
    "organization": text_field("organization__code"),
    "status": text_field("status"),
    "groups.value": _member_of("user_id", "role_id"),
    "meta.created": value_field("date_joined", as_datetime),
}
GROUP_FILTER_FIELDS: dict[str, QBuilder] = {
    "id": value_field("pk", as_id),
    "displayname": text_field("name"),
    "members.value": _member_of("role_id", "user_id"),
    "meta.created": value_field("created_at", as_datetime),
}
USER_SORT_FIELDS = {
    "id": "pk",
    "username": "username",
    "name.givenname": "first_name",
    "name.familyname": "last_name",
    "displayname": "display_name",
    "title": "job_title",
    "usertype": "employee_type",
    "emails.value": "email",
    "emails": "email",
    "department": "department",
    "meta.created": "date_joined",
}
GROUP_SORT_FIELDS = {"id": "pk", "displayname": "name", "meta.created": "created_at"}


def user_filter_fields(definitions: list[AttributeDefinition]) -> dict[str, QBuilder]:
    fields = dict(USER_FILTER_FIELDS)
    for d in definitions:
        fields.setdefault(d.name.lower(), _attribute(d))
    return fields


# --- reading a SCIM User into the directory's fields ----------------------------------------


def _lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in data.items()}


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise errors.invalid_value(f"{where} must be a string.")
    return value


def user_fields_from_resource(
    data: dict[str, Any], definitions: list[AttributeDefinition]
) -> tuple[dict[str, Any], bool | None, str | None]:
    """(directory user fields, active or None when absent, externalId) of a full SCIM User.
    Unknown schemas and attributes are ``invalidValue``; read-only ones are ignored (RFC 7644
    §3.5.1)."""
    if not isinstance(data, dict):
        raise errors.invalid_syntax("A User is a JSON object.")
    schemas = data.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list)
        or any(s not in (CORE_USER, ENTERPRISE_USER, BLAZON_USER) for s in schemas)
    ):
        raise errors.invalid_value(
            f"Unknown schemas in {schemas!r}; this server serves {CORE_USER} and its extensions."
        )
    fields: dict[str, Any] = {}
    active: bool | None = None
    external_id: str | None = None
    enterprise: dict[str, Any] = {}
    blazon: dict[str, Any] = {}
    for key, value in data.items():
        lower = key.lower()
        if lower == ENTERPRISE_USER.lower():
            if not isinstance(value, dict):
                raise errors.invalid_value(f"{ENTERPRISE_USER} must be an object.")
            enterprise = {k: v for k, v in _lower_keys(value).items() if k != "schemas"}
        elif lower == BLAZON_USER.lower():
            if not isinstance(value, dict):
                raise errors.invalid_value(f"{BLAZON_USER} must be an object.")
            blazon = {k: v for k, v in value.items() if k != "schemas"}
        elif lower in ("id", "meta", "groups", "schemas") or lower in IGNORED_CORE:
            if lower == "password" and value not in (None, ""):
                raise errors.invalid_value(
                    "Blazon does not take passwords by SCIM (users set theirs by reset or sign in by SSO)."
                )
        elif lower == "externalid":
            external_id = None if value is None else _text(value, "externalId") or None
        elif lower == "username":
            fields["username"] = _text(value, "userName")
        elif lower == "name":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise errors.invalid_value("name must be an object.")
            name = _lower_keys(value)
            for sub in name:
                if sub not in (
                    "givenname",
                    "familyname",
                    "formatted",
                    "middlename",
                    "honorificprefix",
                    "honorificsuffix",
                ):
                    raise errors.invalid_value(f"Unknown attribute name.{sub}.")
            fields["first_name"] = _text(name.get("givenname"), "name.givenName")
            fields["last_name"] = _text(name.get("familyname"), "name.familyName")
        elif lower == "displayname":
            fields["display_name"] = _text(value, "displayName")
        elif lower == "title":
            fields["job_title"] = _text(value, "title")
        elif lower == "usertype":
            fields["employee_type"] = _text(value, "userType")
        elif lower == "active":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"  # Entra ID sends "False" in PATCH values
            if not isinstance(value, bool):
                raise errors.invalid_value("active must be true or false.")
            active = value
        elif lower == "emails":
            fields["email"] = _email(value)
        else:
            raise errors.invalid_value(f"Unknown attribute {key!r}.")
    fields.setdefault("email", "")
    for column in ("display_name", "job_title", "employee_type"):
        fields.setdefault(column, "")
    for key, item in enterprise.items():
        if key == "department":
            fields["department"] = _text(item, "department")
        elif key == "manager":
            fields["manager"] = _manager(item)
        elif key in ("employeenumber", "costcenter", "organization", "division"):
            continue  # enterprise attributes Blazon does not keep (ignored, like IGNORED_CORE)
        else:
            raise errors.invalid_value(f"Unknown attribute {ENTERPRISE_USER}:{key}.")
    fields.setdefault("department", "")
    fields.setdefault("manager", None)
    by_name = {d.name.lower(): d for d in definitions}
    attributes: dict[str, Any] = {d.name: None for d in definitions}
    for key, item in blazon.items():
        d = by_name.get(key.lower())
        if d is not None:
            attributes[d.name] = item
        elif key.lower() != "organization":  # read-only: ignored
            raise errors.invalid_value(f"Unknown attribute {BLAZON_USER}:{key}.")
    fields["attributes"] = attributes
    return fields, active, external_id


def _email(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise errors.invalid_value("emails must be a list of objects.")
    if not value:
        return ""
    items = [_lower_keys(v) for v in value]
    primary = [v for v in items if v.get("primary") is True]
    if len(primary) > 1:
        raise errors.invalid_value("At most one e-mail address is primary.")
    chosen = primary[0] if primary else items[0]
    return _text(chosen.get("value"), "emails.value")


def _manager(value: Any) -> int | None:
    if value in (None, "", {}):
        return None
    ref: Any
    if isinstance(value, str):
        ref = value
    elif isinstance(value, dict):
        lowered = _lower_keys(value)
        ref = lowered.get("value")
        if ref in (None, "") and isinstance(lowered.get("$ref"), str):
            ref = lowered["$ref"].rstrip("/").rsplit("/", 1)[-1]
        if ref in (None, ""):
            return None
    else:
        raise errors.invalid_value("manager must be an object with the manager's id in value.")
    target = as_id(ref)
    if (
        not isinstance(target, int)
        or not User.objects.filter(pk=target).exclude(status__in=HIDDEN_STATUSES).exists()
    ):
        raise errors.invalid_value(f"No user with id {ref!r} to be the manager.")
    return target
