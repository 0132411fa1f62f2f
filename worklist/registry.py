"""How an app that owns a task kind plugs into the worklist.

The worklist keeps tasks, their resolvers and their SLAs; what a task *means* belongs to the app
that opens it. That app registers, once, from its ``AppConfig.ready()``:

* ``decide`` — how a decision on a task of its kind is applied (``worklist.services.task_decide``
  calls it): ``decide(actor=, source=, task=, decision=, comment=, **details)``, where
  ``decision`` is ``"approve"`` or ``"reject"``;
* ``notify`` — the notification (a Celery task taking ``task_id, user_ids``) sent, after commit,
  to the users who become resolvers of a task of its kind (``user_ids`` None: every resolver,
  e.g. the members of its queue).

optionally the hooks of its workspace task page (``page``, ``details``, ``comment``, ``actions``:
see ``register_task_kind``); and, for the subjects of its tasks, ``register_subject_kind`` — how the
typed link ``(Task.subject_kind, Task.subject_id)`` loads, names and links its objects — and
``register_subject_types`` — the type codes a task definition may be limited to (requests_workflow
registers its 20 request types).

Until they move here, the app that owns out-of-office delegations and request SLAs registers who
may decide a task (``register_task_access``), how a task is reassigned
(``register_task_reassigner``), the task API's subject fields (``register_task_api_fields``) and
the SLA assigner (``register_sla_assigner``). See docs/dev/worklist.md.

The worklist never imports the apps above it: they call ``register_task_kind`` and the worklist
services look the kind up here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

APPROVE, REJECT = "approve", "reject"
DECISIONS = (APPROVE, REJECT)


@dataclass(frozen=True)
class TaskKindHandler:
    """What the app owning a task kind tells the worklist (see the module docstring)."""

    decide: Callable[..., Any] | None = None
    notify: Any = None
    page: Callable[..., Any] | None = None
    details: Callable[..., dict[str, Any]] | None = None
    comment: Callable[..., Any] | None = None
    actions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)


_HANDLERS: dict[str, TaskKindHandler] = {}


def register_task_kind(
    kind: str,
    *,
    decide: Callable[..., Any] | None = None,
    notify: Any = None,
    page: Callable[..., Any] | None = None,
    details: Callable[..., dict[str, Any]] | None = None,
    comment: Callable[..., Any] | None = None,
    actions: Mapping[str, Callable[..., Any]] | None = None,
) -> None:
    """Register the owning app's hooks for ``kind`` (idempotent: ``ready()`` may run twice).

    The workspace task pages (``worklist.views.workspace``) use the page hooks: ``page(request,
    task)`` renders the task's page (what to decide, with the subject's details); ``details(request,
    task)`` reads the kind's extra decision fields from the approve form (a request's access period)
    and may raise ``ValidationFailed``; ``comment(actor=, source=, task=, text=, on_behalf_of=)``
    records a comment without deciding; ``actions`` maps the kind's own POST actions (a slug) to
    views ``(request, task, **url_kwargs)`` (manual provisioning: reveal the password, resolve)."""
    _HANDLERS[str(kind)] = TaskKindHandler(
        decide=decide, notify=notify, page=page, details=details, comment=comment, actions=dict(actions or {})
    )


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


_SUBJECT_TYPES: dict[str, StrOrPromise] = {}


def register_subject_types(choices: Iterable[tuple[str, StrOrPromise]]) -> None:
    """Add ``(code, label)`` pairs a task definition may be limited to (idempotent); the labels
    stay lazy, so each page shows them in its own language."""
    _SUBJECT_TYPES.update((str(code), label) for code, label in choices)


def subject_type_choices() -> list[tuple[str, StrOrPromise]]:
    """Every registered subject type, in the order registered: a form's choices, a list's labels."""
    return list(_SUBJECT_TYPES.items())


# --- subjects: what a task is about ---------------------------------------------------------------
# A task points at its subject through a typed link: ``Task.subject_kind`` (a kind registered
# here, e.g. "request", "provisioning_entry") and ``Task.subject_id`` (the owning app's object id).
# The owning app registers how to load, name and link its subjects; the worklist never imports it.


@dataclass(frozen=True)
class SubjectRef:
    """The typed link to a task's subject: a registered subject kind and the object's id."""

    kind: str
    id: int


@dataclass(frozen=True)
class SubjectKind:
    """How the app owning a kind of subject loads, names and links its objects."""

    noun: StrOrPromise
    resolve: Callable[[Collection[int]], Mapping[int, Any]]
    label: Callable[[Any], str]
    console_url: Callable[[Any], str | None] | None = None


_SUBJECT_KINDS: dict[str, SubjectKind] = {}


def register_subject_kind(
    kind: str,
    *,
    noun: StrOrPromise,
    resolve: Callable[[Collection[int]], Mapping[int, Any]],
    label: Callable[[Any], str],
    console_url: Callable[[Any], str | None] | None = None,
) -> None:
    """Register a kind of task subject (idempotent): ``noun`` names one ("Request"),
    ``resolve(ids)`` loads many at once (id -> object, missing ids left out), ``label(obj)`` says
    in a few words what it is, ``console_url(obj)`` is its console page (or None)."""
    _SUBJECT_KINDS[str(kind)] = SubjectKind(noun=noun, resolve=resolve, label=label, console_url=console_url)


def subject_kind(kind: str) -> SubjectKind | None:
    """The registration of ``kind`` (None: no app registered it)."""
    return _SUBJECT_KINDS.get(str(kind))


def subject_kind_choices() -> list[tuple[str, StrOrPromise]]:
    """Every registered subject kind as ``(kind, noun)``."""
    return [(kind, spec.noun) for kind, spec in _SUBJECT_KINDS.items()]


def subjects_resolve(refs: Iterable[SubjectRef]) -> dict[SubjectRef, Any]:
    """Load the subjects ``refs`` point at, one ``resolve`` call per kind; a ref whose kind is not
    registered, or whose object is gone, is left out."""
    ids: dict[str, set[int]] = {}
    for ref in refs:
        ids.setdefault(ref.kind, set()).add(ref.id)
    found: dict[SubjectRef, Any] = {}
    for kind, wanted in ids.items():
        spec = _SUBJECT_KINDS.get(kind)
        if spec is None:
            continue
        for pk, obj in spec.resolve(wanted).items():
            found[SubjectRef(kind, pk)] = obj
    return found


def subject_ref_text(ref: SubjectRef) -> str:
    """``Request #12``: the subject named by its kind's noun and its id."""
    spec = _SUBJECT_KINDS.get(ref.kind)
    return f"{spec.noun if spec else ref.kind} #{ref.id}"


