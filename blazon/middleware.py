"""Puts a correlation id and the client IP into the context of each web request."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from blazon.logging import client_ip_var, correlation_id_var, new_correlation_id

_CID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Correlation-ID", "")
        cid = incoming if _CID.match(incoming) else new_correlation_id()
        cid_token = correlation_id_var.set(cid)
        ip_token = client_ip_var.set(request.META.get("REMOTE_ADDR"))
        try:
            response = self.get_response(request)
        finally:
            correlation_id_var.reset(cid_token)
            client_ip_var.reset(ip_token)
        response["X-Correlation-ID"] = cid
        return response
