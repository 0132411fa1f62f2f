"""What higher apps plug into the outbox at start-up (the kernel imports none of them):

* **handlers** (``register_handler``): the work behind an outbox ``kind``. Every handler must
  be idempotent (a row can be delivered twice: a worker killed after the commit, a lease run
  out) and say so in its docstring. ``blazon_task`` registers each project task under its
  Celery name, so ``enqueue_on_commit(task, ...)`` is durable for every task.
* **stuck-work sweeps** (``register_sweep``): an app whose objects sit in an intermediate state
  (a request NEW, a role change RUNNING, …) says how to count those older than an age and how
  to re-drive them; the periodic sweep, ``manage.py status``, ``/readyz`` and the dashboard
  use them.
* **status probes** (``register_probe``): a line of health for ``manage.py status`` (adapters).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps

logger = logging.getLogger("blazon.outbox")


@dataclass(frozen=True)
class Handler:
    kind: str
    func: Callable[..., Any]
    #: True: run inside the delivery's transaction, which also marks the row done, so the
    #: handler's writes and "done" commit together. False (long, multi-transaction work such
    #: as an import): the row is leased, the handler runs on its own, then the row is marked.
    atomic: bool = True
    #: How long a delivery may take before the row is handed out again (None: the default).
    lease_seconds: int | None = None


@dataclass(frozen=True)
class Sweep:
    name: str
    label: str
    #: ``count(older_than)``: how many objects are stuck (in that state since before it).
    count: Callable[[datetime], int]
    #: ``redrive(older_than, limit)``: re-drive up to ``limit`` of them; how many were.
    redrive: Callable[[datetime, int], int]


_handlers: dict[str, Handler] = {}
_sweeps: dict[str, Sweep] = {}
_probes: dict[str, Callable[[], list[str]]] = {}
_discovered = False


def register_handler(
    kind: str, func: Callable[..., Any], *, atomic: bool = True, lease_seconds: int | None = None
) -> None:
    """Register the idempotent handler of ``kind`` (once per process; the last one wins)."""
    _handlers[kind] = Handler(kind=kind, func=func, atomic=atomic, lease_seconds=lease_seconds)


def handler(kind: str) -> Handler | None:
    """The handler of ``kind``; the apps' task modules are imported once if it is unknown (a
    process that never imported them, such as a relay run from ``manage.py``)."""
    global _discovered
    if kind not in _handlers and not _discovered:
        _discovered = True
        for config in apps.get_app_configs():
            try:
                importlib.import_module(f"{config.name}.tasks")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.tasks":
                    raise
    return _handlers.get(kind)


def handlers() -> dict[str, Handler]:
    handler("")  # discover
    return dict(_handlers)


def register_sweep(
    name: str,
    *,
    label: str,
    count: Callable[[datetime], int],
    redrive: Callable[[datetime, int], int],
) -> None:
    """Register a stuck-work sweep (an app's ``AppConfig.ready``)."""
    _sweeps[name] = Sweep(name=name, label=label, count=count, redrive=redrive)


def sweeps() -> list[Sweep]:
    return list(_sweeps.values())


def register_probe(name: str, probe: Callable[[], list[str]]) -> None:
    """Register a status probe: lines describing a component's health (``manage.py status``)."""
    _probes[name] = probe


def probes() -> dict[str, Callable[[], list[str]]]:
    return dict(_probes)
