"""Identities: users, their administrator-defined attributes and the username policy (seed 002,
"Gestão de identidade": a user is created only when the username policy finds a free username
and every required attribute is filled).

``user_create`` / ``user_update`` serve the console, the workspace and the API one user at a
time; ``users_bulk_create`` is the importer's path: it validates every row, generates usernames
in memory against one read of the existing ones and writes users, accounts, provisioning
entries and audit events with bulk inserts, chunk by chunk. Status changes are not here: they
are life-cycle transitions (``directory.services.lifecycle``).
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from blazon.audit.services import AuditEntry, audit_record, audit_record_many
from blazon.db import copy_rows
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from blazon.ids import parse_id
from blazon.patterns import pattern_fullmatch, pattern_problem
from blazon.permissions import may_set_password_of, role_of
from directory.models import (
    Account,
    AccountStatus,
    AccountType,
    AttributeDefinition,
    AttributeScope,
    AttributeType,
    ConsoleRole,
    Entitlement,
    Management,
    Organization,
    ProvisioningEvent,
    Resource,
    User,
    UsernamePolicy,
    UserStatus,
)
from directory.services.config import USERNAME_PLACEHOLDERS
from provisioning.services import entries_write_many

# ---------------------------------------------------------------------------------------------
# Username policy
# ---------------------------------------------------------------------------------------------

#: Words left out of ``{middle}`` / ``{middle_initial}`` when they are derived from the names.
NAME_PARTICLES = frozenset(
    {"da", "das", "de", "del", "der", "di", "do", "dos", "du", "e", "la", "le", "van", "von", "y"}
)
#: Characters a generated username may contain (a subset of what Django's validator accepts).
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._@+-]")
_REPEATED_SEPARATORS = re.compile(r"([._@+-])[._@+-]+")
_SEPARATORS = "._@+-"
USERNAME_MAX_LENGTH = User._meta.get_field("username").max_length


def ascii_fold(text: str) -> str:
    """``"João Conceição"`` → ``"Joao Conceicao"``: accents removed, ligatures expanded."""
    text = text.replace("ß", "ss").replace("æ", "ae").replace("Æ", "AE").replace("ø", "o").replace("Ø", "O")
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("ł", "l").replace("Ł", "L").replace("đ", "d")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(name: str) -> list[str]:
    """The words of a name, folded to ASCII letters and digits only (``O'Brien`` → ``OBrien``)."""
    out = []
    for word in ascii_fold(name or "").split():
        word = re.sub(r"[^A-Za-z0-9]", "", word)
        if word:
            out.append(word)
    return out


def username_placeholders(*, first_name: str, last_name: str, middle_name: str = "") -> dict[str, str]:
    """The values of the placeholders a username pattern may use (see docs/users.md)."""
    first_words, last_words = _words(first_name), _words(last_name)
    first = first_words[0] if first_words else ""
    last = last_words[-1] if last_words else ""
    if middle_name.strip():
        middle_words = _words(middle_name)
    else:  # "João Pedro" "Conceição Silva" → first joao, middle pedro, last silva
        middle_words = [w for w in first_words[1:] + last_words[:-1] if w.lower() not in NAME_PARTICLES]
    middle = middle_words[0] if middle_words else ""
    values = {
        "first": first,
        "last": last,
        "middle": middle,
        "f": first[:1],
        "l": last[:1],
        "middle_initial": middle[:1],
    }
    assert set(values) == USERNAME_PLACEHOLDERS  # noqa: S101 - keeps config's validation in step
    return values


def _policy_active() -> UsernamePolicy:
    from directory.selectors import username_policy_active

    return username_policy_active()


def _max_length(policy: UsernamePolicy) -> int:
    return max(1, min(policy.max_length or USERNAME_MAX_LENGTH, USERNAME_MAX_LENGTH))


def _tidy(candidate: str, policy: UsernamePolicy, max_length: int) -> str:
    candidate = _NOT_ALLOWED.sub("", candidate)
    candidate = _REPEATED_SEPARATORS.sub(r"\1", candidate)
    if policy.lowercase:
        candidate = candidate.lower()
    return candidate.strip(_SEPARATORS)[:max_length].rstrip(_SEPARATORS)


def _pattern_candidates(policy: UsernamePolicy, values: Mapping[str, str]) -> list[str]:
    """One candidate per pattern, in order, skipping patterns whose placeholders are empty."""
    max_length = _max_length(policy)
    out: list[str] = []
    for pattern in policy.patterns or ["{first}.{last}"]:
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(pattern) if n is not None]
            if any(not values.get(n) for n in names):
                continue
            candidate = _tidy(pattern.format_map(values), policy, max_length)
        except (KeyError, ValueError, IndexError):
            continue  # a pattern saved before validation existed; config refuses these today
        if candidate and candidate not in out:
            out.append(candidate)
    return out