def subject_label(ref: SubjectRef, obj: Any) -> str:
    """What the subject is, in a few words (its kind's ``label``; empty when unknown)."""
    spec = _SUBJECT_KINDS.get(ref.kind)
    return spec.label(obj) if spec is not None and obj is not None else ""


def subject_console_url(ref: SubjectRef, obj: Any) -> str | None:
    """The subject's console page, when its kind has one."""
    spec = _SUBJECT_KINDS.get(ref.kind)
    if spec is None or spec.console_url is None or obj is None:
        return None
    return spec.console_url(obj)


# --- who may decide tasks, reassigning them, what the API shows of their subject ------------------


@dataclass(frozen=True)
class TaskAccess:
    """Who may decide which tasks, as the app that owns out-of-office delegations answers it
    (requests_workflow registers its selectors): ``decider_filter(user)`` a ``Q`` over tasks,
    ``with_delegation(queryset, user)`` annotates ``delegated_from_id`` / ``delegation_id``,
    ``attach_delegators(tasks)`` sets ``task.delegated_from`` for a list."""

    decider_filter: Callable[[Any], Any]
    with_delegation: Callable[[Any, Any], Any]
    attach_delegators: Callable[[Iterable[Any]], list[Any]]


_ACCESS: list[TaskAccess] = []


def register_task_access(
    *,
    decider_filter: Callable[[Any], Any],
    with_delegation: Callable[[Any, Any], Any],
    attach_delegators: Callable[[Iterable[Any]], list[Any]],
) -> None:
    """Register who may decide tasks (idempotent: the last registration wins)."""
    _ACCESS[:] = [TaskAccess(decider_filter, with_delegation, attach_delegators)]


def task_access() -> TaskAccess | None:
    """The registered access rules (None: the worklist's own, assignees and queue members)."""
    return _ACCESS[0] if _ACCESS else None


_REASSIGNER: list[Callable[..., Any]] = []


def register_task_reassigner(reassign: Callable[..., Any]) -> None:
    """``reassign(actor=, source=, task=, to_user=, comment=)``: who may hand a task to whom, and
    what it is recorded on (idempotent: the last registration wins). Reassigning checks the
    subject's people (nobody approves their own request), so the subject's app provides it."""
    _REASSIGNER[:] = [reassign]


def task_reassigner() -> Callable[..., Any] | None:
    return _REASSIGNER[0] if _REASSIGNER else None


@dataclass(frozen=True)
class TaskApiFields:
    """Fields of the task API that describe the subject (``fields()`` builds fresh serializer
    fields, placed after ``request``) and the relations they read (``related``, for
    ``select_related``)."""

    fields: Callable[[], dict[str, Any]]
    related: tuple[str, ...] = ()


_API_FIELDS: dict[str, TaskApiFields] = {}


def register_task_api_fields(
    owner: str, *, fields: Callable[[], dict[str, Any]], related: Iterable[str] = ()
) -> None:
    """Add subject fields to ``/api/v1/tasks/`` (idempotent per ``owner``, the registering app)."""
    _API_FIELDS[str(owner)] = TaskApiFields(fields=fields, related=tuple(related))


def task_api_fields() -> list[TaskApiFields]:
    return list(_API_FIELDS.values())


# Context the owning apps add to every worklist page of the workspace (the request tabs show the
# cart's size): ``provider(request) -> dict``.
_PAGE_CONTEXT: dict[str, Callable[[Any], dict[str, Any]]] = {}


def register_page_context(owner: str, provider: Callable[[Any], dict[str, Any]]) -> None:
    """Add ``provider(request)``'s keys to the worklist's workspace pages (idempotent per owner)."""
    _PAGE_CONTEXT[str(owner)] = provider


def page_context(request: Any) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for provider in _PAGE_CONTEXT.values():
        context.update(provider(request))
    return context
