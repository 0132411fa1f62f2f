"""Exact-match filtering on the fields a viewset lists in ``filterset_fields``
(``?status=ACTIVE&resource=3``, ``?owner=null`` for empty), and ``<field>__in`` for any of them
but booleans (``?username__in=ana,bia``). A value the field cannot hold (an unknown choice, a
non-number id, a boolean other than true/false) gives a 400, not an empty page.

A list refuses query parameters it does not know (400 naming the allowed ones): a typo such as
``?usrname=admin`` used to be ignored and answer every row, so a script taking the first result
acted on the wrong object. Allowed are the filters, the search, ordering and pagination
parameters, ``format``, what other filter backends document, and a view's
``extra_query_params``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend

MAX_IN_VALUES = 500
ALWAYS_ALLOWED = ("format",)  # DRF's renderer override


def model_field(model: type[models.Model], path: str) -> models.Field | None:
    """The field at the end of a ``a__b__c`` lookup path (for a relation: the related pk)."""
    field: Any = None
    current = model
    for part in path.split("__"):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        if field.is_relation and field.related_model is not None:
            current = field.related_model
    if field is not None and field.is_relation:
        return current._meta.pk
    return field


def clean_value(field: models.Field | None, name: str, raw: str) -> Any:
    if field is None:
        return raw
    if isinstance(field, models.BooleanField):
        if raw not in ("true", "false"):
            raise ValidationError({name: [_("Use true or false, not %(raw)r.") % {"raw": raw}]})
        return raw == "true"
    if field.choices:
        allowed = [str(value) for value, __ in field.flatchoices]
        if raw not in allowed:
            raise ValidationError(
                {
                    name: [
                        _("Unknown value %(raw)r; expected one of: %(allowed)s.")
                        % {"raw": raw, "allowed": ", ".join(allowed)}
                    ]
                }
            )
        return raw
    try:
        return field.to_python(raw)
    except DjangoValidationError as exc:
        raise ValidationError(
            {
                name: [
                    _("Invalid value %(raw)r: %(problem)s") % {"raw": raw, "problem": " ".join(exc.messages)}
                ]
            }
        ) from None


def allowed_query_params(view) -> list[str]:
    """Every query parameter the list ``view`` understands."""
    names = set(ALWAYS_ALLOWED) | set(getattr(view, "extra_query_params", ()))
    for backend_class in getattr(view, "filter_backends", ()):
        backend = backend_class()
        if hasattr(backend, "allowed_query_params"):
            names.update(backend.allowed_query_params(view))
        else:
            names.update(p["name"] for p in backend.get_schema_operation_parameters(view))
    paginator = getattr(view, "paginator", None)
    if paginator is not None:
        names.update(p["name"] for p in paginator.get_schema_operation_parameters(view))
    return sorted(names)


def refuse_unknown_query_params(request, view) -> None:
    unknown = sorted(set(request.query_params) - set(allowed_query_params(view)))
    if unknown:
        allowed = ", ".join(allowed_query_params(view))
        raise ValidationError(
            {
                name: [_("Unknown query parameter; allowed: %(allowed)s.") % {"allowed": allowed}]
                for name in unknown
            }
        )


def _in_fields(model: type[models.Model] | None, fields) -> list[str]:
    """The filter fields that also take ``__in`` (every one but booleans)."""
    out = []
    for name in fields:
        field = model_field(model, name) if model is not None else None
        if not isinstance(field, models.BooleanField):
            out.append(name)
    return out


class FieldFilterBackend(BaseFilterBackend):
    def allowed_query_params(self, view) -> list[str]:
        fields = list(getattr(view, "filterset_fields", ()))
        return fields + [f"{name}__in" for name in _in_fields(_view_model(view), fields)]

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) == "list":
            refuse_unknown_query_params(request, view)
        fields = getattr(view, "filterset_fields", ())
        filters = {}
        for name in fields:
            field = model_field(queryset.model, name)
            if f"{name}__in" in request.query_params and not isinstance(field, models.BooleanField):
                raw_values = [v for v in request.query_params.get(f"{name}__in").split(",") if v != ""]
                if len(raw_values) > MAX_IN_VALUES:
                    raise ValidationError(
                        {f"{name}__in": [_("At most %(count)s values.") % {"count": MAX_IN_VALUES}]}
                    )
                filters[f"{name}__in"] = [clean_value(field, f"{name}__in", raw) for raw in raw_values]
            if name not in request.query_params:
                continue
            raw = request.query_params.get(name)
            if raw == "null" or (
                raw == "" and (field is None or field.null or "__" in name or field.primary_key)
            ):
                filters[f"{name}__isnull"] = True
                continue
            filters[name] = clean_value(field, name, raw)
        if not filters:
            return queryset
        try:
            return queryset.filter(**filters)
        except (DjangoValidationError, ValueError, TypeError) as exc:
            raise ValidationError(
                {"filter": [_("Invalid filter value: %(problem)s") % {"problem": exc}]}
            ) from exc

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        model = _view_model(view)
        params: list[dict[str, Any]] = []
        for name in getattr(view, "filterset_fields", ()):
            field = model_field(model, name) if model is not None else None
            schema: dict[str, Any] = {"type": "string"}
            description = "Exact match; `null` for empty."
            if isinstance(field, models.BooleanField):
                schema = {"type": "boolean"}
                description = "true or false."
            elif field is not None and field.choices:
                schema = {"type": "string", "enum": [str(v) for v, __ in field.flatchoices if v != ""]}
            elif isinstance(field, models.IntegerField | models.AutoField):
                description = "An id (integer), or `null` for none."
            params.append(
                {"name": name, "required": False, "in": "query", "description": description, "schema": schema}
            )
        for name in _in_fields(model, getattr(view, "filterset_fields", ())):
            params.append(
                {
                    "name": f"{name}__in",
                    "required": False,
                    "in": "query",
                    "description": f"Any of these {name} values, comma-separated (at most {MAX_IN_VALUES}).",
                    "schema": {"type": "string"},
                }
            )
        return params


def _view_model(view) -> type[models.Model] | None:
    queryset = getattr(view, "queryset", None)
    if queryset is not None:
        return queryset.model
    serializer_class = getattr(view, "serializer_class", None)
    return getattr(getattr(serializer_class, "Meta", None), "model", None)
