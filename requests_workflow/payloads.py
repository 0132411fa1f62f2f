"""What each of the 20 request types carries in its ``payload``: exactly the keys its stage-4
function (``requests_workflow.types``) reads, their types, and which are required.

One rule set: ``request_shape_check`` runs ``payload_check`` for every request (API, console,
workspace, CSV import), so a payload the stage-4 function would choke on is refused with 400 when
the request is created and nothing is written; the OpenAPI schema describes each type's payload
from the same table (``payload_schema``). The user fields are checked by the directory's own rules
(``user_fields_check``, what ``user_create``/``user_update`` check before touching the database),
the account attribute changes by ``account_attribute_changes_check`` (``account_update``'s).

A key the type does not read is refused (the client believes it sets something that never
happens), and so are the fields a request can never set on a user: status, login lock, console
role, superuser/staff flags (``_NOT_HERE`` in the directory) and secrets (``SECRET_WORDS``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from directory.models import Account
from directory.services.access.accounts import account_attribute_changes_check
from directory.services.users.fields import TEXT_FIELDS, USER_FIELDS, user_fields_check
from directory.services.users.usernames import USERNAME_MAX_LENGTH
from requests_workflow.models import RequestType

T = RequestType

#: The problems of one key's value, by path below the key ("" is the value itself).
PayloadCheck = Callable[[Any], dict[str, list[str]]]

_SCALARS = (str, int, float, bool)
# OpenAPI 3.0: ``nullable`` only counts next to a ``type``, so null goes on one branch.
_SCALAR_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "nullable": True}, {"type": "number"}, {"type": "boolean"}],
    "description": "Text, a number, true/false or null.",
}
_SCALAR_NOT_NULL: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    "description": "Text, a number or true/false.",
}
_REF_SCHEMA = {"oneOf": [{"type": "integer"}, {"type": "string", "nullable": True}]}
IDENTIFIER_MAX_LENGTH: int = Account._meta.get_field("identifier").max_length or 255


@dataclass(frozen=True)
class PayloadKey:
    """One key of a type's payload: its JSON schema and the check of its value."""

    name: str
    what: str  # said when it is missing or not an object
    schema: dict[str, Any]
    check: PayloadCheck
    required: bool = False


@dataclass(frozen=True)
class PayloadShape:
    """A request type's payload: the keys its stage-4 function reads (none for most types)."""

    component: str  # the OpenAPI component name
    description: str
    keys: tuple[PayloadKey, ...] = ()


# --- checks -----------------------------------------------------------------------------------


def _attribute_values(values: Any, *, nullable: bool) -> dict[str, list[str]]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        return {"": [gettext("Expected an object of attribute names and values.")]}
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        if value is None and nullable:
            continue
        if not isinstance(value, _SCALARS):
            errors[str(name)] = [gettext("Expected text, a number or true/false.")]
    return errors


def _user_fields(*, partial: bool) -> PayloadCheck:
    """``user_create``'s (``user_update``'s when ``partial``) shape rules, and attribute values
    that its attribute definitions can type (scalars)."""

    def check(value: Any) -> dict[str, list[str]]:
        if not isinstance(value, Mapping) or not value:
            return {"": [gettext("Expected a non-empty object of user fields.")]}
        errors = {
            ("" if k == "__all__" else k): v for k, v in user_fields_check(value, partial=partial).items()
        }
        if "attributes" not in errors:
            for name, messages in _attribute_values(value.get("attributes"), nullable=True).items():
                errors[f"attributes.{name}" if name else "attributes"] = messages
        return errors

    return check


def _identifier(value: Any) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, str):
        return {"": [gettext("Expected text (the account's name on the resource).")]}
    if len(value.strip()) > IDENTIFIER_MAX_LENGTH:
        return {
            "": [
                gettext("At most %(IDENTIFIER_MAX_LENGTH)s characters.")
                % {"IDENTIFIER_MAX_LENGTH": IDENTIFIER_MAX_LENGTH}
            ]
        }
    return {}


def _new_account_attributes(value: Any) -> dict[str, list[str]]:
    return _attribute_values(value, nullable=False)


def _attribute_changes(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict) or not value:
        return {"": [gettext("Expected a non-empty object of attribute names and values.")]}
    return {
        k.removeprefix("attributes").removeprefix("."): v
        for k, v in account_attribute_changes_check(value).items()
    }


# --- schemas ----------------------------------------------------------------------------------


def _user_fields_schema(*, partial: bool) -> dict[str, Any]:
    text = {
        name: {"type": "string", "maxLength": max_length, "nullable": True}
        for name, max_length in TEXT_FIELDS.items()
    }
    for name in ("first_name", "last_name"):  # never blank
        text[name] = {"type": "string", "minLength": 1, "maxLength": TEXT_FIELDS[name]}
    username: dict[str, Any] = {
        "type": "string",
        "maxLength": USERNAME_MAX_LENGTH,
        "description": "Letters, digits and @ . + - _ (no spaces)."
        + (" Cannot be emptied." if partial else " Left out: the username policy makes one."),
    }
    if partial:
        username["minLength"] = 1
    else:
        username["nullable"] = True
    properties: dict[str, Any] = {
        "username": username,
        **text,
        "middle_name": {
            "type": "string",
            "nullable": True,
            "description": "Only used by the username policy.",
        },
        "email": {"type": "string", "format": "email", "nullable": True},
        "organization": {**_REF_SCHEMA, "description": "An organization id or code."},
        "manager": {**_REF_SCHEMA, "description": "A user id or username."},
        "start_date": {"type": "string", "format": "date", "nullable": True},
        "end_date": {
            "type": "string",
            "format": "date",
            "nullable": True,
            "description": "Not before start_date.",
        },
        "attributes": {
            "type": "object",
            "nullable": True,
            "additionalProperties": _SCALAR_SCHEMA,
            "description": "Administrator-defined user attributes by name"
            + (" (only the given ones change; null clears one)." if partial else "."),
        },
    }
    # the same keys as the directory's, less the password (a request never carries secrets)
    assert set(properties) == set(USER_FIELDS) - {"password"}, "user fields and their schema differ"
    order = [name for name in USER_FIELDS if name in properties]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: properties[name] for name in order},
        "additionalProperties": False,
    }
    if partial:
        schema["minProperties"] = 1
    else:
        schema["required"] = ["first_name", "last_name"]
    return schema