def _suffixed(base: str, n: int, policy: UsernamePolicy) -> str:
    suffix = str(n)
    room = _max_length(policy) - len(suffix)
    return base[:room].rstrip(_SEPARATORS) + suffix if room > 0 else ""


def _candidates(policy: UsernamePolicy, patterns: list[str]) -> Iterator[str]:
    yield from patterns
    if policy.numeric_suffix and patterns:
        for n in range(2, policy.max_suffix + 1):
            candidate = _suffixed(patterns[0], n, policy)
            if candidate:
                yield candidate


def _pick(policy: UsernamePolicy, patterns: list[str], taken: Callable[[str], bool]) -> str | None:
    for candidate in _candidates(policy, patterns):
        if not taken(candidate.lower()):
            return candidate
    return None


def _exhausted(
    first_name: str, last_name: str, policy: UsernamePolicy, patterns: list[str]
) -> ValidationFailed:
    who = f"{first_name} {last_name}".strip() or "this user"
    if not patterns:
        message = (
            f"No username can be built for {who}: the username policy's patterns "
            f"({', '.join(policy.patterns or [])}) need name parts this user does not have."
        )
    else:
        tried = ", ".join(patterns)
        if policy.numeric_suffix:
            tried += f" and {patterns[0]}2 … {patterns[0]}{policy.max_suffix}"
        message = f"No username available for {who}: {tried} are all taken. Give a username explicitly."
    return ValidationFailed(message, fields={"username": [message]}, code="username_unavailable")


def username_generate(
    *,
    first_name: str,
    last_name: str,
    middle_name: str = "",
    policy: UsernamePolicy | None = None,
    exclude: Iterable[str] = (),
) -> str:
    """The first free username the policy produces for this name: each pattern in order, then
    numeric suffixes on the first one. ``exclude`` are names to treat as taken (not yet saved).
    One query reads the existing usernames that could collide."""
    policy = policy or _policy_active()
    values = username_placeholders(first_name=first_name, last_name=last_name, middle_name=middle_name)
    patterns = _pattern_candidates(policy, values)
    if not patterns:
        raise _exhausted(first_name, last_name, policy, patterns)
    # Every candidate starts with a pattern candidate cut to leave room for the longest suffix.
    room = _max_length(policy) - (len(str(policy.max_suffix)) if policy.numeric_suffix else 0)
    prefixes = {p[: max(room, 1)].rstrip(_SEPARATORS).lower() or p.lower() for p in patterns}
    prefix_q = Q()
    for prefix in prefixes:
        prefix_q |= Q(lname__startswith=prefix)
    taken = set(
        User.objects.annotate(lname=Lower("username")).filter(prefix_q).values_list("lname", flat=True)
    )
    taken |= {e.lower() for e in exclude}
    username = _pick(policy, patterns, taken.__contains__)
    if username is None:
        raise _exhausted(first_name, last_name, policy, patterns)
    return username


# ---------------------------------------------------------------------------------------------
# Administrator-defined attributes
# ---------------------------------------------------------------------------------------------

_TRUE = {"true", "yes", "y", "1", "sim", "s"}
_FALSE = {"false", "no", "n", "0", "nao", "não"}


def _coerce(defn: AttributeDefinition, value: Any) -> Any:
    """The stored (JSON) form of ``value`` for ``defn``'s type; raises ValueError with a message."""
    kind = defn.type
    if kind == AttributeType.INTEGER:
        if isinstance(value, bool):
            raise ValueError("Expected a whole number.")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value.strip())
        raise ValueError("Expected a whole number.")
    if kind == AttributeType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("Expected yes or no (true/false).")
    if kind == AttributeType.DATE:
        if isinstance(value, date):
            return value.isoformat()[:10]
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise ValueError("Expected a date (YYYY-MM-DD).")
    if not isinstance(value, str):
        raise ValueError("Expected text.")
    value = value.strip()
    if kind == AttributeType.EMAIL:
        try:
            validate_email(value)
        except DjangoValidationError:
            raise ValueError("Enter a valid e-mail address.") from None
    if len(value) > 1000:
        raise ValueError("At most 1000 characters.")
    return value


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _definitions(scope: str, resource: Resource | None) -> list[AttributeDefinition]:
    qs = AttributeDefinition.objects.filter(scope=scope)
    qs = qs.filter(resource__isnull=True) if scope == AttributeScope.USER else qs.filter(resource=resource)
    return list(qs.order_by("position", "name"))


