"""A user's standard fields: the shape checks (no query), the references they resolve
(organization, manager), the audited snapshot and the password step shared by create and update."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db.models.functions import Lower
from django.utils.translation import gettext, gettext_noop

from blazon.errors import Conflict, ValidationFailed
from blazon.ids import parse_id
from directory import ports
from directory.models import Organization, User, UserStatus
from directory.services.users.attributes import _is_empty, _summary
from directory.services.users.usernames import USERNAME_MAX_LENGTH

TEXT_FIELDS = {
    "first_name": 150,
    "last_name": 150,
    "display_name": 300,
    "job_title": 200,
    "department": 200,
    "employee_type": 60,
}
USER_FIELDS = (
    "username",
    "first_name",
    "last_name",
    "middle_name",
    "display_name",
    "email",
    "organization",
    "manager",
    "job_title",
    "department",
    "employee_type",
    "start_date",
    "end_date",
    "attributes",
    "password",
)
AUDITED = ("username", "first_name", "last_name", "display_name", "email", "organization", "manager", "job_title",
           "department", "employee_type", "start_date", "end_date", "attributes")  # fmt: skip
_NOT_HERE = {
    "status": gettext_noop(
        "The status changes through the life-cycle actions (activate, inactivate, revoke, remove)."
    ),
    "login_locked": gettext_noop("Login lock is changed with lock/unlock, not by editing the user."),
    "console_role": gettext_noop("Console roles are granted by an administrator, not by editing the user."),
    "is_superuser": gettext_noop("Not editable."),
    "is_staff": gettext_noop("Not editable."),
}
_USERNAME_RE = re.compile(r"[\w.@+-]+")


@dataclass
class _Clean:
    """A row's standard fields after shape checks; references not yet resolved."""

    values: dict[str, Any] = field(default_factory=dict)
    organization_ref: Any = None
    manager_ref: Any = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def _date(value: Any) -> date | None:
    if _is_empty(value):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise ValueError


def _clean_fields(data: Any, *, partial: bool, current: User | None = None) -> _Clean:
    """Shape checks of the standard fields (no query)."""
    out = _Clean()
    err = out.errors
    if not isinstance(data, Mapping):
        err["__all__"] = [gettext("Expected an object of user fields.")]
        return out
    for key in data:
        if key in _NOT_HERE:
            err[key] = [gettext(_NOT_HERE[key])]
        elif key not in USER_FIELDS:
            err[key] = [gettext("Unknown field %(key)r.") % {"key": key}]
    for name, max_length in TEXT_FIELDS.items():
        if name not in data:
            continue
        value = data[name]
        if value is None:
            value = ""
        if not isinstance(value, str):
            err[name] = [gettext("Expected text.")]
            continue
        value = value.strip()
        if len(value) > max_length:
            err[name] = [gettext("At most %(max_length)s characters.") % {"max_length": max_length}]
        out.values[name] = value
    for name in ("first_name", "last_name"):
        if (not partial or name in data) and not out.values.get(name) and name not in err:
            err[name] = [gettext("This field is required.")]
    if "middle_name" in data:
        if data["middle_name"] is not None and not isinstance(data["middle_name"], str):
            err["middle_name"] = [gettext("Expected text.")]
        else:
            out.values["middle_name"] = (data["middle_name"] or "").strip()
    if "username" in data and not _is_empty(data["username"]):
        username = data["username"]
        if not isinstance(username, str) or not _USERNAME_RE.fullmatch(username.strip()):
            err["username"] = [gettext("Use only letters, digits and @ . + - _ (no spaces).")]
        elif len(username.strip()) > USERNAME_MAX_LENGTH:
            err["username"] = [
                gettext("At most %(USERNAME_MAX_LENGTH)s characters.")
                % {"USERNAME_MAX_LENGTH": USERNAME_MAX_LENGTH}
            ]
        else:
            out.values["username"] = username.strip()
    elif "username" in data and partial:
        err["username"] = [gettext("The username cannot be emptied.")]
    if "email" in data:
        email = data["email"]
        if _is_empty(email):
            out.values["email"] = ""
        elif not isinstance(email, str):
            err["email"] = [gettext("Enter a valid e-mail address.")]
        else:
            try:
                validate_email(email.strip())
                out.values["email"] = email.strip()
            except DjangoValidationError:
                err["email"] = [
                    gettext("%(email)r is not a valid e-mail address.") % {"email": email.strip()}
                ]
    for name in ("start_date", "end_date"):
        if name in data:
            try:
                out.values[name] = _date(data[name])
            except (ValueError, TypeError):
                err[name] = [gettext("Expected a date (YYYY-MM-DD).")]
    start = out.values.get("start_date", current.start_date if current else None)
    end = out.values.get("end_date", current.end_date if current else None)
    if start and end and end < start and "start_date" not in err and "end_date" not in err:
        err["end_date"] = [
            gettext("The end date (%(end)s) is before the start date (%(start)s).")
            % {"end": end, "start": start}
        ]
    if "password" in data and not isinstance(data["password"], str):
        err["password"] = [gettext("Expected text.")]
    for name, what in (("organization", "its code"), ("manager", "their username")):
        ref = data.get(name)
        if name in data and not (ref is None or isinstance(ref, str | Organization | User) or _is_id(ref)):
            err[name] = [gettext("Expected an id (a number) or %(what)s (text).") % {"what": what}]
    if "organization" in data:
        out.organization_ref = data["organization"]
        out.values["organization"] = None  # resolved later
    if "manager" in data:
        out.manager_ref = data["manager"]
        out.values["manager"] = None
    if (
        "attributes" in data
        and data["attributes"] is not None
        and not isinstance(data["attributes"], Mapping)
    ):
        err["attributes"] = [gettext("Expected an object of attribute values.")]
    return out


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def user_fields_check(data: Any, *, partial: bool) -> dict[str, list[str]]:
    """The problems ``user_create`` (``partial=False``) or ``user_update`` (``partial=True``)
    would find in the shape of ``data`` before reading the database: unknown keys, fields that
    are not edited this way (status, console role, superuser…), wrong types, lengths, formats.
    Field name -> messages; ``__all__`` when ``data`` is not an object. No query: requests check
    their payload with it when they are created, long before the user is written."""
    return _clean_fields(data, partial=partial).errors