_USER = PayloadKey(
    "user",
    "an object with the new user's fields",
    {
        **_user_fields_schema(partial=False),
        "description": "The new user. Status, console role and superuser/staff flags are never set "
        "this way, and no password (the user gets one by reset or signs in through SSO).",
    },
    _user_fields(partial=False),
    required=True,
)
_CHANGES = PayloadKey(
    "changes",
    "an object with the fields to change",
    {
        **_user_fields_schema(partial=True),
        "description": "Only the given fields change. Status (life-cycle types), login lock "
        "(LOCK_USER/UNLOCK_USER), console role, superuser/staff flags and the password "
        "(RESET_PASSWORD) cannot be changed this way.",
    },
    _user_fields(partial=True),
    required=True,
)
_IDENTIFIER = PayloadKey(
    "identifier",
    "text",
    {
        "type": "string",
        "maxLength": IDENTIFIER_MAX_LENGTH,
        "nullable": True,
        "description": "The account's name on the resource; default: the beneficiary's username.",
    },
    _identifier,
)
_NEW_ATTRIBUTES = PayloadKey(
    "attributes",
    "an object of attribute names and values",
    {
        "type": "object",
        "nullable": True,
        "additionalProperties": _SCALAR_NOT_NULL,
        "description": "The new account's attributes by name.",
    },
    _new_account_attributes,
)
_ATTRIBUTE_CHANGES = PayloadKey(
    "attributes",
    "an object of attribute names and values",
    {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": _SCALAR_SCHEMA,
        "description": "The attributes to change by name; null removes one. Checked against the "
        "resource's account attribute definitions when it has any.",
    },
    _attribute_changes,
    required=True,
)

_NONE = PayloadShape(
    "NoPayload",
    "This type reads nothing from the payload: leave it out or send an empty object.",
)

#: Every request type's payload.
PAYLOADS: dict[str, PayloadShape] = {
    T.CREATE_USER: PayloadShape("CreateUserPayload", "CREATE_USER: the new user.", (_USER,)),
    T.UPDATE_USER: PayloadShape(
        "UpdateUserPayload", "UPDATE_USER: the changes to the beneficiary.", (_CHANGES,)
    ),
    T.CREATE_ACCOUNT: PayloadShape(
        "CreateAccountPayload",
        "CREATE_ACCOUNT: optionally the new account's identifier and attributes.",
        (_IDENTIFIER, _NEW_ATTRIBUTES),
    ),
    T.UPDATE_ACCOUNT: PayloadShape(
        "UpdateAccountPayload", "UPDATE_ACCOUNT: the account attributes to change.", (_ATTRIBUTE_CHANGES,)
    ),
    **{
        code: _NONE
        for code in T.values
        if code not in (T.CREATE_USER, T.UPDATE_USER, T.CREATE_ACCOUNT, T.UPDATE_ACCOUNT)
    },
}
assert set(PAYLOADS) == set(T.values), "every request type needs a payload shape"


def payload_check(request_type: str, payload: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    """Add to ``errors`` what is wrong with ``payload`` for ``request_type``: a required key
    missing, a value of the wrong type or shape, a key the type does not read. Fields are named
    ``payload.<key>[.<field>]``, and so is each message (the CSV import shows only messages)."""
    shape = PAYLOADS[request_type]
    known = {key.name for key in shape.keys}
    for name in payload:
        if name not in known:
            allowed = ", ".join(repr(k) for k in sorted(known)) or "no keys"
            errors[f"payload.{name}"] = [
                gettext(
                    "payload.%(name)s: %(request_type)s does not read %(name2)r (its payload takes %(allowed)s)."
                )
                % {"name": name, "request_type": request_type, "name2": str(name), "allowed": allowed}
            ]
    for key in shape.keys:
        value = payload.get(key.name)
        if value is None and key.name not in payload:
            if key.required:
                errors[f"payload.{key.name}"] = [
                    gettext("payload.%(name)s: %(request_type)s needs %(name2)r (%(what)s).")
                    % {"name": key.name, "request_type": request_type, "name2": key.name, "what": key.what}
                ]
            continue
        for path, messages in key.check(value).items():
            field = f"payload.{key.name}" + (f".{path}" if path else "")
            errors[field] = [f"{field}: {message}" for message in messages]


def payload_schema(request_type: str) -> dict[str, Any]:
    """The OpenAPI (3.0) schema of ``request_type``'s payload."""
    shape = PAYLOADS[request_type]
    schema: dict[str, Any] = {
        "type": "object",
        "description": shape.description,
        "properties": {key.name: key.schema for key in shape.keys},
        "additionalProperties": False,
    }
    required = [key.name for key in shape.keys if key.required]
    if required:
        schema["required"] = required
    if not shape.keys:
        schema["maxProperties"] = 0
    return schema
