"""How an app that owns a task kind plugs into the worklist.

The worklist keeps tasks, their resolvers and their SLAs; what a task *means* belongs to the app
that opens it. That app registers, once, from its ``AppConfig.ready()``:

* ``decide`` — how a decision on a task of its kind is applied (``worklist.services.task_decide``
  calls it): ``decide(actor=, source=, task=, decision=, comment=, **details)``, where
  ``decision`` is ``"approve"`` or ``"reject"``;
* ``notify`` — the notification (a Celery task taking ``task_id, user_ids``) sent, after commit,
  to the users who become resolvers of a task of its kind (``user_ids`` None: every resolver,
  e.g. the members of its queue).

and, for the subjects of its tasks, ``register_subject_types`` — the type codes a task definition
may be limited to (requests_workflow registers its 20 request types).

The worklist never imports the apps above it: they call ``register_task_kind`` and the worklist
services look the kind up here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

APPROVE, REJECT = "approve", "reject"
DECISIONS = (APPROVE, REJECT)


@dataclass(frozen=True)
class TaskKindHandler:
    """What the app owning a task kind tells the worklist (see the module docstring)."""

    decide: Callable[..., Any] | None = None
    notify: Any = None


_HANDLERS: dict[str, TaskKindHandler] = {}


def register_task_kind(kind: str, *, decide: Callable[..., Any] | None = None, notify: Any = None) -> None:
    """Register the owning app's hooks for ``kind`` (idempotent: ``ready()`` may run twice)."""
    _HANDLERS[str(kind)] = TaskKindHandler(decide=decide, notify=notify)


def task_kind_handler(kind: str) -> TaskKindHandler:
    """The hooks registered for ``kind`` (empty ones when no app registered it)."""
    return _HANDLERS.get(str(kind), TaskKindHandler())


# Gives newly opened tasks their SLA (definition, due date, first escalation). The matching
# reads the subject (a request's type, criticality, people), so the app that owns the subjects
# provides it until definitions match through per-kind hooks; ``tasks_sla_apply`` calls it.
_SLA_ASSIGNER: list[Callable[..., None]] = []


def register_sla_assigner(assign: Callable[..., None]) -> None:
    """``assign(tasks, req=subject or None)`` (idempotent: the last registration wins)."""
    _SLA_ASSIGNER[:] = [assign]


def tasks_sla_apply(tasks: Iterable[Any], *, req: Any) -> None:
    """Give tasks just opened their SLA, through the registered assigner (none: no SLA)."""
    for assign in _SLA_ASSIGNER:
        assign(tasks, req=req)


_SUBJECT_TYPES: dict[str, str] = {}


def register_subject_types(choices: Iterable[tuple[str, str]]) -> None:
    """Add ``(code, label)`` pairs a task definition may be limited to (idempotent)."""
    _SUBJECT_TYPES.update((str(code), str(label)) for code, label in choices)


def subject_type_choices() -> list[tuple[str, str]]:
    """Every registered subject type, in the order registered: a form's choices, a list's labels."""
    return list(_SUBJECT_TYPES.items())
