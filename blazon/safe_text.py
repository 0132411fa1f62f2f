"""Text Blazon accepts from outside: no NUL characters, no lone surrogates, bounded nesting.

PostgreSQL cannot store a NUL (``\\x00``) in a text column and a lone surrogate
(``\\ud800``–``\\udfff``, which JSON's ``\\u`` escapes can produce) cannot be encoded as UTF-8,
so either one used to reach the database and end as a 500 (``DataError``). They are refused once,
where input enters: the API's parsers and the request middleware (query strings, paths, form
posts) call ``unsafe_text_problem``; CSV imports call ``text_problem`` per cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MAX_JSON_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be accepted (a sentence fragment), or None when it can."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which is not allowed"
    if _SURROGATE.search(value):
        return "contains a lone surrogate (\\ud800-\\udfff: not valid Unicode), which is not allowed"
    return None


def unsafe_text_problem(data: Any, root: str = "body") -> str | None:
    """The first problem found in a parsed document (dicts, lists, strings, keys included), as a
    message naming where it is (``body.payload.changes.department``), or None.

    Iterative on purpose: a document nested thousands of levels deep is refused, not recursed into.
    """
    stack: list[tuple[str, Any, int]] = [(root, data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep, which is not allowed."
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return f"The text at {path} {problem}."
        elif isinstance(value, dict):
            for key, item in value.items():
                key_text = str(key)
                problem = text_problem(key_text)
                if problem:
                    return f"A field name in {path} {problem}."
                stack.append((f"{path}.{key_text}", item, depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))
    return None


def query_problem(pairs: Iterable[tuple[str, str]], where: str) -> str | None:
    """The first problem in (name, value) pairs of a query string or form, or None."""
    for name, value in pairs:
        problem = text_problem(name)
        if problem:
            return f"A {where} name {problem}."
        problem = text_problem(value)
        if problem:
            return f"The {where} {name!r} {problem}."
    return None
