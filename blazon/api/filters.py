"""Exact-match filtering on the fields a viewset lists in ``filterset_fields``
(``?status=ACTIVE&resource=3``); unknown values give a 400, not an empty page."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend


class FieldFilterBackend(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        fields = getattr(view, "filterset_fields", ())
        filters = {}
        for name in fields:
            if name in request.query_params:
                value = request.query_params.get(name)
                lookup = name
                if value in ("null", ""):
                    lookup, value = f"{name}__isnull", True
                elif value in ("true", "false"):
                    value = value == "true"
                filters[lookup] = value
        if not filters:
            return queryset
        try:
            return queryset.filter(**filters)
        except (DjangoValidationError, ValueError, TypeError) as exc:
            raise ValidationError({"filter": [f"Invalid filter value: {exc}"]}) from exc

    def get_schema_operation_parameters(self, view):
        return [
            {"name": name, "required": False, "in": "query", "schema": {"type": "string"}}
            for name in getattr(view, "filterset_fields", ())
        ]
