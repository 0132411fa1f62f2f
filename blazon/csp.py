"""Security headers of every page: a strict Content-Security-Policy and no caching of what a
logged-in user (or the login flow) sees.

The policy allows scripts, styles, images and fonts from this origin only; an inline ``<script>``
or ``<style>`` runs only with the nonce of its response (``{{ csp_nonce }}`` in templates, from
``blazon.csp.csp_nonce``); inline event handlers (``onclick=``), ``style=`` attributes,
``eval`` and ``javascript:`` URLs are refused. htmx runs without eval and without the style sheet
it would inject (``<meta name="htmx-config">`` in ``base.html``; its indicator rules are in
``app.css``). ``frame-ancestors 'none'`` forbids framing (with ``X-Frame-Options: DENY`` for old
browsers). ``form-action`` is left open on purpose: the SAML POST binding and the OpenID Connect
redirects send the browser on to the application's own origin after a form post.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

HEADER = "Content-Security-Policy"


def policy(
    nonce: str, *, inline_styles: bool = False, frame_ancestors: str = "'none'", frame_src: str = ""
) -> str:
    """The Content-Security-Policy of a response whose inline elements carry ``nonce``.
    ``inline_styles``: only for the third-party API docs pages (Swagger UI, ReDoc), which inject
    style elements at run time (and ReDoc a search worker from a blob); their scripts stay as
    strict as everywhere."""
    styles = "'unsafe-inline'" if inline_styles else f"'nonce-{nonce}'"
    # ReDoc runs its search in a worker it creates from a blob
    workers = ["worker-src 'self' blob:"] if inline_styles else []
    # a page that frames another site names it (the SAML logout step of one application)
    frames = [f"frame-src 'self' {frame_src}"] if frame_src else []
    return "; ".join(
        [
            *workers,
            *frames,
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' {styles}",
            # data: for the images style sheets embed (API docs' icons); the TOTP QR code is inline SVG
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


def allow_inline_styles(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Give ``response`` the policy with inline styles allowed (see ``policy``)."""
    response[HEADER] = policy(getattr(request, "csp_nonce", ""), inline_styles=True)
    return response


def frameable_by_self(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Let this origin's own pages frame the view's answer (``frame-ancestors 'self'``, with
    ``X-Frame-Options: SAMEORIGIN``): the SAML logout steps that run in a frame of a Blazon page."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.csp_frame_ancestors = "'self'"  # type: ignore[attr-defined]  # the middleware reads it
        response = view(request, *args, **kwargs)
        response["X-Frame-Options"] = "SAMEORIGIN"
        return response

    return wrapped


def allow_framing_of(request: HttpRequest, response: HttpResponse, url: str) -> HttpResponse:
    """Let ``response``'s page frame ``url``'s origin (and only it)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        request.csp_frame_src = f"{parts.scheme}://{parts.netloc}"  # type: ignore[attr-defined]
    return response


def csp_nonce(request: HttpRequest) -> dict[str, str]:
    """Template context processor: ``csp_nonce`` for the inline scripts and styles of a page."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}


def _no_store(request: HttpRequest, response: HttpResponse) -> bool:
    """Pages of a logged-in user, and every HTML page (the login flow, SSO pages, errors), must
    not be kept by the browser's or a proxy's cache (the back button after a logout, a shared
    computer). Anonymous non-HTML answers (the OIDC discovery document and keys, health) may be."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    return response.get("Content-Type", "").startswith("text/html")


class SecurityHeadersMiddleware:
    """Gives each request a CSP nonce and each response the CSP and, where it applies,
    ``Cache-Control: no-store``. Placed before the session and authentication middleware, so
    their early answers (redirects to the login page) get the headers too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(18)
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy(
                nonce,
                frame_ancestors=getattr(request, "csp_frame_ancestors", "'none'"),
                frame_src=getattr(request, "csp_frame_src", ""),
            )
        if _no_store(request, response) and "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
        return response
