"""Exact-match filtering on the fields a viewset lists in ``filterset_fields``
(``?status=ACTIVE&resource=3``, ``?owner=null`` for empty). A value the field cannot hold (an
unknown choice, a non-number id, a boolean other than true/false) gives a 400, not an empty page.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend


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
            raise ValidationError({name: [f"Use true or false, not {raw!r}."]})
        return raw == "true"
    if field.choices:
        allowed = [str(value) for value, _ in field.flatchoices]
        if raw not in allowed:
            raise ValidationError({name: [f"Unknown value {raw!r}; expected one of: {', '.join(allowed)}."]})
        return raw
    try:
        return field.to_python(raw)
    except DjangoValidationError as exc:
        raise ValidationError({name: [f"Invalid value {raw!r}: {' '.join(exc.messages)}"]}) from None


class FieldFilterBackend(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        fields = getattr(view, "filterset_fields", ())
        filters = {}
        for name in fields:
            if name not in request.query_params:
                continue
            raw = request.query_params.get(name)
            field = model_field(queryset.model, name)
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
            raise ValidationError({"filter": [f"Invalid filter value: {exc}"]}) from exc

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        model = None
        queryset = getattr(view, "queryset", None)
        if queryset is not None:
            model = queryset.model
        else:
            serializer_class = getattr(view, "serializer_class", None)
            model = getattr(getattr(serializer_class, "Meta", None), "model", None)
        params: list[dict[str, Any]] = []
        for name in getattr(view, "filterset_fields", ()):
            field = model_field(model, name) if model is not None else None
            schema: dict[str, Any] = {"type": "string"}
            description = "Exact match; `null` for empty."
            if isinstance(field, models.BooleanField):
                schema = {"type": "boolean"}
                description = "true or false."
            elif field is not None and field.choices:
                schema = {"type": "string", "enum": [str(v) for v, _ in field.flatchoices if v != ""]}
            elif isinstance(field, models.IntegerField | models.AutoField):
                description = "An id (integer), or `null` for none."
            params.append(
                {"name": name, "required": False, "in": "query", "description": description, "schema": schema}
            )
        return params
