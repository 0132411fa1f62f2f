"""Every console and workspace page reads as words, not as Python: an administrator and an
employee follow every link (one page per kind of address) of a directory with history, and no
page shows a dict or list repr, an object repr, or ``None``/``True``/``False`` as a value."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from django.urls import reverse

from directory.models import AttributeDefinition, AttributeScope
from tests.console.conftest import logged_in
from tests.e2e import data

pytestmark = pytest.mark.django_db

MAX_PAGES = 300
SKIP = re.compile(r"/logout|export=|\.(csv|xml|json|pem|txt)(\?|$)|/download|/result/?$|^/api/|^/o/|^/sso/")
DISTINCT_VALUES = {"tab", "queue", "status"}
#: What Python leaks into a page: reprs of dicts, lists and objects, and bare None/True/False.
LEAKS = [
    (re.compile(r"\{'[^']*':"), "a dict repr"),
    (re.compile(r"\['[^']*'[,\]]"), "a list repr"),
    (re.compile(r"<[\w.]+ object at 0x"), "an object repr"),
    # a value on its own (a cell, a property): "None selected" or "None (workspace only)" are words
    (re.compile(r"(?m)^[ \t]*(None|True|False)[ \t]*$"), "None/True/False shown as a value"),
]


def _kind(url: str) -> str:
    parts = urlsplit(url)
    path = re.sub(r"/\d+(?=/|$)", "/N", parts.path)
    query = sorted(
        f"{k}={v}" if k in DISTINCT_VALUES else k for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return path + "?" + "&".join(query)


def _text(html: str) -> str:
    """What a person reads: the page without scripts, tags and attribute values."""
    html = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", html)
    html = re.sub(r"(?s)<!--.*?-->", " ", html)
    return unescape(re.sub(r"(?s)<[^>]*>", "\n", html))


def python_leaks(text: str) -> list[str]:
    found = []
    for pattern, what in LEAKS:
        for m in pattern.finditer(text):
            line = text[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ").strip()
            found.append(f"{what}: …{line}…")
    return found


def crawl(
    client,
    roots: list[str],
    prefixes: tuple[str, ...],
    at_least: int,
    check: Callable[[str], list[str]] = python_leaks,
    limit: int = 3,
    text: Callable[[str], str] = lambda html: _text(html),
) -> dict[str, list[str]]:
    """Follow the links of every page under ``prefixes`` (one page per kind of address) and
    return, per page, what ``check`` found in its text (``limit`` findings a page)."""
    queue, seen, problems = list(roots), {_kind(u) for u in roots}, {}
    visited = 0
    while queue and visited < MAX_PAGES:
        url = queue.pop(0)
        response = client.get(url)
        visited += 1
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        found = check(text(html))
        if found:
            problems[url] = found[:limit]
        for href in re.findall(r'href="([^"#]+)"', html):
            href = unescape(href)
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.netloc not in ("", "testserver"):
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if not path.startswith(prefixes) or SKIP.search(path):
                continue
            kind = _kind(path)
            if kind not in seen:
                seen.add(kind)
                queue.append(path)
    assert visited >= at_least, f"the crawl reached only {visited} pages"
    return problems


def test_console_pages_show_no_python(settings):
    world = data.build(rich=True)
    client = logged_in(world["admin"])
    problems = crawl(client, ["/console/"], ("/console/",), at_least=60)
    assert problems == {}, "\n".join(f"{url}: {found}" for url, found in problems.items())


def test_workspace_pages_show_no_python(settings):
    world = data.build(rich=True)
    employee = next(u for u in world["users"].values() if u.username != "admin")
    problems = crawl(logged_in(employee), ["/workspace/"], ("/workspace/",), at_least=10)
    assert problems == {}, "\n".join(f"{url}: {found}" for url, found in problems.items())


def test_attributes_show_their_labels_and_readable_values(admin, world):
    AttributeDefinition.objects.create(scope=AttributeScope.USER, name="cost_center", label="Cost center")
    AttributeDefinition.objects.create(
        scope=AttributeScope.USER, name="contractor", label="Contractor", type="BOOLEAN"
    )
    bob = world["bob"]
    bob.attributes = {"cost_center": "CC-7", "contractor": False}
    bob.save(update_fields=["attributes"])
    body = admin.get(reverse("console:user_detail", args=[bob.pk])).content.decode()
    assert "<dt>Cost center</dt><dd>CC-7</dd>" in body and "<dt>Contractor</dt><dd>No</dd>" in body
    assert "cost_center" not in body and ">False<" not in body
    home = logged_in(bob).get(reverse("workspace:home")).content.decode()
    assert "<dt>Contractor</dt><dd>No</dd>" in home and ">False<" not in home
