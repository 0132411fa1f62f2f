"""Panels of the landing pages — the workspace home ("what needs me") and the console dashboard
("what needs attention") — contributed by the apps that own the data.

Both pages live in the directory, the lowest app with pages, so they cannot import the apps above
it (worklist, requests, provisioning, certification…). Each of those registers a panel in its
``AppConfig.ready``: the page it goes on, a template and a function that builds the panel's
context for the person looking at the page (``None`` to show nothing, e.g. "My team" for someone
who manages nobody). Panels are shown by ``order``, lowest first; the template sees the context
as ``p``. A builder must be cheap: a few aggregate queries, never one per row (these are
everyone's landing pages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The pages panels go on.
WORKSPACE_HOME = "workspace_home"
CONSOLE_DASHBOARD = "console_dashboard"

PanelBuilder = Callable[[Any], dict[str, Any] | None]


@dataclass(frozen=True)
class Panel:
    page: str
    key: str
    order: int
    template: str
    build: PanelBuilder


_PANELS: dict[tuple[str, str], Panel] = {}


def register_panel(page: str, key: str, *, order: int, template: str, build: PanelBuilder) -> None:
    """Add (or replace, by ``page`` and ``key``) a panel of a landing page."""
    if page not in (WORKSPACE_HOME, CONSOLE_DASHBOARD):
        raise ValueError(f"unknown page {page!r}")
    _PANELS[(page, key)] = Panel(page, key, order, template, build)


def panels(page: str, user: Any) -> list[tuple[str, dict[str, Any]]]:
    """The panels of ``page`` to show ``user``: (template, context) pairs in order; builders
    that return ``None`` are left out."""
    shown = []
    for panel in sorted((p for p in _PANELS.values() if p.page == page), key=lambda p: (p.order, p.key)):
        context = panel.build(user)
        if context is not None:
            shown.append((panel.template, context))
    return shown
