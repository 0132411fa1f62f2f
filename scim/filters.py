"""The SCIM filter grammar (RFC 7644 §3.4.2.2) parsed into a small tree, compiled to a Django
``Q`` (lists and searches: the database filters, never Python over all rows) or evaluated on
one resource's JSON (PATCH value filters, §3.5.2).

Precedence, highest first: ``not ( … )`` and parentheses, ``and``, ``or``. Attribute names and
operators are case-insensitive; a name may carry its schema URN
(``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from scim.errors import ScimError, invalid_filter

COMPARE_OPS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 50

_TOKEN = re.compile(r'\s*(?:(?P<punct>[()\[\]])|(?P<string>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()\[\]"]+))')
_ATTRNAME = re.compile(r"[A-Za-z$][\w$-]*")


@dataclass(frozen=True)
class Compare:
    attr: str  # canonical lower-case path: "username", "name.givenname", "emails.value"
    op: str
    value: Any


@dataclass(frozen=True)
class Present:
    attr: str


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    node: Node


Node = Union[Compare, Present, And, Or, Not]  # noqa: UP007 (a runtime alias of dataclasses)


def split_urn(raw: str, urns: tuple[str, ...]) -> tuple[str | None, str]:
    """(schema URN or None, attribute path) of ``raw``; an unknown ``urn:`` prefix is refused."""
    lower = raw.lower()
    for urn in sorted(urns, key=len, reverse=True):
        if lower.startswith(urn.lower() + ":"):
            return urn, raw[len(urn) + 1 :]
        if lower == urn.lower():
            return urn, ""
    if lower.startswith("urn:"):
        raise ScimError(400, f"Unknown schema in {raw!r}.", "invalidPath")
    return None, raw


def attr_path(raw: str, urns: tuple[str, ...], parent: str = "") -> str:
    """The canonical lower-case dotted path of an attribute name (``name.givenName``)."""
    __, path = split_urn(raw, urns)
    parts = path.split(".")
    if not path or len(parts) > 2 or not all(_ATTRNAME.fullmatch(p) for p in parts):
        raise invalid_filter(f"{raw!r} is not an attribute name.")
    if parent:
        if len(parts) > 1:
            raise invalid_filter(f"{raw!r}: a value filter names sub-attributes of {parent}.")
        return f"{parent}.{path.lower()}"
    return path.lower()


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise invalid_filter(f"Cannot read the filter at position {pos}.")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _literal(kind: str, raw: str) -> Any:
    if kind == "string":
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise invalid_filter(f"Bad string {raw}.") from exc
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", raw):
        return float(raw)
    raise invalid_filter(f"{raw!r} is not a value (a JSON string, number, true, false or null).")


class _Parser:
    def __init__(self, text: str, urns: tuple[str, ...]):
        if len(text) > MAX_FILTER_LENGTH:
            raise invalid_filter(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
        self.tokens = _tokens(text)
        self.pos = 0
        self.urns = urns
        self.depth = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise invalid_filter("The filter ends too early.")
        self.pos += 1
        return tok

    def expect(self, punct: str) -> None:
        kind, value = self.take()
        if kind != "punct" or value != punct:
            raise invalid_filter(f"Expected {punct!r}, found {value!r}.")

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() == word

    def parse(self) -> Node:
        if not self.tokens:
            raise invalid_filter("The filter is empty.")
        node = self.or_(parent="")
        if self.peek() is not None:
            raise invalid_filter(f"Unexpected {self.peek()[1]!r} in the filter.")  # type: ignore[index]
        return node

    def or_(self, parent: str) -> Node:
        node = self.and_(parent)
        while self.keyword("or"):
            self.take()
            node = Or(node, self.and_(parent))
        return node

    def and_(self, parent: str) -> Node:
        node = self.unary(parent)
        while self.keyword("and"):
            self.take()
            node = And(node, self.unary(parent))
        return node

    def unary(self, parent: str) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise invalid_filter("The filter nests too deeply.")
        try:
            tok = self.peek()
            if tok == ("punct", "("):
                self.take()
                node = self.or_(parent)
                self.expect(")")
                return node
            if self.keyword("not"):
                self.take()
                self.expect("(")
                inner = self.or_(parent)
                self.expect(")")
                return Not(inner)
            return self.attr_exp(parent)
        finally:
            self.depth -= 1

    def attr_exp(self, parent: str) -> Node:
        kind, raw = self.take()
        if kind != "word":
            raise invalid_filter(f"Expected an attribute name, found {raw!r}.")
        path = attr_path(raw, self.urns, parent)
        if self.peek() == ("punct", "["):
            if parent:
                raise invalid_filter("A value filter cannot hold another one.")
            if "." in path:
                raise invalid_filter(f"{raw!r}: a value filter follows a complex attribute.")
            self.take()
            node = self.or_(parent=path)
            self.expect("]")
            return node
        op_tok = self.take()
        op = op_tok[1].lower()
        if op_tok[0] != "word":
            raise invalid_filter(f"Expected an operator after {raw!r}.")
        if op == "pr":
            return Present(path)
        if op not in COMPARE_OPS:
            raise invalid_filter(f"Unknown operator {op_tok[1]!r}.")
        value_tok = self.peek()
        if value_tok is None or value_tok[0] == "punct":
            raise invalid_filter(f"{raw} {op} needs a value.")
        self.take()
        value = _literal(*value_tok)
        if op in ("co", "sw", "ew") and not isinstance(value, str):
            raise invalid_filter(f"{op} compares text.")
        if op in ("gt", "ge", "lt", "le") and (value is None or isinstance(value, bool)):
            raise invalid_filter(f"{op} compares text, numbers or dates.")
        return Compare(path, op, value)


def parse_filter(text: str, urns: tuple[str, ...]) -> Node:
    """The tree of ``text``; ``ScimError`` (400 invalidFilter) when it is not a filter."""
    return _Parser(text, urns).parse()


# --- compiling to Q -------------------------------------------------------------------------

QBuilder = Callable[[str, Any], Q]
NOTHING = Q(pk__in=[])


def text_field(lookup: str, *, case_exact: bool = False) -> QBuilder:
    """A text column: eq/ne/co/sw/ew case-insensitive unless ``case_exact``."""
    i = "" if case_exact else "i"

    def build(op: str, value: Any) -> Q:
        if op == "pr":
            return Q(**{f"{lookup}__isnull": False}) & ~Q(**{lookup: ""})
        if value is None:
            empty = Q(**{f"{lookup}__isnull": True}) | Q(**{lookup: ""})
            return empty if op == "eq" else ~empty
        value = str(value)
        if op in ("eq", "ne"):
            q = Q(**{f"{lookup}__{i}exact": value})
            return q if op == "eq" else ~q
        suffix = {"co": "contains", "sw": "startswith", "ew": "endswith"}.get(op)
        if suffix:
            return Q(**{f"{lookup}__{i}{suffix}": value})
        return Q(**{f"{lookup}__{op.replace('ge', 'gte').replace('le', 'lte')}": value})

    return build


def value_field(lookup: str, convert: Callable[[Any], Any]) -> QBuilder:
    """A typed column (numbers, dates, booleans, ids): the value converted; one that cannot be
    is ``invalidFilter`` (eq/ne on an id that cannot exist matches nothing)."""

    def build(op: str, value: Any) -> Q:
        if op == "pr":
            return Q(**{f"{lookup}__isnull": False})
        if value is None:
            q = Q(**{f"{lookup}__isnull": True})
            return q if op == "eq" else ~q
        if op in ("co", "sw", "ew"):
            raise invalid_filter(f"{op} does not apply to this attribute.")
        try:
            converted = convert(value)
        except (TypeError, ValueError) as exc:
            raise invalid_filter(f"{value!r} does not fit this attribute.") from exc
        if converted is _NO_MATCH:
            return NOTHING if op == "eq" else ~NOTHING if op == "ne" else NOTHING
        if op in ("eq", "ne"):
            q = Q(**{lookup: converted})
            return q if op == "eq" else ~q
        return Q(**{f"{lookup}__{op.replace('ge', 'gte').replace('le', 'lte')}": converted})

    return build


_NO_MATCH = object()


def as_id(value: Any) -> Any:
    """SCIM ids are strings; Blazon's are integers: one that is no integer matches nothing."""
    text = str(value)
    return int(text) if text.isdigit() and len(text) < 19 else _NO_MATCH