def _attributes_clean(
    definitions: Sequence[AttributeDefinition], values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Type, required and regex checks (no query). Returns (clean values, errors by field)."""
    by_name = {d.name: d for d in definitions}
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name in values:
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none are defined"
            errors[f"attributes.{name}"] = [f"Unknown attribute {name!r} (known: {known})."]
    for defn in definitions:
        value = values.get(defn.name)
        key = f"attributes.{defn.name}"
        if _is_empty(value):
            if defn.required:
                errors[key] = [f"{defn.label or defn.name} is required."]
            continue
        try:
            value = _coerce(defn, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if defn.regex and pattern_problem(defn.regex):
            errors[key] = [
                f"The format of {defn.label or defn.name} ({defn.regex}) cannot be checked: "
                "an administrator must correct the attribute's pattern."
            ]
            continue
        if defn.regex and not pattern_fullmatch(defn.regex, text):
            errors[key] = [f"{defn.label or defn.name} does not match the required format ({defn.regex})."]
            continue
        clean[defn.name] = value
    return clean, errors


def _scope_queryset(scope: str, resource: Resource | None) -> models.QuerySet:
    if scope == AttributeScope.USER:
        return User.objects.all()
    if scope == AttributeScope.ACCOUNT:
        return Account.objects.filter(resource=resource)
    return Entitlement.objects.filter(resource=resource)


def attribute_values_validate(
    *, scope: str, values: dict, resource: Resource | None = None, instance_pk: Any = None
) -> dict:
    """Check ``values`` against the attribute definitions of ``scope`` (and ``resource`` for
    account and entitlement attributes): known names, type, required, regex (full match) and
    uniqueness among the other objects of the scope. Returns the cleaned values (typed, empty
    optional values dropped); raises ValidationFailed with every problem per field."""
    if scope not in AttributeScope.values:
        raise ValidationFailed(f"Unknown attribute scope {scope!r}.", fields={"scope": ["Unknown scope."]})
    if not isinstance(values, Mapping):
        raise ValidationFailed(
            "Expected an object of attribute values.", fields={"attributes": ["Expected an object."]}
        )
    definitions = _definitions(scope, resource)
    clean, errors = _attributes_clean(definitions, values)
    for defn in definitions:
        if not defn.unique or defn.name not in clean:
            continue
        others = _scope_queryset(scope, resource).filter(**{f"attributes__{defn.name}": clean[defn.name]})
        if instance_pk is not None:
            others = others.exclude(pk=instance_pk)
        if others.exists():
            errors[f"attributes.{defn.name}"] = [
                f"{defn.label or defn.name} {clean[defn.name]!r} is already used by another object."
            ]
    if errors:
        raise ValidationFailed(_summary("Invalid attribute value(s)", errors), fields=errors)
    return clean


def _summary(prefix: str, errors: Mapping[str, list[str]], limit: int = 5) -> str:
    items = [f"{k}: {' '.join(v)}" for k, v in list(errors.items())[:limit]]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return f"{prefix}: " + "; ".join(items) + more


# ---------------------------------------------------------------------------------------------
# Standard fields
# ---------------------------------------------------------------------------------------------

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
    "status": "The status changes through the life-cycle actions (activate, inactivate, revoke, remove).",
    "login_locked": "Login lock is changed with lock/unlock, not by editing the user.",
    "console_role": "Console roles are granted by an administrator, not by editing the user.",
    "is_superuser": "Not editable.",
    "is_staff": "Not editable.",
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
        err["__all__"] = ["Expected an object of user fields."]
        return out
    for key in data:
        if key in _NOT_HERE:
            err[key] = [_NOT_HERE[key]]
        elif key not in USER_FIELDS:
            err[key] = [f"Unknown field {key!r}."]
    for name, max_length in TEXT_FIELDS.items():
        if name not in data:
            continue
        value = data[name]
        if value is None:
            value = ""
        if not isinstance(value, str):
            err[name] = ["Expected text."]
            continue
        value = value.strip()
        if len(value) > max_length:
            err[name] = [f"At most {max_length} characters."]
        out.values[name] = value
    for name in ("first_name", "last_name"):
        if (not partial or name in data) and not out.values.get(name) and name not in err:
            err[name] = ["This field is required."]
    if "middle_name" in data:
        if data["middle_name"] is not None and not isinstance(data["middle_name"], str):
            err["middle_name"] = ["Expected text."]
        else:
            out.values["middle_name"] = (data["middle_name"] or "").strip()
    if "username" in data and not _is_empty(data["username"]):
        username = data["username"]
        if not isinstance(username, str) or not _USERNAME_RE.fullmatch(username.strip()):
            err["username"] = ["Use only letters, digits and @ . + - _ (no spaces)."]
        elif len(username.strip()) > USERNAME_MAX_LENGTH:
            err["username"] = [f"At most {USERNAME_MAX_LENGTH} characters."]
        else:
            out.values["username"] = username.strip()
    elif "username" in data and partial:
        err["username"] = ["The username cannot be emptied."]
    if "email" in data:
        email = data["email"]
        if _is_empty(email):
            out.values["email"] = ""
        elif not isinstance(email, str):
            err["email"] = ["Enter a valid e-mail address."]
        else:
            try:
                validate_email(email.strip())
                out.values["email"] = email.strip()
            except DjangoValidationError:
                err["email"] = [f"{email.strip()!r} is not a valid e-mail address."]
    for name in ("start_date", "end_date"):
        if name in data:
            try:
                out.values[name] = _date(data[name])
            except (ValueError, TypeError):
                err[name] = ["Expected a date (YYYY-MM-DD)."]
    start = out.values.get("start_date", current.start_date if current else None)
    end = out.values.get("end_date", current.end_date if current else None)
    if start and end and end < start and "start_date" not in err and "end_date" not in err:
        err["end_date"] = [f"The end date ({end}) is before the start date ({start})."]
    if "password" in data and not isinstance(data["password"], str):
        err["password"] = ["Expected text."]
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
        err["attributes"] = ["Expected an object of attribute values."]
    return out


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
        if org is None and parse_id(ref) is not None:
            org = Organization.objects.filter(pk=parse_id(ref)).first()
    if org is None:
        raise ValidationFailed(
            f"Unknown organization {ref!r}.", fields={"organization": [f"Unknown organization {ref!r}."]}
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
        if manager is None and parse_id(ref) is not None:
            manager = User.objects.filter(pk=parse_id(ref)).first()
    if manager is None:
        raise ValidationFailed(f"Unknown manager {ref!r}.", fields={"manager": [f"Unknown user {ref!r}."]})
    if manager.status == UserStatus.REMOVED:
        raise ValidationFailed(
            f"{manager.username} is removed and cannot be a manager.", fields={"manager": ["Removed user."]}
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
    out["organization"] = user.organization.code if user.organization_id else None
    out["manager"] = user.manager.username if user.manager_id else None
    return out


def _raise(errors: dict[str, list[str]], prefix: str) -> None:
    if errors:
        raise ValidationFailed(_summary(prefix, errors), fields=errors)


def _password(user: User, password: str) -> None:
    """Check ``password`` against the user's password policy (passwords app) and set it; the
    caller saves the user, then calls ``_password_recorded``."""
    from passwords.services import password_policy_validate

    password_policy_validate(user, password)
    user.set_password(password)


def _password_recorded(
    user: User, password: str, *, actor: User | None, source: str, created: bool = False
) -> None:
    """History, expiry clock and synchronisation to applications of a password just saved."""
    from passwords.services import PasswordChangeReason, password_recorded

    password_recorded(
        user=user,
        actor=actor,
        source=source,
        password=password,
        reason=PasswordChangeReason.DIRECTORY,
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


@transaction.atomic
def user_create(*, actor: User | None, source: str, data: dict) -> User:
    """Create a user from standard fields and ``attributes``; the username comes from the
    username policy when absent. Without ``password`` the user has no usable password (they
    sign in after a reset or through SSO)."""
    cleaned = _clean_fields(data, partial=False)
    errors = dict(cleaned.errors)
    values = cleaned.values
    if "__all__" in errors:
        _raise(errors, "The user cannot be created")
    attributes: dict[str, Any] = {}
    try:
        attributes = attribute_values_validate(scope=AttributeScope.USER, values=data.get("attributes") or {})
    except ValidationFailed as exc:
        errors.update(exc.fields)
    for name, resolve in (("organization", _resolve_organization), ("manager", _resolve_manager)):
        ref = getattr(cleaned, f"{name}_ref")
        if name not in errors:
            try:
                values[name] = resolve(ref)
            except ValidationFailed as exc:
                errors.update(exc.fields)
    _raise(errors, "The user cannot be created")
    username = values.get("username")
    if username:
        if _username_taken(username):
            raise _duplicate(username)
    else:
        username = username_generate(
            first_name=values["first_name"],
            last_name=values["last_name"],
            middle_name=values.get("middle_name", ""),
        )
    user = User(
        username=username,
        first_name=values["first_name"],
        last_name=values["last_name"],
        display_name=values.get("display_name") or f"{values['first_name']} {values['last_name']}",
        email=values.get("email", ""),
        organization=values.get("organization"),
        manager=values.get("manager"),
        job_title=values.get("job_title", ""),
        department=values.get("department", ""),
        employee_type=values.get("employee_type", ""),
        start_date=values.get("start_date"),
        end_date=values.get("end_date"),
        attributes=attributes,
        status=UserStatus.ACTIVE,
        status_changed_at=timezone.now(),
        created_source=source,
    )
    if data.get("password"):
        _password(user, data["password"])
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError:  # created concurrently with the same username
        raise _duplicate(username) from None
    if data.get("password"):
        _password_recorded(user, data["password"], actor=actor, source=source, created=True)
    audit_record(
        actor=actor,
        action="user.created",
        obj=user,
        new={**_snapshot(user), "status": user.status, "password_set": bool(data.get("password"))},
        source=source,
        subject_user_id=user.pk,
    )
    return user


@transaction.atomic
def user_update(*, actor: User | None, source: str, user: User, data: dict) -> User:
    """Change standard fields and attributes of ``user`` (only the keys given; an attribute
    set to null or "" is cleared). The status is not changed here: see the life-cycle services."""
    user = (
        User.objects.select_for_update(of=("self",)).select_related("organization", "manager").get(pk=user.pk)
    )
    cleaned = _clean_fields(data, partial=True, current=user)
    errors = dict(cleaned.errors)
    _raise({k: v for k, v in errors.items() if k == "__all__"}, "The user cannot be changed")
    values = cleaned.values
    values.pop("middle_name", None)  # only used to generate usernames
    if "attributes" in data and "attributes" not in errors:
        merged = {**(user.attributes or {}), **(data["attributes"] or {})}
        merged = {k: v for k, v in merged.items() if not _is_empty(v)}
        try:
            values["attributes"] = attribute_values_validate(
                scope=AttributeScope.USER, values=merged, instance_pk=user.pk
            )
        except ValidationFailed as exc:
            errors.update(exc.fields)
    for name, resolve in (("organization", _resolve_organization), ("manager", _resolve_manager)):
        if name in data and name not in errors:
            try:
                values[name] = resolve(getattr(cleaned, f"{name}_ref"))
            except ValidationFailed as exc:
                errors.update(exc.fields)
    manager = values.get("manager")
    if manager is not None and (manager.pk == user.pk or _manager_loop(user, manager)):
        errors["manager"] = [
            f"{manager.username} reports to {user.username}: a user cannot manage their own manager."
        ]
        if manager.pk == user.pk:
            errors["manager"] = ["A user cannot be their own manager."]
    _raise(errors, "The user cannot be changed")
    if (
        values.get("username")
        and values["username"] != user.username
        and _username_taken(values["username"], user.pk)
    ):
        raise _duplicate(values["username"])
    before = _snapshot(user)
    for name, value in values.items():
        setattr(user, name, value)
    if "display_name" in values and not values["display_name"]:
        user.display_name = f"{user.first_name} {user.last_name}"
    after = _snapshot(user)
    old = {k: before[k] for k in after if before[k] != after[k]}
    new = {k: after[k] for k in old}
    if data.get("password"):
        if not may_set_password_of(actor, user):
            raise NotAllowed(
                f"{user.username} is a console user: only an administrator may set their password.",
                code="console_user",
            )
        _password(user, data["password"])
        old["password"], new["password"] = "***", "changed"
    if not new:
        return user
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise _duplicate(user.username) from None
    if data.get("password"):
        _password_recorded(user, data["password"], actor=actor, source=source)
    audit_record(
        actor=actor, action="user.updated", obj=user, old=old, new=new, source=source, subject_user_id=user.pk
    )
    return user


@transaction.atomic
def console_role_set(*, actor: User | None, source: str, user: User, role: str) -> User:
    """Give ``user`` an internal administrative role (a ``ConsoleRole`` value), or take it away
    with ``""``. Only an administrator (or the system, ``actor=None``) may; the last
    administrator who can still log in keeps the role, so the console is never left without one."""
    if role not in ConsoleRole.values:
        choices = ", ".join(v for v in ConsoleRole.values if v)
        raise ValidationFailed(
            f"Unknown console role {role!r}: use {choices}, or nothing to remove the role.",
            fields={"role": [f"Choose {choices} or nothing."]},
        )
    if actor is not None and role_of(actor) != ConsoleRole.ADMINISTRATOR:
        raise NotAllowed("Only an administrator can change console roles.")
    # Lock every administrator in one order first: two administrators demoting each other at
    # once then wait for each other instead of both succeeding (or deadlocking).
    administrators = list(
        User.objects.select_for_update()
        .filter(Q(console_role=ConsoleRole.ADMINISTRATOR) | Q(is_superuser=True))
        .order_by("pk")
        .values_list("pk", "status", "login_locked")
    )
    user = User.objects.select_for_update().get(pk=user.pk)
    old = user.console_role
    if old == role:
        return user
    if role and user.status == UserStatus.REMOVED:
        raise ValidationFailed(
            f"{user.username} is REMOVED: a removed identity gets no console role.",
            fields={"role": ["The user is removed."]},
        )
    if old == ConsoleRole.ADMINISTRATOR and not user.is_superuser:
        others = [
            pk
            for pk, status, locked in administrators
            if pk != user.pk and status == UserStatus.ACTIVE and not locked
        ]
        if not others:
            who = "You are" if actor is not None and actor.pk == user.pk else f"{user.username} is"
            raise Conflict(
                f"{who} the last administrator: make someone else an administrator first.",
                fields={"role": ["The last administrator keeps the role."]},
                code="last_administrator",
            )
    user.console_role = role
    user.save(update_fields=["console_role"])
    audit_record(
        actor=actor,
        action="user.console_role_changed",
        obj=user,
        old={"console_role": old},
        new={"console_role": role},
        source=source,
        subject_user_id=user.pk,
    )
    return user


# ---------------------------------------------------------------------------------------------
# Bulk creation (the importer's path)
# ---------------------------------------------------------------------------------------------

BULK_CHUNK = 5000
USER_COLUMNS = ("password", "last_login", "is_superuser", "username", "first_name", "last_name", "email", "is_staff",
                "is_active", "date_joined", "display_name", "organization_id", "manager_id", "job_title",
                "department", "employee_type", "start_date", "end_date", "status", "login_locked",
                "inactive_since", "revoked_at", "removed_at", "status_changed_at", "console_role", "attributes",
                "created_source")  # fmt: skip
ACCOUNT_COLUMNS = ("resource_id", "owner_id", "identifier", "account_type", "status", "management", "manual",
                   "is_temporary", "expires_at", "responsible_id", "attributes", "created_at", "updated_at",
                   "status_changed_at")  # fmt: skip
MAX_REPORTED_ROWS = 100


@dataclass
class _BulkState:
    """What a bulk creation keeps between chunks: a few sets and maps, never the rows."""

    policy: UsernamePolicy
    definitions: list[AttributeDefinition]
    unique_defs: list[AttributeDefinition]
    orgs_by_code: dict[str, int]
    org_ids: set[int]
    taken: set[str]
    created: dict[str, int | None] = field(default_factory=dict)  # username (lower) → pk, this import
    unique_seen: dict[str, set[Any]] = field(default_factory=dict)
    pending_managers: list[tuple[int, str, str]] = field(default_factory=list)  # (row, username, ref)
    errors: dict[str, list[str]] = field(default_factory=dict)
    error_rows: int = 0

    def fail(self, row: int, problems: Mapping[str, list[str]]) -> None:
        self.error_rows += 1
        if len(self.errors) < MAX_REPORTED_ROWS:
            self.errors[f"row {row}"] = [
                f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in problems.items()
            ]


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for number, row in enumerate(rows, start=1):
        chunk.append((number, row))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _bulk_prepare(
    chunk: list[tuple[int, Any]], state: _BulkState, resources: Sequence[Resource]
) -> list[tuple[int, _Clean, dict]]:
    """Validate one chunk with a fixed number of queries; returns the good rows."""
    cleaned: list[tuple[int, _Clean, dict]] = []
    manager_names: set[str] = set()
    manager_ids: set[int] = set()
    for number, row in chunk:
        c = _clean_fields(row, partial=False)
        if "__all__" not in c.errors:
            if "password" in row:
                c.errors["password"] = ["Passwords cannot be set in a bulk creation."]
            attrs = row.get("attributes") or {}
            if isinstance(attrs, Mapping):
                values, attr_errors = _attributes_clean(state.definitions, attrs)
                c.errors.update(attr_errors)
            else:
                values = {}
            ref = c.organization_ref
            if not _is_empty(ref):
                org_id = ref.pk if isinstance(ref, Organization) else None
                if org_id is None and isinstance(ref, str):
                    org_id = state.orgs_by_code.get(ref.strip())
                    if org_id is None:
                        org_id = parse_id(ref)
                elif org_id is None and isinstance(ref, int) and not isinstance(ref, bool):
                    org_id = ref
                if org_id not in state.org_ids:
                    c.errors["organization"] = [f"Unknown organization {ref!r}."]
                c.values["organization"] = org_id
            ref = c.manager_ref
            if isinstance(ref, User):
                c.manager_ref = ref.pk
            elif isinstance(ref, str) and ref.strip():
                c.manager_ref = ref.strip()
                manager_names.add(ref.strip())
                if parse_id(ref) is not None:
                    manager_ids.add(parse_id(ref))
            elif isinstance(ref, int) and not isinstance(ref, bool):
                manager_ids.add(ref)
            elif not _is_empty(ref):
                c.errors["manager"] = [f"Unknown manager {ref!r}."]
        else:
            values = {}
        cleaned.append((number, c, values))

    existing_managers: dict[Any, int] = {}
    if manager_names or manager_ids:
        for pk, username in (
            User.objects.filter(Q(username__in=manager_names) | Q(pk__in=manager_ids))
            .exclude(status=UserStatus.REMOVED)
            .values_list("pk", "username")
        ):
            existing_managers[username] = pk
            existing_managers[pk] = pk
            existing_managers[str(pk)] = existing_managers.get(str(pk), pk)

    # Uniqueness of attributes: inside the import, then one query per unique attribute.
    clashes: dict[str, set[Any]] = {}
    for defn in state.unique_defs:
        chunk_values = [v[defn.name] for _, c, v in cleaned if defn.name in v]
        if chunk_values:
            clashes[defn.name] = set(
                User.objects.filter(**{f"attributes__{defn.name}__in": chunk_values}).values_list(
                    f"attributes__{defn.name}", flat=True
                )
            )

    good: list[tuple[int, _Clean, dict]] = []
    for number, c, values in cleaned:
        for defn in state.unique_defs:
            if defn.name not in values:
                continue
            value = values[defn.name]
            seen = state.unique_seen.setdefault(defn.name, set())
            if value in clashes.get(defn.name, ()):
                c.errors[f"attributes.{defn.name}"] = [f"{value!r} is already used by another user."]
            elif value in seen:
                c.errors[f"attributes.{defn.name}"] = [f"{value!r} appears on an earlier row of this import."]
            else:
                seen.add(value)
        ref = c.manager_ref
        if not _is_empty(ref) and "manager" not in c.errors:
            if ref in existing_managers:
                c.values["manager"] = existing_managers[ref]
                c.manager_ref = None
            # else: perhaps a user of this import; resolved once every row is in.
        if not c.errors:
            username = c.values.get("username")
            if username:
                if username.lower() in state.taken:
                    c.errors["username"] = [f"The username {username!r} is already taken."]
            else:
                values_ = username_placeholders(
                    first_name=c.values["first_name"],
                    last_name=c.values["last_name"],
                    middle_name=c.values.get("middle_name", ""),
                )
                patterns = _pattern_candidates(state.policy, values_)
                username = _pick(state.policy, patterns, state.taken.__contains__)
                if username is None:
                    c.errors["username"] = _exhausted(
                        c.values["first_name"], c.values["last_name"], state.policy, patterns
                    ).fields["username"]
            if not c.errors:
                state.taken.add(username.lower())
                state.created[username.lower()] = None
                c.values["username"] = username
                if not _is_empty(c.manager_ref):
                    state.pending_managers.append((number, username.lower(), str(c.manager_ref)))
        if c.errors:
            state.fail(number, c.errors)
        else:
            good.append((number, c, values))

    # Regular accounts: their identifier (the username) must be free on each resource.
    if good and resources:
        names = [c.values["username"] for _, c, _ in good]
        for resource in resources:
            used = set(
                Account.objects.filter(resource=resource, identifier__in=names).values_list(
                    "identifier", flat=True
                )
            )
            if used:
                for number, c, _ in good:
                    if c.values["username"] in used:
                        state.fail(
                            number,
                            {
                                "username": [
                                    f"An account {c.values['username']!r} already exists on {resource.name}."
                                ]
                            },
                        )
                good = [g for g in good if g[1].values["username"] not in used]
    return good


def _bulk_write(
    good: list[tuple[int, _Clean, dict]],
    state: _BulkState,
    *,
    actor: User | None,
    source: str,
    resources: Sequence[Resource],
    password: str,
) -> None:
    """Insert one validated chunk: users, their accounts, provisioning entries and audit
    events, streamed with ``copy_rows`` (COPY on PostgreSQL) and ids read back in one query."""
    now = timezone.now()
    user_rows = []
    for _, c, attrs in good:
        v = c.values
        user_rows.append(
            (
                password, None, False, v["username"], v["first_name"], v["last_name"], v.get("email", ""),
                False, True, now, v.get("display_name") or f"{v['first_name']} {v['last_name']}",
                v.get("organization"), v.get("manager"), v.get("job_title", ""), v.get("department", ""),
                v.get("employee_type", ""), v.get("start_date"), v.get("end_date"), UserStatus.ACTIVE, False,
                None, None, None, now, "", json.dumps(attrs), source,
            )
        )  # fmt: skip
    copy_rows(User._meta.db_table, USER_COLUMNS, user_rows)
    names = [row[3] for row in user_rows]
    ids = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
    for name in names:
        state.created[name.lower()] = ids[name]

    accounts: dict[int, list[tuple[int, int]]] = {}  # resource → [(account id, owner id)]
    for resource in resources:
        copy_rows(
            Account._meta.db_table,
            ACCOUNT_COLUMNS,
            (
                (resource.pk, ids[name], name, AccountType.REGULAR, AccountStatus.ACTIVE, Management.MANUAL,
                 True, False, None, None, "{}", now, now, now)
                for name in names
            ),
        )  # fmt: skip
        accounts[resource.pk] = list(
            Account.objects.filter(
                resource=resource, owner_id__in=ids.values(), account_type=AccountType.REGULAR
            )
            .order_by()
            .values_list("pk", "owner_id")
        )
        entries_write_many(
            resource=resource,
            event_type=ProvisioningEvent.CREATE_ACCOUNT,
            rows=(
                {"account_id": a, "user_id": o, "payload": {"reason": source}}
                for a, o in accounts[resource.pk]
            ),
        )
    account_of = {(r, o): a for r, pairs in accounts.items() for a, o in pairs}

    def entries() -> Iterator[AuditEntry]:
        for (_, c, attrs), row in zip(good, user_rows, strict=True):
            v, pk = c.values, ids[row[3]]
            yield AuditEntry(
                "user.created",
                "directory.User",
                pk,
                object_repr=row[10],
                subject_user_id=pk,
                new={
                    "username": row[3],
                    "first_name": v["first_name"],
                    "last_name": v["last_name"],
                    "email": row[6],
                    "organization": v.get("organization"),
                    "manager": v.get("manager"),
                    "department": row[14],
                    "job_title": row[13],
                    "attributes": attrs,
                    "status": UserStatus.ACTIVE,
                    "accounts": {r.code: account_of[(r.pk, pk)] for r in resources},
                },
            )

    audit_record_many(entries(), actor=actor, source=source)


def _bulk_link_managers(state: _BulkState) -> None:
    """Managers that are themselves users of this import (any row, earlier or later)."""
    updates: list[User] = []
    for number, username, ref in state.pending_managers:
        if ref.lower() not in state.created:
            message = f"Unknown manager {ref!r} (neither an existing user nor a row of this import)."
            state.fail(number, {"manager": [message]})
        elif ref.lower() == username:
            state.fail(number, {"manager": ["A user cannot be their own manager."]})
        elif not state.errors:
            updates.append(User(pk=state.created[username], manager_id=state.created[ref.lower()]))
    if updates and not state.errors:
        User.objects.bulk_update(updates, ["manager"], batch_size=BULK_CHUNK)


@transaction.atomic
def users_bulk_create(
    *,
    actor: User | None,
    source: str,
    rows: Iterable[dict],
    accounts_per_user: list[Resource] | None = None,
    password_hash: str | None = None,
) -> int:
    """Create many users (an import): every row is validated — with its row number (1 = first
    row) in the error — and any bad row leaves nothing written. Each user gets one REGULAR
    account (identifier = username) on each resource of ``accounts_per_user``, with a
    CREATE_ACCOUNT provisioning entry where the resource provisions it. Rows take the fields of
    ``user_create`` except ``password``: users get no usable password unless ``password_hash``
    (an already hashed value, e.g. from ``make_password``) is given for all of them.
    Works in chunks with a fixed number of queries per chunk; returns the number created."""
    resources = list(accounts_per_user or [])
    definitions = _definitions(AttributeScope.USER, None)
    orgs = list(Organization.objects.values_list("pk", "code"))
    state = _BulkState(
        policy=_policy_active(),
        definitions=definitions,
        unique_defs=[d for d in definitions if d.unique],
        orgs_by_code={code: pk for pk, code in orgs},
        org_ids={pk for pk, _ in orgs},
        taken=set(
            User.objects.annotate(lname=Lower("username"))
            .values_list("lname", flat=True)
            .iterator(chunk_size=20000)
        ),
    )
    password = password_hash or make_password(None)
    count = 0
    for chunk in _chunks(rows, BULK_CHUNK):
        good = _bulk_prepare(chunk, state, resources)
        if state.errors or not good:
            continue  # keep validating to report every bad row; nothing will be kept
        _bulk_write(good, state, actor=actor, source=source, resources=resources, password=password)
        count += len(good)
    _bulk_link_managers(state)
    if state.errors:
        more = state.error_rows - len(state.errors)
        suffix = f" (and {more} more row(s))" if more > 0 else ""
        message = (
            _summary(f"{state.error_rows} row(s) have errors, nothing was created", state.errors) + suffix
        )
        raise ValidationFailed(message, fields=state.errors)
    return count
