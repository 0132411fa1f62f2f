"""Reading an approver's e-mail reply (stdlib ``email``): who sent it, the tag it carries back,
and the decision — the first word of the *new* text, above the quoted mail.

The words that count (case, accents and surrounding punctuation ignored: ``Approve.``,
``*APROVAR*``, ``aprovação`` is not one of them):

* approve: ``approve``, ``approved``, ``aprovar``, ``aprovo``, ``aprova``, ``aprovado``, ``aprovada``
* disapprove: ``disapprove``, ``disapproved``, ``reject``, ``rejected``, ``deny``, ``denied``,
  ``reprovar``, ``reprovo``, ``reprova``, ``reprovado``, ``reprovada``, ``desaprovar``,
  ``desaprovo``, ``rejeitar``, ``rejeito``, ``negar``, ``nego``, ``negado``

``yes``, ``no``, ``ok``, ``sim``, ``não`` do not count: too easily written for something else.
"""

from __future__ import annotations

import email
import re
import unicodedata
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses
from html.parser import HTMLParser

from worklist.registry import APPROVE, REJECT

APPROVE_WORDS = frozenset({"approve", "approved", "aprovar", "aprovo", "aprova", "aprovado", "aprovada"})
REJECT_WORDS = frozenset(
    {
        "disapprove",
        "disapproved",
        "reject",
        "rejected",
        "deny",
        "denied",
        "reprovar",
        "reprovo",
        "reprova",
        "reprovado",
        "reprovada",
        "desaprovar",
        "desaprovo",
        "rejeitar",
        "rejeito",
        "negar",
        "nego",
        "negado",
    }
)
COMMENT_MAX = 2000

# Where the quoted mail starts: "On <date>, <someone> wrote:" (also over two lines), its
# Portuguese "Em <data>, <alguém> escreveu:", Outlook's "-----Original Message-----" or header
# block, a "> " line, or the signature separator.
_ATTRIBUTION = re.compile(r"^\s*(on|em)\s.*\b(wrote|escreveu)\s*:\s*$", re.I | re.S)
_QUOTE_START = (
    re.compile(r"^\s*>"),
    re.compile(
        r"^\s*-{2,}\s*(original message|mensagem original|forwarded message|mensagem encaminhada)", re.I
    ),
    re.compile(r"^\s*(from|de|sent|enviado|to|para|subject|assunto)\s*:\s", re.I),
    re.compile(r"^\s*_{5,}\s*$"),
    re.compile(r"^-- ?$"),
)
_PUNCTUATION = ".,;:!?*_\"'()[]{}<>«»“”‘’"


@dataclass
class Reply:
    """What the poller needs of a reply."""

    senders: list[str]  # the From header's addresses, lower case
    subject: str
    addresses: list[str]  # To, Cc, Delivered-To, X-Original-To: where the tag may be
    message_id: str
    text: str  # the new text, above the quoted mail
    automatic: bool  # an auto-reply (out of office, bounce): never answered
    references: list[str] = field(default_factory=list)


class _Text(HTMLParser):
    """The text of an HTML mail: tags dropped, block elements on their own lines, quoted
    (``<blockquote>``), ``<style>``, ``<script>`` and ``<head>`` content left out."""

    SKIP = frozenset({"blockquote", "style", "script", "head", "title"})
    BLOCK = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def new_text(body: str) -> str:
    """The lines above the quoted mail (leading blank lines dropped)."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        two = line + " " + (lines[i + 1] if i + 1 < len(lines) else "")
        if any(p.match(line) for p in _QUOTE_START) or _ATTRIBUTION.match(line) or _ATTRIBUTION.match(two):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def _normalize(word: str) -> str:
    plain = unicodedata.normalize("NFKD", word)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return plain.strip(_PUNCTUATION).casefold()


def decision_of(text: str) -> tuple[str | None, str, str]:
    """(approve | reject | None, the first word as written, the rest as the comment)."""
    parts = text.split(None, 1)
    if not parts:
        return None, "", ""
    first, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    word = _normalize(first)
    decision = APPROVE if word in APPROVE_WORDS else REJECT if word in REJECT_WORDS else None
    return decision, first[:40], rest.strip()[:COMMENT_MAX]


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    return html_text(content) if part.get_content_type() == "text/html" else content


def _is_automatic(message: EmailMessage) -> bool:
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    return (
        auto not in ("", "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or message.get("X-Autoreply") is not None
        or message.get("X-Autorespond") is not None
        or not message.get("From")
    )


def _header(message: EmailMessage, name: str) -> str:
    try:
        return " ".join(str(v) for v in message.get_all(name, []))
    except (TypeError, ValueError, IndexError):  # a header the parser cannot read
        return ""


def reply_parse(raw: bytes) -> Reply:
    """Parse a raw message; never raises on a malformed one (it just finds less)."""
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    senders = [addr.lower() for _, addr in getaddresses([_header(message, "From")]) if addr]
    addresses = [
        _header(message, name) for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
    ]
    references = (_header(message, "References") + " " + _header(message, "In-Reply-To")).split()
    return Reply(
        senders=senders,
        subject=_header(message, "Subject")[:300],
        addresses=addresses,
        message_id=_header(message, "Message-ID").strip()[:300],
        text=new_text(_body(message)),
        automatic=_is_automatic(message),
        references=references,
    )
