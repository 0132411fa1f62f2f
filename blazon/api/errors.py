"""One JSON error format for every 4xx: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from blazon.errors import DomainError


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            out[prefix or "non_field_errors"] = [str(v) for v in detail]
        else:
            for i, value in enumerate(detail):
                out.update(_flatten(value, f"{prefix}[{i}]"))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def error_response(code: str, message: str, http_status: int, fields=None, headers=None) -> Response:
    return Response(
        {"error": {"code": code, "message": message, "fields": fields or {}}},
        status=http_status,
        headers=headers,
    )


def _not_found_message(context) -> str:
    """ "No role with id 42." when a detail view misses, instead of a bare "Not found."."""
    view = context.get("view")
    kwargs = context.get("kwargs") or {}
    lookup = kwargs.get(getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk"))
    queryset = getattr(view, "queryset", None)
    model = queryset.model if queryset is not None else None
    if model is None and view is not None:
        try:
            model = view.get_queryset().model
        except Exception:  # noqa: BLE001 - only for the message; a generic one is fine
            model = None
    if model is None or lookup is None:
        return _("Not found.")
    return _("No %(kind)s with id %(id)s.") % {"kind": model._meta.verbose_name, "id": lookup}


def exception_handler(exc, context):
    if isinstance(exc, OperationalError | InterfaceError):
        # the database is restarting or unreachable: the transaction did not commit, so a retry
        # is safe (docs/deployment.md, "What survives what")
        return error_response(
            "unavailable",
            _("The database is unavailable; the change was not saved. Try again in a few seconds."),
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DomainError):
        return error_response(exc.code, exc.message, exc.status, exc.fields)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, ProtectedError | RestrictedError):
        count = len(exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects)
        return error_response(
            "conflict",
            _("Still referred to by %(count)s other object(s).") % {"count": count},
            status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(_not_found_message(context))
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = _("Invalid input: %(problems)s") % {
            "problems": "; ".join(f"{k}: {' '.join(v)}" for k, v in list(fields.items())[:5])
        }
        return error_response("validation_failed", message, status.HTTP_400_BAD_REQUEST, fields)
    detail = getattr(exc, "detail", str(exc))
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    headers = {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After")}
    return error_response(str(code), str(detail), response.status_code, headers=headers)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: validation_failed, not_found, conflict, …")
    message = serializers.CharField(help_text="What went wrong, for people.")
    # DRF's serializer metaclass moves declared fields out of the class body, so this does not
    # shadow ``Serializer.fields`` as the stubs assume.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field name -> messages (empty when the error is not about a field).",
    )


class ErrorSerializer(serializers.Serializer):
    """The one error format of the API (every 4xx)."""

    error = ErrorDetailSerializer()
