"""Values computed from a source row: ``{[field]}`` templates (fixed, dynamic, mixed) and the
sandboxed expression language of computed mappings (the seed's BeanShell scripts).

Expressions run on simpleeval: arithmetic, comparisons, ``x if c else y``, string literals, the
row's fields as names (or ``field("Name with spaces")``) and the functions below — no imports,
no attribute access to ``__dunder__`` names, no loops or comprehensions, so an expression ends in
bounded time; its text is limited to ``MAX_EXPRESSION`` characters and every string it builds to
``MAX_STRING`` characters. It never reaches ``eval`` or ``exec``. A failing expression raises
``ExpressionError`` with a message that says why.
"""

from __future__ import annotations

import ast
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import simpleeval  # type: ignore[import-untyped]  # no stubs, no py.typed

TEMPLATE_FIELD = re.compile(r"\{\[([^\[\]{}]+)\]\}")
MAX_EXPRESSION = 1000
MAX_STRING = 10_000
TIME_LIMIT_SECONDS = 0.05


class ExpressionError(ValueError):
    """A template or an expression cannot give a value for this row."""


def template_fields(template: str) -> list[str]:
    """The source fields a ``{[field]}`` template names."""
    return [m.strip() for m in TEMPLATE_FIELD.findall(template or "")]


def render(template: str, row: Mapping[str, Any], *, strict: bool = False) -> str:
    """The template with each ``{[field]}`` replaced by the row's value (a missing field is
    empty, or an ``ExpressionError`` when ``strict``)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in row:
            if strict:
                raise ExpressionError(f"The source row has no field {name!r}.")
            return ""
        got = row[name]
        return "" if got is None else str(got)

    return TEMPLATE_FIELD.sub(value, template or "").strip()


def _ascii(text: Any) -> str:
    return unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")


def _functions(row: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
    def field(name: str, default: str = "") -> Any:
        return row.get(str(name), default)

    return {
        "field": field,
        "lower": lambda s: str(s).lower(),
        "upper": lambda s: str(s).upper(),
        "title": lambda s: str(s).title(),
        "strip": lambda s: str(s).strip(),
        "ascii": _ascii,
        "len": lambda s: len(str(s)),
        "str": str,
        "int": int,
        "left": lambda s, n: str(s)[: int(n)],
        "right": lambda s, n: str(s)[-int(n) :] if int(n) else "",
        "replace": lambda s, old, new: str(s).replace(str(old), str(new)),
        "concat": lambda *parts: "".join(str(p) for p in parts),
        "default": lambda s, d: s if s not in (None, "") else d,
        "split": lambda s, sep, i: (str(s).split(str(sep)) + [""] * (int(i) + 1))[int(i)],
    }


def _evaluator(row: Mapping[str, Any]) -> simpleeval.SimpleEval:
    names = {k: v for k, v in row.items() if isinstance(k, str) and k.isidentifier()}
    evaluator = simpleeval.SimpleEval(functions=_functions(row), names=names)
    # nothing but the functions above: no method calls on values ("x".format(...) and the like)
    for node in (ast.Attribute, ast.Assign, ast.AugAssign, ast.Import):
        evaluator.nodes.pop(node, None)
    return evaluator


def expression_check(expression: str) -> None:
    """Refuse an expression that cannot run on any row (syntax, forbidden constructs)."""
    if not (expression or "").strip():
        raise ExpressionError("The expression is empty.")
    if len(expression) > MAX_EXPRESSION:
        raise ExpressionError(f"The expression is longer than {MAX_EXPRESSION} characters.")
    try:
        simpleeval.SimpleEval().parse(expression)
    except SyntaxError as exc:
        raise ExpressionError(f"The expression is not valid: {exc.msg} (column {exc.offset}).") from None


def evaluate(expression: str, row: Mapping[str, Any]) -> str:
    """The value of ``expression`` for ``row``, as text (None gives "")."""
    expression_check(expression)
    started = time.monotonic()
    old_limit = simpleeval.MAX_STRING_LENGTH
    simpleeval.MAX_STRING_LENGTH = MAX_STRING
    try:
        value = _evaluator(row).eval(expression)
    except simpleeval.NameNotDefined as exc:
        raise ExpressionError(f"Unknown name {exc.name!r}: use a source field or field('name').") from None
    except simpleeval.FunctionNotDefined as exc:
        raise ExpressionError(f"Unknown function {exc.func_name!r}.") from None
    except simpleeval.FeatureNotAvailable as exc:
        raise ExpressionError(f"Not allowed in an expression: {exc}") from None
    except simpleeval.IterableTooLong:
        raise ExpressionError(f"The expression builds a value longer than {MAX_STRING} characters.") from None
    except simpleeval.InvalidExpression as exc:
        raise ExpressionError(f"The expression cannot be evaluated: {exc}") from None
    except (TypeError, ValueError, ZeroDivisionError, IndexError, KeyError, OverflowError) as exc:
        raise ExpressionError(f"The expression failed on this row: {type(exc).__name__}: {exc}") from None
    except SyntaxError as exc:
        raise ExpressionError(f"The expression is not valid: {exc.msg}.") from None
    finally:
        simpleeval.MAX_STRING_LENGTH = old_limit
    if time.monotonic() - started > TIME_LIMIT_SECONDS:
        raise ExpressionError(f"The expression took longer than {TIME_LIMIT_SECONDS * 1000:.0f} ms.")
    text = "" if value is None else str(value)
    if len(text) > MAX_STRING:
        raise ExpressionError(f"The expression gives a value longer than {MAX_STRING} characters.")
    return text
