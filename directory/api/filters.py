"""``?attributes.<name>=value`` (and ``attributes.<name>__in=a,b``) on the users list: filter by
an administrator-defined user attribute — an employee number, a cost centre — matched exactly in
its stored (typed) form. An attribute nobody defined is an unknown parameter (400)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend

from blazon.api.filters import MAX_IN_VALUES
from directory.models import AttributeDefinition, AttributeScope, AttributeType

PREFIX = "attributes."


def _user_attribute_types() -> dict[str, str]:
    return dict(
        AttributeDefinition.objects.filter(scope=AttributeScope.USER, resource__isnull=True).values_list(
            "name", "type"
        )
    )


def _typed(param: str, kind: str, raw: str) -> Any:
    """The stored JSON form of ``raw`` for an attribute of type ``kind``."""
    if kind == AttributeType.INTEGER:
        digits = raw.strip().lstrip("+-")
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
            raise ValidationError(
                {param: [gettext("Expected a whole number, not %(value)r.") % {"value": raw}]}
            )
        return int(raw.strip())
    if kind == AttributeType.BOOLEAN:
        if raw not in ("true", "false"):
            raise ValidationError({param: [gettext("Use true or false, not %(value)r.") % {"value": raw}]})
        return raw == "true"
    return raw


class UserAttributeFilter(BaseFilterBackend):
    def allowed_query_params(self, view) -> list[str]:
        names = _user_attribute_types()
        return [f"{PREFIX}{n}" for n in names] + [f"{PREFIX}{n}__in" for n in names]

    def filter_queryset(self, request, queryset, view):
        wanted = [p for p in request.query_params if p.startswith(PREFIX)]
        if not wanted:
            return queryset
        types = _user_attribute_types()
        for param in wanted:
            name, many = param[len(PREFIX) :], False
            if name.endswith("__in"):
                name, many = name[: -len("__in")], True
            if name not in types:
                continue  # refused as unknown on lists (FieldFilterBackend); ignored on details
            raw = request.query_params.get(param)
            if many:
                values = [v for v in raw.split(",") if v != ""]
                if len(values) > MAX_IN_VALUES:
                    raise ValidationError(
                        {param: [gettext("At most %(count)s values.") % {"count": MAX_IN_VALUES}]}
                    )
                queryset = queryset.filter(
                    **{f"attributes__{name}__in": [_typed(param, types[name], v) for v in values]}
                )
            else:
                queryset = queryset.filter(**{f"attributes__{name}": _typed(param, types[name], raw)})
        return queryset

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "attributes.{name}",
                "required": False,
                "in": "query",
                "description": "An administrator-defined user attribute, exact match in its typed form "
                "(`attributes.employee_number=E1042`); `attributes.{name}__in=a,b` for any of several. "
                "Replace `{name}` with the attribute's name (`GET /api/v1/attribute-definitions/?scope=USER`).",
                "schema": {"type": "string"},
            }
        ]
