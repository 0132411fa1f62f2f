"""ITSM instances that check governance codes: create one (its password or token goes to the
vault), and check a request's code against its group's instance — fail closed."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from blazon.changes import config_create, config_delete, config_update
from blazon.errors import Conflict, ValidationFailed
from privileged.itsm import ItsmUnavailable, ticket_check
from privileged.models import ItsmInstance, ItsmKind
from vault.models import SecretKind
from vault.services import secret_delete, secret_store, secret_update

ITSM_FIELDS = (
    "name",
    "kind",
    "base_url",
    "url_template",
    "status_pointer",
    "username",
    "valid_states",
    "timeout_seconds",
)


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: [message]})


def _check(data: dict[str, Any]) -> None:
    kind, states = data.get("kind"), data.get("valid_states")
    if not str(data.get("name") or "").strip():
        raise _fail("name", "A name is required.")
    if kind not in ItsmKind.values:
        raise _fail("kind", f"The kind is one of {', '.join(ItsmKind.values)}.")
    if kind == ItsmKind.SERVICENOW and not str(data.get("base_url") or "").startswith(
        ("https://", "http://")
    ):
        raise _fail("base_url", "Give the instance's URL, e.g. https://acme.service-now.com.")
    if kind == ItsmKind.REST:
        template = str(data.get("url_template") or "")
        if not template.startswith(("https://", "http://")) or "{code}" not in template:
            raise _fail(
                "url_template", "Give the ticket's URL with {code}, e.g. https://itsm/api/tickets/{code}."
            )
        if not str(data.get("status_pointer") or "").startswith("/"):
            raise _fail("status_pointer", "Give a JSON pointer to the status, e.g. /status.")
    if not isinstance(states, list) or not states or not all(isinstance(x, str) and x for x in states):
        raise _fail("valid_states", "Name the states that make a ticket valid.")
    timeout = data.get("timeout_seconds")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 60:
        raise _fail("timeout_seconds", "The timeout is 1 to 60 seconds.")


def _store(actor: Any, source: str, name: str, value: str) -> Any:
    return secret_store(
        actor=actor,
        source=source,
        owner=None,
        kind=SecretKind.APPLICATION_CREDENTIAL,
        name=f"ITSM {name}",
        value=value,
    )


@transaction.atomic
def itsm_instance_create(
    *,
    actor: Any,
    source: str,
    name: str,
    kind: str,
    valid_states: list[str] | None = None,
    base_url: str = "",
    url_template: str = "",
    status_pointer: str = "",
    username: str = "",
    secret_value: str = "",
    timeout_seconds: int = 5,
) -> ItsmInstance:
    """Register an ITSM; ``secret_value`` (ServiceNow password, REST token) is kept in the vault."""
    data: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "base_url": base_url,
        "url_template": url_template,
        "status_pointer": status_pointer,
        "username": username,
        "valid_states": list(valid_states or []),
        "timeout_seconds": timeout_seconds,
    }
    _check(data)
    instance = ItsmInstance(**data)
    if secret_value:
        instance.secret = _store(actor, source, name, secret_value)
    return config_create(
        instance,
        fields=ITSM_FIELDS,
        actor=actor,
        source=source,
        action="privileged.itsm.created",
        conflict="An ITSM instance with this name already exists.",
        conflict_field="name",
        validate=True,
    )


def code_check(instance: ItsmInstance, code: str, *, emergency: bool) -> str:
    """Check ``code`` at ``instance``: its detail when valid; refused (``ValidationFailed`` on the
    code) when the ticket is not valid, or when the ITSM cannot say — except an emergency, which
    goes on and records that the code was not checked."""
    try:
        result = ticket_check(instance, code)
    except ItsmUnavailable as exc:
        if emergency:
            return f"{code} not checked: {instance.name} unavailable ({exc}); emergency access."
        raise _fail(
            "governance_code",
            f"{instance.name} could not check the governance code: {exc}. The request is refused; try again later.",
        ) from None
    if not result.valid:
        raise _fail("governance_code", result.detail)
    return result.detail


@transaction.atomic
def itsm_instance_update(
    *, actor: Any, source: str, instance: ItsmInstance, data: dict[str, Any]
) -> ItsmInstance:
    """Change an instance (fields left out stay); a new ``secret_value`` replaces the vault's."""
    merged = {k: getattr(instance, k) for k in ITSM_FIELDS}
    merged.update({k: v for k, v in data.items() if k in ITSM_FIELDS})
    _check(merged)
    with config_update(
        ItsmInstance,
        instance.pk,
        fields=ITSM_FIELDS,
        actor=actor,
        source=source,
        action="privileged.itsm.updated",
        conflict="An ITSM instance with this name already exists.",
        conflict_field="name",
        validate=True,
    ) as change:
        for key in ITSM_FIELDS:
            setattr(change.obj, key, merged[key])
        value = data.get("secret_value")
        if value:
            if change.obj.secret is not None:
                secret_update(actor=actor, source=source, secret=change.obj.secret, value=value)
            else:
                change.obj.secret = _store(actor, source, change.obj.name, value)
            change.after = {"secret_changed": True}
    return change.obj


@transaction.atomic
def itsm_instance_delete(*, actor: Any, source: str, instance: ItsmInstance) -> None:
    """Delete an instance no access group uses; its secret leaves the vault with it."""
    locked = ItsmInstance.objects.select_for_update().get(pk=instance.pk)
    used = list(locked.groups.values_list("code", flat=True)[:5])
    if used:
        raise Conflict(f"Access groups use this ITSM: {', '.join(used)}. Choose another for them first.")
    secret = locked.secret
    config_delete(locked, fields=ITSM_FIELDS, actor=actor, source=source, action="privileged.itsm.deleted")
    if secret is not None:
        secret_delete(actor=actor, source=source, secret=secret)
