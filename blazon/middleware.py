"""Puts a correlation id and the client IP into the context of each web request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from blazon.logging import client_ip_var, correlation_id_var, log_correlation_id


class RequestContextMiddleware:
    """The caller's ``X-Correlation-ID`` (a proxy's or a client's trace id), when it has a safe
    shape, or a fresh id: a tag for the log lines and audit events of this call, echoed in the
    response. Nothing reads it as a business key (an entry finds its request through a foreign
    key, not through this string)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cid = log_correlation_id(request.headers.get("X-Correlation-ID"))
        cid_token = correlation_id_var.set(cid)
        ip_token = client_ip_var.set(request.META.get("REMOTE_ADDR"))
        try:
            response = self.get_response(request)
        finally:
            correlation_id_var.reset(cid_token)
            client_ip_var.reset(ip_token)
        response["X-Correlation-ID"] = cid
        return response
