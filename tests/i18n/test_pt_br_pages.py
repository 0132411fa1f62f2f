"""Every console and workspace page in Brazilian Portuguese, crawled like the readable-pages
test (tests/console/test_readable_pages.py), reporting the lines still in English.

A page that shows a line of English (tests/i18n/english.py says how it decides: data names,
codes, quoted code and code samples are not language) fails the test, with the lines listed.
"""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import logged_in
from tests.console.test_readable_pages import _text, crawl
from tests.e2e import data
from tests.i18n.english import data_names, english_lines

pytestmark = pytest.mark.django_db


def _words(html: str) -> str:
    """What a person reads, without the code samples (``<code>``, ``<pre>``, ``<kbd>``, ``<samp>``)."""
    return _text(re.sub(r"(?is)<(code|pre|kbd|samp)\b.*?</\1>", " ", html))


def _report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{url}:\n    " + "\n    ".join(found) for url, found in problems.items())


def test_console_pages_in_portuguese():
    world = data.build(rich=True)
    names = data_names()
    client = logged_in(world["admin"], HTTP_ACCEPT_LANGUAGE="pt-BR")
    problems = crawl(
        client, ["/console/"], ("/console/",), 60, lambda t: english_lines(t, names), limit=20, text=_words
    )
    assert problems == {}, _report(problems)


def test_workspace_pages_in_portuguese():
    world = data.build(rich=True)
    names = data_names()
    employee = next(u for u in world["users"].values() if u.username != "admin")
    client = logged_in(employee, HTTP_ACCEPT_LANGUAGE="pt-BR")
    problems = crawl(
        client, ["/workspace/"], ("/workspace/",), 10, lambda t: english_lines(t, names), limit=20
    )
    assert problems == {}, _report(problems)
