"""The workspace home page's panels ("what needs me"), contributed by the apps that own the data.

The home page lives in the directory, the lowest app with pages, so it cannot import the apps
above it (worklist, requests, certification…). Each of those registers a panel in its
``AppConfig.ready``: a template and a function that builds the panel's context for the person
looking at the page (``None`` to show nothing, e.g. "My team" for someone who manages nobody).
Panels are shown by ``order``, lowest first. A panel's builder must be cheap: a couple of
queries, never one per row (the page is everyone's landing page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PanelBuilder = Callable[[Any], dict[str, Any] | None]


@dataclass(frozen=True)
class HomePanel:
    key: str
    order: int
    template: str
    build: PanelBuilder


_PANELS: dict[str, HomePanel] = {}


def register_home_panel(key: str, *, order: int, template: str, build: PanelBuilder) -> None:
    """Add (or replace, by ``key``) a panel of the workspace home page."""
    _PANELS[key] = HomePanel(key, order, template, build)


def home_panels(user: Any) -> list[tuple[str, dict[str, Any]]]:
    """The panels to show ``user``: (template, context) pairs in order; builders that return
    ``None`` are left out."""
    shown = []
    for panel in sorted(_PANELS.values(), key=lambda p: (p.order, p.key)):
        context = panel.build(user)
        if context is not None:
            shown.append((panel.template, context))
    return shown
