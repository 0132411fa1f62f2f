"""The contract between the authenticator (``authn``), the brute-force and web-session controls
(``security``) and password management (``passwords``), so each can be built and tested alone.

Login attempts
    Before it checks any factor, the authenticator sends ``login_attempt`` with ``request=`` and
    ``username=`` (as typed). A receiver refuses the attempt by raising :class:`LoginRefused`;
    the authenticator shows its message, which never says whether the username exists.
    Every failed factor sends Django's ``user_login_failed`` with
    ``credentials={"username": ...}``, ``request=`` and ``reason=`` (a short code such as
    ``"password"``, ``"totp"``, ``"inactive"``). A completed login goes through
    ``django.contrib.auth.login``, which sends ``user_logged_in``; before calling it the
    authenticator stores the factors used in ``request.session[SESSION_FACTORS]`` and the time in
    ``request.session[SESSION_AUTH_AT]`` (epoch seconds).

Forgotten password
    Once the reset flow has verified the factors the user's policy asks for, the authenticator
    writes ``RESET_USER`` (the user's pk) and ``RESET_VERIFIED_AT`` (epoch seconds) into the
    session and redirects to the URL named ``RESET_NEW_PASSWORD_URL``, which accepts a new
    password under the password policy for ``RESET_MAX_AGE`` seconds, once, then clears both keys.
"""

from __future__ import annotations

from django.dispatch import Signal

login_attempt = Signal()


class LoginRefused(Exception):
    """A login attempt refused before any factor is checked (throttled, locked out)."""

    def __init__(self, message: str = "Too many attempts. Try again later.", retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


SESSION_FACTORS = "blazon.auth.factors"
SESSION_AUTH_AT = "blazon.auth.at"

RESET_USER = "blazon.reset.user_id"
RESET_VERIFIED_AT = "blazon.reset.verified_at"
RESET_MAX_AGE = 600
RESET_NEW_PASSWORD_URL = "passwords:reset_new"
