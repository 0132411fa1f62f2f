"""The language of a page: the logged-in user's preference (``User.language``) when they chose one,
else what ``LocaleMiddleware`` found (the ``django_language`` cookie, the browser's
Accept-Language, ``LANGUAGE_CODE``).

``UserLanguageMiddleware`` runs right after ``AuthenticationMiddleware``: it activates the user's
language for the request, and keeps the ``django_language`` cookie in step with the preference
on the way out, so the login answer itself already carries it and the pages a user sees without
a session (the login page after logging out) stay in their language. A user who prefers "the
browser's language" gets the cookie removed, and Accept-Language decides again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

COOKIE_MAX_AGE = 365 * 24 * 3600
P = ParamSpec("P")
R = TypeVar("R")


def user_language(user: object) -> str:
    """The language ``user`` chose (a ``LANGUAGES`` code), or ``""``."""
    if not getattr(user, "is_authenticated", False):
        return ""
    code = getattr(user, "language", "") or ""
    return code if code in dict(settings.LANGUAGES) else ""


def language_cookie_sync(request: HttpRequest, response: HttpResponse, language: str) -> None:
    """Make the response's ``django_language`` cookie say ``language`` (remove it for ``""``)."""
    name = settings.LANGUAGE_COOKIE_NAME
    current = request.COOKIES.get(name, "")
    if language and current != language:
        response.set_cookie(
            name,
            language,
            max_age=COOKIE_MAX_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE or settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    elif not language and current:
        response.delete_cookie(
            name, path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN
        )


class UserLanguageMiddleware:
    """Activates the logged-in user's language preference (over the cookie and Accept-Language)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = user_language(getattr(request, "user", None))
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        # after the view: a login has just set request.user, a saved preference changed it
        user = getattr(request, "user", None)
        if getattr(user, "is_authenticated", False):
            language_cookie_sync(request, response, user_language(user))
        return response


def recipient_language(user: object) -> str:
    """The language to write to ``user`` in (e-mails, SMS): their preference, else
    ``LANGUAGE_CODE`` (a notification has no browser to ask)."""
    code = getattr(user, "language", "") or ""
    return code if code in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def keeps_language(func: Callable[P, R]) -> Callable[P, R]:
    """Restore the active language when ``func`` returns or raises: a notification that
    activates each recipient's language in turn leaves the worker's language as it found it."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        previous = translation.get_language()
        try:
            return func(*args, **kwargs)
        finally:
            if previous is None:
                translation.deactivate_all()
            else:
                translation.activate(previous)

    return wrapper


def activate_for(user: object) -> None:
    """Write to ``user`` in their language from now on (inside a ``keeps_language`` function)."""
    translation.activate(recipient_language(user))
