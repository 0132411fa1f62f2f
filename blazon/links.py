"""Signed, expiring links sent by e-mail (the approval links of requests and of privileged
access): the token format, its refusals and the headers of the pages a link opens.

A token is ``django.core.signing`` (HMAC with ``SECRET_KEY``, timestamped) with the salt of its
kind of link, so a token of one kind is refused by another. It works for
``BLAZON_APPROVAL_LINK_HOURS`` hours (72 by default). Tokens and links are never logged.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpResponse
from django.utils.translation import gettext


def link_hours() -> int:
    """How long an approval link works."""
    return int(getattr(settings, "BLAZON_APPROVAL_LINK_HOURS", 72))


def base_url() -> str:
    """The address users reach Blazon at: links in e-mails start with it."""
    return str(getattr(settings, "BLAZON_BASE_URL", "") or "http://127.0.0.1:8000").rstrip("/")


class LinkError(Exception):
    """The link cannot be used; ``status`` is the HTTP status of the page that says so."""

    def __init__(self, title: str, message: str, status: int = 410):
        super().__init__(message)
        self.title, self.message, self.status = title, message, status


def link_sign(payload: dict[str, Any], *, salt: str) -> str:
    """A signed, timestamped token carrying ``payload``."""
    return signing.dumps(payload, salt=salt)


def link_read(token: str, *, salt: str, elsewhere: str) -> dict[str, Any]:
    """The payload of ``token`` if its signature (with ``salt``) holds and it is younger than
    ``link_hours()``; else LinkError (410 expired, 400 not valid). ``elsewhere`` says where the
    user decides instead (e.g. "from “My tasks” in the workspace")."""
    try:
        data = signing.loads(token, salt=salt, max_age=link_hours() * 3600)
    except signing.SignatureExpired:
        raise LinkError(
            gettext("This link has expired"),
            gettext("Approval links work for %(hours)s hours. Open the task %(elsewhere)s to decide it.")
            % {"hours": link_hours(), "elsewhere": elsewhere},
            status=410,
        ) from None
    except signing.BadSignature:
        raise LinkError(
            gettext("This link is not valid"),
            gettext(
                "The link is incomplete or was changed. Copy the whole link from the e-mail, or open "
                "the task %(elsewhere)s."
            )
            % {"elsewhere": elsewhere},
            status=400,
        ) from None
    if not isinstance(data, dict):
        raise LinkError(
            gettext("This link is not valid"), gettext("The link does not name a task."), status=400
        )
    return data


def protect_link_page(response: HttpResponse) -> HttpResponse:
    """Headers of a page whose URL holds a token: no referrer to other sites, not indexed, not
    written to ``django.request``'s log. (same-origin, not no-referrer: the browser still sends a
    real Origin with the confirmation form's POST; with no-referrer it sends "Origin: null",
    which Django's CSRF check rightly refuses.)"""
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex"
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