def _resolve_organization(ref: Any) -> Organization | None:
    if _is_empty(ref):
        return None
    if isinstance(ref, Organization):
        return ref
    org = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        org = Organization.objects.filter(pk=ref).first()
    elif isinstance(ref, str):
        org = Organization.objects.filter(code=ref.strip()).first()
        org_id = parse_id(ref)
        if org is None and org_id is not None:
            org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        raise ValidationFailed(
            gettext("Unknown organization %(ref)r.") % {"ref": ref},
            fields={"organization": [gettext("Unknown organization %(ref)r.") % {"ref": ref}]},
        )
    return org


def _resolve_manager(ref: Any) -> User | None:
    if _is_empty(ref):
        return None
    if isinstance(ref, User):
        return ref
    manager = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        manager = User.objects.filter(pk=ref).first()
    elif isinstance(ref, str):
        manager = User.objects.filter(username=ref.strip()).first()
        manager_id = parse_id(ref)
        if manager is None and manager_id is not None:
            manager = User.objects.filter(pk=manager_id).first()
    if manager is None:
        raise ValidationFailed(
            gettext("Unknown manager %(ref)r.") % {"ref": ref},
            fields={"manager": [gettext("Unknown user %(ref)r.") % {"ref": ref}]},
        )
    if manager.status == UserStatus.REMOVED:
        raise ValidationFailed(
            gettext("%(username)s is removed and cannot be a manager.") % {"username": manager.username},
            fields={"manager": [gettext("Removed user.")]},
        )
    return manager


def _manager_loop(user: User, manager: User) -> bool:
    """Would ``manager`` report (directly or not) to ``user``? Walks up at most 50 levels."""
    seen: set[int] = set()
    current: int | None = manager.pk
    while current is not None and current not in seen and len(seen) < 50:
        if current == user.pk:
            return True
        seen.add(current)
        current = User.objects.filter(pk=current).values_list("manager_id", flat=True).first()
    return False


def _snapshot(user: User) -> dict[str, Any]:
    out = {name: getattr(user, name) for name in AUDITED if name not in ("organization", "manager")}
    out["organization"] = user.organization.code if user.organization is not None else None
    out["manager"] = user.manager.username if user.manager is not None else None
    return out


def _raise(errors: dict[str, list[str]], prefix: str) -> None:
    if errors:
        raise ValidationFailed(_summary(prefix, errors), fields=errors)


def _password(user: User, password: str) -> None:
    """Check ``password`` against the user's password policy (passwords app) and set it; the
    caller saves the user, then calls ``_password_recorded``."""
    ports.passwords().password_policy_validate(user, password)
    user.set_password(password)


def _password_recorded(
    user: User, password: str, *, actor: User | None, source: str, created: bool = False
) -> None:
    """History, expiry clock and synchronisation to applications of a password just saved."""
    ports.passwords().password_recorded_by_directory(
        user=user,
        actor=actor,
        source=source,
        password=password,
        notify=not created,
    )


def _username_taken(username: str, exclude_pk: int | None = None) -> bool:
    qs = User.objects.annotate(lname=Lower("username")).filter(lname=username.lower())
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def _duplicate(username: str) -> Conflict:
    message = f"The username {username!r} is already taken."
    return Conflict(message, fields={"username": [message]}, code="duplicate_username")
