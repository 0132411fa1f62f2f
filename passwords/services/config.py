"""The password configuration the console edits: password and password-change policies and
the administrator's forbidden words. Atomic, audited with the fields that changed."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext

from blazon.audit.services import audit_record
from blazon.changes import changes, config_save, snapshot
from blazon.errors import Conflict, ValidationFailed
from passwords.models import AssignedPolicy, ForbiddenWord, PasswordChangePolicy, PasswordPolicy

POLICY_MODELS: dict[str, type[AssignedPolicy]] = {"password": PasswordPolicy, "change": PasswordChangePolicy}


def _fields(model: type[AssignedPolicy]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if f.name not in {"id", "created_at", "updated_at"}]


def _audit_name(model: type[AssignedPolicy]) -> str:
    return "password_policy" if model is PasswordPolicy else "password_change_policy"


def _validate(policy: AssignedPolicy) -> None:
    errors: dict[str, list[str]] = {}
    try:
        policy.full_clean(validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        errors.update({k: list(v) for k, v in exc.message_dict.items()})
    if policy.is_default and (policy.organization_id or policy.attribute_name):
        errors.setdefault("is_default", []).append(
            gettext("The default policy applies to everyone else: leave organization and attribute empty.")
        )
    if bool(policy.attribute_name) != bool(policy.attribute_value):
        errors.setdefault("attribute_value", []).append(
            gettext("Give both an attribute name and the value to match.")
        )
    if not policy.is_default and not policy.organization_id and not policy.attribute_name:
        errors.setdefault("organization", []).append(
            gettext("Say whom it applies to (an organization or an attribute value), or make it the default.")
        )
    model = type(policy)
    if model._default_manager.exclude(pk=policy.pk).filter(name__iexact=policy.name).exists():
        errors.setdefault("name", []).append(gettext("Another policy has this name."))
    if policy.is_default and model._default_manager.exclude(pk=policy.pk).filter(is_default=True).exists():
        errors.setdefault("is_default", []).append(
            gettext("Another policy is already the default: unset it first.")
        )
    if errors:
        raise ValidationFailed(
            gettext("The policy is not valid: %(problems)s")
            % {"problems": " ".join(sum(errors.values(), []))},
            fields=errors,
        )


@transaction.atomic
def policy_save(
    *,
    actor: Any,
    source: str,
    model: type[AssignedPolicy],
    data: dict[str, Any],
    policy: AssignedPolicy | None = None,
) -> AssignedPolicy:
    """Create (``policy`` None) or update a password or password-change policy from ``data``."""
    fields = _fields(model)
    if policy is None:
        policy, old = model(), {}
    else:
        policy = model._default_manager.select_for_update().get(pk=policy.pk)
        old = snapshot(policy, fields)
    unknown = set(data) - set(fields)
    if unknown:
        raise ValidationFailed(
            gettext("Unknown fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))},
            fields={k: [gettext("Unknown.")] for k in unknown},
        )
    for name, value in data.items():
        setattr(policy, name, value)
    _validate(policy)
    created = policy.pk is None
    # the same name or a second default, saved concurrently, is a Conflict
    config_save(
        policy,
        conflict=Conflict(gettext("Another policy with this name, or another default, was saved meanwhile.")),
    )
    before, after = changes(old, snapshot(policy, fields))
    if created or after:
        audit_record(
            actor=actor,
            action=f"{_audit_name(model)}.{'created' if created else 'updated'}",
            obj=policy,
            old=before or None,
            new=after,
            source=source,
        )
    return policy


@transaction.atomic
def policy_delete(*, actor: Any, source: str, policy: AssignedPolicy) -> None:
    model = type(policy)
    locked = model._default_manager.select_for_update().filter(pk=policy.pk).first()
    if locked is None:
        return
    old = snapshot(locked, _fields(model))
    locked.delete()
    audit_record(
        actor=actor,
        action=f"{_audit_name(model)}.deleted",
        object_type=model._meta.label_lower,
        object_id=policy.pk,
        object_repr=old["name"],
        old=old,
        source=source,
    )


def _clean_words(text: str) -> list[str]:
    words = []
    for raw in (text or "").replace(",", "\n").splitlines():
        word = raw.strip().casefold()
        if word and word not in words:
            words.append(word)
    return words


@transaction.atomic
def forbidden_words_add(*, actor: Any, source: str, text: str) -> list[str]:
    """Add the words in ``text`` (one a line, or comma-separated); returns those new to the list."""
    words = _clean_words(text)
    if not words:
        raise ValidationFailed(
            gettext("Type at least one word."), fields={"words": [gettext("Type at least one word.")]}
        )
    bad = [w for w in words if len(w) < 3 or len(w) > 100]
    if bad:
        raise ValidationFailed(
            gettext("Words must have 3 to 100 characters: %(words)s.") % {"words": ", ".join(bad[:5])},
            fields={"words": [gettext("Words must have 3 to 100 characters.")]},
        )
    existing = set(ForbiddenWord.objects.filter(word__in=words).values_list("word", flat=True))
    new = [w for w in words if w not in existing]
    ForbiddenWord.objects.bulk_create(
        [ForbiddenWord(word=w, created_by=actor) for w in new], ignore_conflicts=True
    )
    if new:
        audit_record(
            actor=actor,
            action="password_dictionary.words_added",
            object_type="passwords.forbiddenword",
            object_repr=f"{len(new)} word(s)",
            new={"words": new},
            source=source,
        )
    return new


@transaction.atomic
def forbidden_word_remove(*, actor: Any, source: str, word: ForbiddenWord) -> None:
    deleted, _ = ForbiddenWord.objects.filter(pk=word.pk).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="password_dictionary.word_removed",
            object_type="passwords.forbiddenword",
            object_id=word.pk,
            object_repr=word.word,
            old={"word": word.word},
            source=source,
        )
