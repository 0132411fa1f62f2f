"""The rules of a password policy, each checked and reported separately (``password_check``)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import check_password
from django.db.models import F, Value
from django.utils.translation import gettext

from passwords.models import ForbiddenWord, PasswordHistory, PasswordPolicy
from passwords.selectors import policy_for

#: Longer candidates are refused outright: hashing megabytes would be a denial of service.
MAX_LENGTH = 256
DICTIONARY_FILE = Path(__file__).parent / "data" / "forbidden.txt"
_PERSONAL_MIN = 3  # shorter name parts ("Li", "Jo") would refuse too many good passwords


@dataclass(frozen=True)
class RuleResult:
    """One rule of the policy: its code, whether the candidate meets it, what it asks for."""

    code: str
    ok: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "ok": self.ok, "message": self.message}


@functools.cache
def shipped_words() -> tuple[str, ...]:
    """The dictionary shipped with Blazon (``passwords/data/forbidden.txt``), lower-case."""
    lines = DICTIONARY_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(sorted({w.strip().casefold() for w in lines if w.strip() and not w.startswith("#")}))


def forbidden_word_in(candidate: str) -> str | None:
    """The first forbidden word (shipped or the administrator's) inside ``candidate``, ignoring case."""
    lowered = candidate.casefold()
    for word in shipped_words():
        if word in lowered:
            return word
    # the administrator's words: one query, the containment test done by the database
    return (
        ForbiddenWord.objects.annotate(candidate=Value(lowered))
        .filter(candidate__contains=F("word"))
        .values_list("word", flat=True)
        .first()
    )


def _personal_parts(user: Any) -> list[str]:
    parts: list[str] = []
    for value in (user.username, user.first_name, user.last_name):
        for part in re.split(r"[\s._@+-]+", (value or "").casefold()):
            if len(part) >= _PERSONAL_MIN:
                parts.append(part)
    return parts


def _in_history(user: Any, candidate: str, count: int) -> bool:
    if not count or getattr(user, "pk", None) is None:
        return False
    hashes = list(PasswordHistory.objects.filter(user_id=user.pk).values_list("password", flat=True)[:count])
    current = user.password if user.has_usable_password() else None
    if current and current not in hashes:
        hashes.insert(0, current)
    return any(check_password(candidate, encoded) for encoded in hashes[:count])


def password_check(
    user: Any, candidate: str, *, policy: PasswordPolicy | None = None, history: bool = True
) -> list[RuleResult]:
    """Every rule of the user's password policy, met or not, in the order the page lists them.
    ``history=False`` skips the history rule (it hashes the candidate once per remembered
    password: the live check on the change page leaves it to the submission)."""
    policy = policy or policy_for(user)
    candidate = candidate if isinstance(candidate, str) else ""
    n = policy.min_length
    results = [
        RuleResult("min_length", len(candidate) >= n, gettext("At least %(n)s characters.") % {"n": n}),
        RuleResult(
            "max_length",
            len(candidate) <= MAX_LENGTH,
            gettext("At most %(n)s characters.") % {"n": MAX_LENGTH},
        ),
    ]
    if policy.require_lowercase:
        results.append(
            RuleResult("lowercase", any(c.islower() for c in candidate), gettext("A lower-case letter."))
        )
    if policy.require_uppercase:
        results.append(
            RuleResult("uppercase", any(c.isupper() for c in candidate), gettext("An upper-case letter."))
        )
    if policy.require_digit:
        results.append(RuleResult("digit", any(c.isdigit() for c in candidate), gettext("A digit.")))
    if policy.require_symbol:
        symbol = any(not c.isalnum() and not c.isspace() for c in candidate)
        results.append(RuleResult("symbol", symbol, gettext("A symbol (such as ! # % or -).")))
    if policy.forbid_personal_info:
        lowered = candidate.casefold()
        personal = any(part in lowered for part in _personal_parts(user))
        results.append(
            RuleResult("personal_info", not personal, gettext("Not your username, first or last name."))
        )
    if policy.use_dictionary:
        word = forbidden_word_in(candidate) if candidate else None
        message = (
            gettext("Not a common or forbidden word (it contains “%(word)s”).") % {"word": word}
            if word
            else gettext("No common or forbidden word.")
        )
        results.append(RuleResult("dictionary", word is None, message))
    if history and policy.history_count:
        reused = _in_history(user, candidate, policy.history_count)
        results.append(
            RuleResult(
                "history",
                not reused,
                gettext("Not one of your last %(n)s passwords.") % {"n": policy.history_count},
            )
        )
    return results


def unmet(results: list[RuleResult]) -> list[RuleResult]:
    return [r for r in results if not r.ok]
