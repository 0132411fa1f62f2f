"""Create one user (console, workspace, API and the CREATE_USER request)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.errors import ValidationFailed
from directory import ports
from directory.models import AttributeScope, User, UserStatus
from directory.services.users.attributes import attribute_values_validate
from directory.services.users.fields import (
    _clean_fields,
    _duplicate,
    _password,
    _password_recorded,
    _raise,
    _resolve_manager,
    _resolve_organization,
    _snapshot,
    _username_taken,
)
from directory.services.users.usernames import username_generate


@transaction.atomic
def user_create(*, actor: User | None, source: str, data: dict[str, Any]) -> User:
    """Create a user from standard fields and ``attributes``; the username comes from the
    username policy when absent. Without ``password`` the user has no usable password (they
    sign in after a reset or through SSO)."""
    cleaned = _clean_fields(data, partial=False)
    errors = dict(cleaned.errors)
    values = cleaned.values
    if "__all__" in errors:
        _raise(errors, gettext("The user cannot be created"))
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
    _raise(errors, gettext("The user cannot be created"))
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
    # birthright roles: the assignment policies (sod app) give or take what the user now matches
    ports.user_changed(actor=actor, source=source, user=user)
    return user