def as_datetime(value: Any) -> datetime:
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(value)
    return parsed


def as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


def compile_q(node: Node, fields: dict[str, QBuilder]) -> Q:
    """The ``Q`` of a filter over the attributes ``fields`` maps (path -> Q builder)."""
    if isinstance(node, And):
        return compile_q(node.left, fields) & compile_q(node.right, fields)
    if isinstance(node, Or):
        return compile_q(node.left, fields) | compile_q(node.right, fields)
    if isinstance(node, Not):
        return ~compile_q(node.node, fields)
    builder = fields.get(node.attr) or fields.get(f"{node.attr}.value")
    if builder is None:
        raise invalid_filter(f"Cannot filter on {node.attr!r}.")
    if isinstance(node, Present):
        return builder("pr", None)
    return builder(node.op, node.value)


# --- evaluating on one resource (PATCH value filters) ---------------------------------------


def _values(item: Any, attr: str) -> Iterator[Any]:
    """The values of ``attr`` (the part after the value path's attribute) in one element."""
    value = item
    for part in attr.split("."):
        if not isinstance(value, dict):
            return
        value = next((v for k, v in value.items() if k.lower() == part), None)
    if isinstance(value, list):
        yield from value
    elif value is not None:
        yield value


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        a, e = actual.lower(), expected.lower()
    else:
        a, e = actual, expected
    try:
        return {
            "eq": lambda: a == e,
            "ne": lambda: a != e,
            "co": lambda: isinstance(a, str) and e in a,
            "sw": lambda: isinstance(a, str) and a.startswith(e),
            "ew": lambda: isinstance(a, str) and a.endswith(e),
            "gt": lambda: a > e,
            "ge": lambda: a >= e,
            "lt": lambda: a < e,
            "le": lambda: a <= e,
        }[op]()
    except TypeError:
        return False


def matches(node: Node, item: dict[str, Any], prefix: str) -> bool:
    """Whether one element of a multi-valued attribute (``prefix``, e.g. "emails") matches."""
    if isinstance(node, And):
        return matches(node.left, item, prefix) and matches(node.right, item, prefix)
    if isinstance(node, Or):
        return matches(node.left, item, prefix) or matches(node.right, item, prefix)
    if isinstance(node, Not):
        return not matches(node.node, item, prefix)
    attr = node.attr.removeprefix(prefix + ".") if node.attr.startswith(prefix + ".") else node.attr
    found = list(_values(item, attr))
    if isinstance(node, Present):
        return any(v not in ("", None) for v in found)
    if node.value is None:
        return (not found) if node.op == "eq" else bool(found)
    if node.op == "ne":
        return not any(_compare(v, "eq", node.value) for v in found)
    return any(_compare(v, node.op, node.value) for v in found)
