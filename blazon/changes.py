"""How configuration services write and record a change, the one way: lock the row, snapshot
its fields, apply, save (a unique-constraint race becomes a ``Conflict``), diff and write the
audit event (``config_update``, ``config_create``, ``config_delete``, ``config_save``); and the
pieces: a snapshot of a model's fields, the fields that differ between two snapshots, a one-field
validation error. Every configuration service uses them, so every audit event of a change has
the same shape."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from blazon.audit.services import audit_record
from blazon.errors import Conflict, ValidationFailed

M = TypeVar("M", bound=models.Model)


def field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def snapshot(obj: models.Model, fields: Iterable[str], *, m2m_value: str = "pk") -> dict[str, Any]:
    """The values of ``fields``: foreign keys as ids, many-to-many as the sorted ``m2m_value``
    of the related rows (empty before the object is saved)."""
    out: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            out[name] = sorted(getattr(obj, name).values_list(m2m_value, flat=True)) if obj.pk else []
        elif field.is_relation:  # a forward foreign key: callers name concrete fields
            out[name] = getattr(obj, cast("models.Field[Any, Any]", field).attname)
        else:
            out[name] = getattr(obj, name)
    return out


def changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old values, new values) of the keys whose value changed."""
    changed = [k for k in new if old.get(k) != new[k]]
    return {k: old.get(k) for k in changed}, {k: new[k] for k in changed}


# ---------------------------------------------------------------------------------------------
# the one way a configuration service writes: lock, snapshot, save, diff, audit


# What a unique-constraint race becomes: a message (on ``conflict_field`` when given), a ready
# Conflict, or a function of the object that makes one (the message names the object).
ConflictSpec = str | Conflict | Callable[[Any], Conflict] | None


def _conflict(spec: ConflictSpec, field_name: str, obj: Any) -> Conflict | None:
    if spec is None or isinstance(spec, Conflict):
        return spec
    if isinstance(spec, str):
        return Conflict(spec, fields={field_name: [spec]} if field_name else None)
    return spec(obj)


def config_save(
    obj: models.Model, *, conflict: ConflictSpec = None, conflict_field: str = "", validate: bool = False
) -> None:
    """Save ``obj`` in a savepoint. With ``validate``, the model's own field checks run first and
    their errors become ``ValidationFailed``; with ``conflict``, a unique-constraint race (two
    administrators saving the same code at once) becomes that ``Conflict`` instead of a server
    error."""
    try:
        with transaction.atomic():
            if validate:
                obj.full_clean(validate_unique=False, validate_constraints=False)
            obj.save()
    except DjangoValidationError as exc:
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        raise ValidationFailed(_("Invalid input."), fields=fields) from None
    except IntegrityError:
        error = _conflict(conflict, conflict_field, obj)
        if error is None:
            raise
        raise error from None


@dataclass
class ConfigChange(Generic[M]):
    """One change of a configuration object under way: the locked object, its values before,
    and (once the block is over) the values that changed (``old``/``new``, empty: nothing did).
    ``after`` overrides snapshot values that only exist once saved (many-to-many to set);
    ``on_saved`` runs after the save (to set them)."""

    obj: M
    before: dict[str, Any]
    after: dict[str, Any] = field(default_factory=dict)
    on_saved: Callable[[Any], None] | None = None
    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)


@contextmanager
def config_update(
    queryset: models.QuerySet[M, Any] | type[M],
    pk: Any,
    *,
    fields: Iterable[str],
    actor: Any,
    source: str,
    action: str,
    conflict: ConflictSpec = None,
    conflict_field: str = "",
    validate: bool = False,
    save: Callable[[Any], None] | None = None,
) -> Iterator[ConfigChange[M]]:
    """Change a configuration object the one way: lock its row, snapshot ``fields``, let the
    block change ``change.obj``, then, only if a value changed, save it (``config_save``, or
    ``save``) and write ``action`` to the audit log with the old and new values of what
    changed. A block that raises changes nothing. Use inside the service's transaction::

        with config_update(Role, role.pk, fields=ROLE_FIELDS, actor=actor, source=source,
                           action="role.update", conflict="A role with this code already exists.",
                           conflict_field="code") as change:
            _role_apply(change.obj, data)
        return change.obj
    """
    qs = queryset if isinstance(queryset, models.QuerySet) else queryset._default_manager.all()
    fields = tuple(fields)
    obj = qs.select_for_update().get(pk=pk)
    change = ConfigChange(obj=obj, before=snapshot(obj, fields))
    yield change
    change.old, change.new = changes(change.before, {**snapshot(obj, fields), **change.after})
    if not change.new:
        return
    if save is not None:
        save(obj)
    else:
        config_save(obj, conflict=conflict, conflict_field=conflict_field, validate=validate)
    if change.on_saved is not None:
        change.on_saved(obj)
    audit_record(actor=actor, action=action, obj=obj, old=change.old, new=change.new, source=source)


def config_create(
    obj: M,
    *,
    fields: Iterable[str],
    actor: Any,
    source: str,
    action: str,
    conflict: ConflictSpec = None,
    conflict_field: str = "",
    validate: bool = False,
    on_saved: Callable[[Any], None] | None = None,
) -> M:
    """Save a new configuration object (``config_save``), run ``on_saved`` (many-to-many) and
    write ``action`` with its values to the audit log."""
    config_save(obj, conflict=conflict, conflict_field=conflict_field, validate=validate)
    if on_saved is not None:
        on_saved(obj)
    audit_record(actor=actor, action=action, obj=obj, new=snapshot(obj, fields), source=source)
    return obj


def config_delete(
    obj: models.Model,
    *,
    fields: Iterable[str],
    actor: Any,
    source: str,
    action: str,
    extra: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    before_delete: Callable[[Any], object] | None = None,
) -> None:
    """Write ``action`` with the object's last values (and ``extra``) to the audit log, run
    ``before_delete`` (what must still see the row), then delete it. The caller has locked it
    and checked that nothing still needs it."""
    old = {**snapshot(obj, fields), **(extra or {})}
    audit_record(actor=actor, action=action, obj=obj, old=old, new=new, source=source)
    if before_delete is not None:
        before_delete(obj)
    obj.delete()
