"""ITSM instances that check governance codes: create one (its password or token goes to the
vault), and check a request's code against its group's instance — fail closed."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from blazon.changes import config_create
from blazon.errors import ValidationFailed
from privileged.itsm import ItsmUnavailable, ticket_check
from privileged.models import ItsmInstance, ItsmKind
from vault.models import SecretKind
from vault.services import secret_store

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


@transaction.atomic
def itsm_instance_create(
    *,
    actor: Any,
    source: str,
    name: str,
    kind: str,
    valid_states: list[str],
    base_url: str = "",
    url_template: str = "",
    status_pointer: str = "",
    username: str = "",
    secret_value: str = "",
    timeout_seconds: int = 5,
) -> ItsmInstance:
    """Register an ITSM; ``secret_value`` (ServiceNow password, REST token) is kept in the vault."""
    if kind not in ItsmKind.values:
        raise _fail("kind", f"The kind is one of {', '.join(ItsmKind.values)}.")
    if kind == ItsmKind.SERVICENOW and not base_url.startswith(("https://", "http://")):
        raise _fail("base_url", "Give the instance's URL, e.g. https://acme.service-now.com.")
    if kind == ItsmKind.REST:
        if not url_template.startswith(("https://", "http://")) or "{code}" not in url_template:
            raise _fail(
                "url_template", "Give the ticket's URL with {code}, e.g. https://itsm/api/tickets/{code}."
            )
        if not status_pointer.startswith("/"):
            raise _fail("status_pointer", "Give a JSON pointer to the status, e.g. /status.")
    if not valid_states or not all(isinstance(s, str) and s for s in valid_states):
        raise _fail("valid_states", "Name the states that make a ticket valid.")
    if not 1 <= timeout_seconds <= 60:
        raise _fail("timeout_seconds", "The timeout is 1 to 60 seconds.")
    instance = ItsmInstance(
        name=name,
        kind=kind,
        base_url=base_url,
        url_template=url_template,
        status_pointer=status_pointer,
        username=username,
        valid_states=list(valid_states),
        timeout_seconds=timeout_seconds,
    )
    if secret_value:
        instance.secret = secret_store(
            actor=actor,
            source=source,
            owner=None,
            kind=SecretKind.APPLICATION_CREDENTIAL,
            name=f"ITSM {name}",
            value=secret_value,
        )
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
