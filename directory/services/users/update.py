"""Change one user's standard fields, attributes or password."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import NotAllowed, ValidationFailed
from blazon.permissions import may_set_password_of
from directory import ports
from directory.models import AttributeScope, User
from directory.services.users.attributes import _is_empty, attribute_values_validate
from directory.services.users.fields import (
    _clean_fields,
    _duplicate,
    _manager_loop,
    _password,
    _password_recorded,
    _raise,
    _resolve_manager,
    _resolve_organization,
    _snapshot,
    _username_taken,
)


@transaction.atomic
def user_update(*, actor: User | None, source: str, user: User, data: dict[str, Any]) -> User:
    """Change standard fields and attributes of ``user`` (only the keys given; an attribute
    set to null or "" is cleared). The status is not changed here: see the life-cycle services."""
    user = (
        User.objects.select_for_update(of=("self",)).select_related("organization", "manager").get(pk=user.pk)
    )
    cleaned = _clean_fields(data, partial=True, current=user)
    errors = dict(cleaned.errors)
    _raise({k: v for k, v in errors.items() if k == "__all__"}, gettext("The user cannot be changed"))
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
            gettext("%(username)s reports to %(username2)s: a user cannot manage their own manager.")
            % {"username": manager.username, "username2": user.username}
        ]
        if manager.pk == user.pk:
            errors["manager"] = [gettext("A user cannot be their own manager.")]
    _raise(errors, gettext("The user cannot be changed"))
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
                gettext("%(username)s is a console user: only an administrator may set their password.")
                % {"username": user.username},
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
    # birthright roles: the assignment policies (sod app) give or take what the user now matches;
    # the attribute-change certification policies put the user's accesses to review
    ports.user_changed(actor=actor, source=source, user=user, changed=_changed_names(old, before, after))
    return user


def _changed_names(old: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> frozenset[str]:
    """The fields an update changed (``old`` holds them), and each administrator-defined
    attribute that changed as ``attributes.<name>``."""
    names = set(old) - {"password"}
    if "attributes" in old:
        was, now = before.get("attributes") or {}, after.get("attributes") or {}
        names |= {f"attributes.{k}" for k in set(was) | set(now) if was.get(k) != now.get(k)}
    return frozenset(names)
