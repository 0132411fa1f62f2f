"""Request middleware: a correlation id and the client IP in the context of each web request;
text that cannot be stored (NUL characters) refused at the door."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from blazon.logging import client_ip_var, correlation_id_var, log_correlation_id
from blazon.safe_text import query_problem, text_problem


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


class SafeInputMiddleware:
    """Answers 400 when the path, a query parameter or (outside the API) a posted form field
    holds text that cannot be stored: a NUL character (``%00``). The API's bodies are checked by
    its parsers (``blazon.api.parsers``), which also refuse lone surrogates in JSON; a form or a
    query string cannot carry one (Django decodes them as UTF-8 with replacement).

    Under ``/api/`` the answer is the API's JSON error format; elsewhere a plain-text page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path_info.startswith("/api/")
        problem = self._problem(request, api=api)
        if problem:
            if api:
                body = {"error": {"code": "parse_error", "message": problem, "fields": {}}}
                return JsonResponse(body, status=400)
            return HttpResponseBadRequest(f"Bad request: {problem}", content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _problem(request: HttpRequest, *, api: bool) -> str | None:
        path_problem = text_problem(request.path_info)
        if path_problem:
            return f"The address {path_problem}."
        problem = query_problem(_pairs(request.GET), "query parameter")
        if problem or api or request.method != "POST":
            return problem
        return query_problem(_pairs(request.POST), "form field")


def _pairs(querydict) -> list[tuple[str, str]]:
    return [(name, value) for name, values in querydict.lists() for value in values]
