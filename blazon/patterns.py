"""Patterns administrators write (attribute definitions' ``regex``, the ``regex`` operator of
validation policy rules), evaluated with RE2.

Python's ``re`` backtracks: a pattern such as ``(a+)+$`` takes seconds at 26 characters and
doubles with each one more, so one attribute definition could stall every save of a user. RE2
(google-re2) matches in time linear in the text and refuses what it cannot do in linear time
(backreferences, lookarounds): such a pattern is refused when it is saved.
"""

from __future__ import annotations

import functools

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is reported to the administrator, not to stderr


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, options=_OPTIONS)


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used as an attribute pattern, or None when it can."""
    try:
        _compiled(pattern)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return (
            f"Not a valid regular expression: {detail}. Patterns use RE2 syntax, which is checked in "
            "linear time: no backreferences (\\1) or lookarounds ((?=…), (?!…), (?<=…))."
        )
    return None


def pattern_fullmatch(pattern: str, text: str) -> bool:
    """Whether the whole of ``text`` matches ``pattern``. Raises ``re2.error`` for a pattern
    ``pattern_problem`` refuses (one saved before patterns were checked with RE2)."""
    return _compiled(pattern).fullmatch(text) is not None
