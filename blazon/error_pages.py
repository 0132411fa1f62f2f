"""The page a server error answers with: the console style, nothing of the error itself (that is
in the log), and the correlation id the log line carries so an administrator can find it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseServerError
from django.template import loader

from blazon.logging import correlation_id_var


def server_error(request: HttpRequest) -> HttpResponseServerError:
    """``handler500``: rendered without the request context (a broken context processor or
    database must not break the error page too)."""
    html = loader.get_template("500.html").render({"correlation_id": correlation_id_var.get() or ""})
    return HttpResponseServerError(html)
