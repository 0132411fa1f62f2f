"""The username policy: the placeholders a pattern may use and the first free username it
produces for a name (docs/users.md)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping

from django.db.models import Q
from django.db.models.functions import Lower

from blazon.errors import ValidationFailed
from directory.models import User, UsernamePolicy
from directory.selectors import username_policy_active
from directory.services.config import USERNAME_PLACEHOLDERS

#: Words left out of ``{middle}`` / ``{middle_initial}`` when they are derived from the names.
NAME_PARTICLES = frozenset(
    {"da", "das", "de", "del", "der", "di", "do", "dos", "du", "e", "la", "le", "van", "von", "y"}
)
#: Characters a generated username may contain (a subset of what Django's validator accepts).
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._@+-]")
_REPEATED_SEPARATORS = re.compile(r"([._@+-])[._@+-]+")
_SEPARATORS = "._@+-"
USERNAME_MAX_LENGTH: int = User._meta.get_field("username").max_length or 150


def ascii_fold(text: str) -> str:
    """``"João Conceição"`` → ``"Joao Conceicao"``: accents removed, ligatures expanded."""
    text = text.replace("ß", "ss").replace("æ", "ae").replace("Æ", "AE").replace("ø", "o").replace("Ø", "O")
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("ł", "l").replace("Ł", "L").replace("đ", "d")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(name: str) -> list[str]:
    """The words of a name, folded to ASCII letters and digits only (``O'Brien`` → ``OBrien``)."""
    out = []
    for word in ascii_fold(name or "").split():
        word = re.sub(r"[^A-Za-z0-9]", "", word)
        if word:
            out.append(word)
    return out


def username_placeholders(*, first_name: str, last_name: str, middle_name: str = "") -> dict[str, str]:
    """The values of the placeholders a username pattern may use (see docs/users.md)."""
    first_words, last_words = _words(first_name), _words(last_name)
    first = first_words[0] if first_words else ""
    last = last_words[-1] if last_words else ""
    if middle_name.strip():
        middle_words = _words(middle_name)
    else:  # "João Pedro" "Conceição Silva" → first joao, middle pedro, last silva
        middle_words = [w for w in first_words[1:] + last_words[:-1] if w.lower() not in NAME_PARTICLES]
    middle = middle_words[0] if middle_words else ""
    values = {
        "first": first,
        "last": last,
        "middle": middle,
        "f": first[:1],
        "l": last[:1],
        "middle_initial": middle[:1],
    }
    assert set(values) == USERNAME_PLACEHOLDERS  # noqa: S101 - keeps config's validation in step
    return values


def _policy_active() -> UsernamePolicy:
    return username_policy_active()


def _max_length(policy: UsernamePolicy) -> int:
    return max(1, min(policy.max_length or USERNAME_MAX_LENGTH, USERNAME_MAX_LENGTH))


def _tidy(candidate: str, policy: UsernamePolicy, max_length: int) -> str:
    candidate = _NOT_ALLOWED.sub("", candidate)
    candidate = _REPEATED_SEPARATORS.sub(r"\1", candidate)
    if policy.lowercase:
        candidate = candidate.lower()
    return candidate.strip(_SEPARATORS)[:max_length].rstrip(_SEPARATORS)


def _pattern_candidates(policy: UsernamePolicy, values: Mapping[str, str]) -> list[str]:
    """One candidate per pattern, in order, skipping patterns whose placeholders are empty."""
    max_length = _max_length(policy)
    out: list[str] = []
    for pattern in policy.patterns or ["{first}.{last}"]:
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(pattern) if n is not None]
            if any(not values.get(n) for n in names):
                continue
            candidate = _tidy(pattern.format_map(values), policy, max_length)
        except (KeyError, ValueError, IndexError):
            continue  # a pattern saved before validation existed; config refuses these today
        if candidate and candidate not in out:
            out.append(candidate)
    return out


def _suffixed(base: str, n: int, policy: UsernamePolicy) -> str:
    suffix = str(n)
    room = _max_length(policy) - len(suffix)
    return base[:room].rstrip(_SEPARATORS) + suffix if room > 0 else ""


def _candidates(policy: UsernamePolicy, patterns: list[str]) -> Iterator[str]:
    yield from patterns
    if policy.numeric_suffix and patterns:
        for n in range(2, policy.max_suffix + 1):
            candidate = _suffixed(patterns[0], n, policy)
            if candidate:
                yield candidate


def _pick(policy: UsernamePolicy, patterns: list[str], taken: Callable[[str], bool]) -> str | None:
    for candidate in _candidates(policy, patterns):
        if not taken(candidate.lower()):
            return candidate
    return None


def _exhausted(
    first_name: str, last_name: str, policy: UsernamePolicy, patterns: list[str]
) -> ValidationFailed:
    who = f"{first_name} {last_name}".strip() or "this user"
    if not patterns:
        message = (
            f"No username can be built for {who}: the username policy's patterns "
            f"({', '.join(policy.patterns or [])}) need name parts this user does not have."
        )
    else:
        tried = ", ".join(patterns)
        if policy.numeric_suffix:
            tried += f" and {patterns[0]}2 … {patterns[0]}{policy.max_suffix}"
        message = f"No username available for {who}: {tried} are all taken. Give a username explicitly."
    return ValidationFailed(message, fields={"username": [message]}, code="username_unavailable")


def username_generate(
    *,
    first_name: str,
    last_name: str,
    middle_name: str = "",
    policy: UsernamePolicy | None = None,
    exclude: Iterable[str] = (),
) -> str:
    """The first free username the policy produces for this name: each pattern in order, then
    numeric suffixes on the first one. ``exclude`` are names to treat as taken (not yet saved).
    One query reads the existing usernames that could collide."""
    policy = policy or _policy_active()
    values = username_placeholders(first_name=first_name, last_name=last_name, middle_name=middle_name)
    patterns = _pattern_candidates(policy, values)
    if not patterns:
        raise _exhausted(first_name, last_name, policy, patterns)
    # Every candidate starts with a pattern candidate cut to leave room for the longest suffix.
    room = _max_length(policy) - (len(str(policy.max_suffix)) if policy.numeric_suffix else 0)
    prefixes = {p[: max(room, 1)].rstrip(_SEPARATORS).lower() or p.lower() for p in patterns}
    prefix_q = Q()
    for prefix in prefixes:
        prefix_q |= Q(lname__startswith=prefix)
    taken = set(
        User.objects.annotate(lname=Lower("username")).filter(prefix_q).values_list("lname", flat=True)
    )
    taken |= {e.lower() for e in exclude}
    username = _pick(policy, patterns, taken.__contains__)
    if username is None:
        raise _exhausted(first_name, last_name, policy, patterns)
    return username
