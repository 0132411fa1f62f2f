"""Every e-mail template renders in Brazilian Portuguese with no English left (the data it is
given is Portuguese here, so whatever English remains comes from the template itself)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from tests.console.test_readable_pages import _text
from tests.i18n.english import english_lines

EMAIL_DIR = Path(settings.BASE_DIR) / "templates" / "email"


def _person(username: str, full_name: str) -> SimpleNamespace:
    return SimpleNamespace(username=username, get_full_name=full_name)


def _contexts() -> list[dict]:
    """Several shapes of each e-mail: with and without an end date, a delegate, a title..."""
    req = SimpleNamespace(
        pk=42,
        type="GRANT_ENTITLEMENT",
        get_type_display="Conceder direito",
        get_status_display="Aprovada",
        requester=_person("ana", "Ana Souza"),
        justification="Preciso para o fechamento do mês",
        start_at=datetime(2026, 12, 8, 14, 5, tzinfo=UTC),
        end_at=datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
    )
    open_ended = SimpleNamespace(**{**vars(req), "start_at": None, "end_at": None, "requester": None})
    task = SimpleNamespace(
        pk=7,
        level=1,
        title="Aprovar acesso ao SAP",
        get_kind_display="Aprovação",
        due_at=datetime(2026, 12, 9, 9, 0, tzinfo=UTC),
    )
    untitled = SimpleNamespace(pk=8, level=2, title="", get_kind_display="Aprovação", due_at=None)
    common = {
        "what": "Financeiro (SAP)",
        "beneficiary_name": "Bruno Lima",
        "approver": _person("carla", "Carla Dias"),
        "user": _person("bruno", "Bruno Lima"),
        "approve_url": "https://blazon.example/approvals/a/",
        "reject_url": "https://blazon.example/approvals/r/",
        "detail_url": "https://blazon.example/workspace/requests/42/",
        "base_url": "https://blazon.example",
        "hours": 72,
        "outcome": "aprovada",
        "detail": "",
    }
    return [
        {**common, "req": req, "task": task, "on_behalf_of": ""},
        {
            **common,
            "req": open_ended,
            "task": untitled,
            "on_behalf_of": "Davi Rocha",
            "detail": "Tudo certo.",
        },
    ]


def test_every_email_template_renders_in_portuguese():
    names = sorted(p.name for p in EMAIL_DIR.iterdir() if p.suffix in {".txt", ".html"})
    assert len(names) >= 5, names
    data = [
        "Ana Souza",
        "Bruno Lima",
        "Carla Dias",
        "Davi Rocha",
        "Financeiro (SAP)",
        "Aprovar acesso ao SAP",
    ]
    problems = {}
    for name in names:
        for context in _contexts():
            with translation.override("pt-br"):
                text = render_to_string(f"email/{name}", context)
            # what the recipient reads: no tags, and no addresses (their paths are English)
            readable = _text(text) if name.endswith(".html") else text
            found = english_lines(re.sub(r"https?://\S+", " ", readable), data)
            if found:
                problems[name] = found
            assert "Olá" in text, name
    assert problems == {}, problems


def test_the_english_emails_stay_english():
    context = _contexts()[0]
    with translation.override("en"):
        text = render_to_string("email/approval_request.txt", context)
    assert text.startswith("Hello Carla Dias,\n\nRequest #42 needs your approval (level 1).")
    assert "Access period: 2026-12-08 14:05 - 2026-12-31 23:59" in text
    with translation.override("pt-br"):
        text = render_to_string("email/approval_request.txt", context)
    assert "Período de acesso: 08/12/2026 14:05 - 31/12/2026 23:59" in text
