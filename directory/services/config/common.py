"""What the directory's configuration services share: reading a related object or users from
an instance or an id, checking the keys of ``data``, and cleaning codes, text, choices and
flags (each raises ``ValidationFailed`` on the field)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_slug
from django.db import models
from django.utils.translation import gettext

from blazon.changes import changes, field_error, snapshot
from blazon.errors import ValidationFailed
from directory import ports
from directory.models import Entitlement, Resource, User

_fail = field_error
_snapshot = snapshot
_changes = changes


def _resolve(model: type[models.Model], value: Any, field: str, *, label: str) -> Any:
    """An instance of ``model`` from an instance or a primary key; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, model):
        return value
    if isinstance(value, models.Model):
        raise _fail(field, gettext("Expected a %(label)s.") % {"label": label})
    try:
        return model._default_manager.get(pk=int(value))
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise _fail(
            field, gettext("Unknown %(label)s: %(value)r.") % {"label": label, "value": value}
        ) from None


def _resolve_users(values: Iterable[Any] | None, field: str) -> list[User]:
    if values is None:
        return []
    if isinstance(values, str | bytes | Mapping):
        raise _fail(field, gettext("Expected a list of users."))
    users: list[User] = []
    ids: list[int] = []
    for value in values:
        if isinstance(value, User):
            users.append(value)
            continue
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise _fail(field, gettext("Unknown user: %(value)r.") % {"value": value}) from None
    if ids:
        found = {u.pk: u for u in User.objects.filter(pk__in=ids)}
        missing = sorted(set(ids) - set(found))
        if missing:
            raise _fail(
                field, gettext("Unknown user(s): %(value)s.") % {"value": ", ".join(map(str, missing))}
            )
        users.extend(found[i] for i in dict.fromkeys(ids))
    return list({u.pk: u for u in users}.values())


def _check_keys(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationFailed(
            gettext("Unknown field(s): %(unknown)s.") % {"unknown": ", ".join(unknown)},
            fields={k: [gettext("Unknown field.")] for k in unknown},
        )


def _clean_code(code: Any, field: str = "code") -> str:
    if not isinstance(code, str) or not code.strip():
        raise _fail(field, gettext("This field is required."))
    code = str(code).strip()
    try:
        validate_slug(code)
    except DjangoValidationError:
        raise _fail(field, gettext("Use only letters, numbers, underscores and hyphens.")) from None
    if len(code) > 64:
        raise _fail(field, gettext("At most 64 characters."))
    return str(code)


def _clean_text(value: Any, field: str, *, max_length: int, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail(field, gettext("Expected text."))
    value = value.strip()
    if required and not value:
        raise _fail(field, gettext("This field is required."))
    if max_length and len(value) > max_length:
        raise _fail(field, gettext("At most %(max_length)s characters.") % {"max_length": max_length})
    return str(value)


def _clean_choice(value: Any, field: str, choices: type[models.TextChoices]) -> str:
    if value not in choices.values:
        raise _fail(
            field,
            gettext("%(value)r is not one of %(values)s.")
            % {"value": value, "values": ", ".join(choices.values)},
        )
    return str(value)


def _clean_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(field, gettext("Expected true or false."))
    return value


def _attributes_validate(
    scope: str, values: Any, resource: Resource | None, instance_pk: Any
) -> dict[str, Any]:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise _fail("attributes", gettext("Expected an object of attribute values."))
    # users imports directory.services.config (USERNAME_PLACEHOLDERS) at its top: importing users
    # here at module level would make the two modules import each other while loading.
    from directory.services.users import attribute_values_validate

    return attribute_values_validate(scope=scope, values=values, resource=resource, instance_pk=instance_pk)


def _provisioning_entry(resource: Resource, event: str, entitlement: Entitlement) -> None:
    ports.provisioning().entry_write(
        resource=resource,
        event_type=event,
        entitlement_id=entitlement.pk,
        payload={"entitlement": entitlement.identifier, "name": entitlement.name},
    )
