"""Serializer fields every app's API shares.

``EnumField``: a choice field documented as a named enum component of the OpenAPI schema
(``RequestTypeEnum``, ``TaskKindEnum``, …), so clients get the codes as an enum and two choice sets
of the same field name (a request's ``status``, a task's ``status``) never collide.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers


class EnumField(serializers.ChoiceField):
    """A choice field documented as the schema component ``component`` (one per choice set)."""

    def __init__(self, choices_class: type[models.TextChoices], component: str, **kwargs: Any):
        self.choices_class = choices_class
        self.component = component
        super().__init__(choices=choices_class.choices, **kwargs)


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField

    def map_serializer_field(self, auto_schema, direction):
        field: EnumField = self.target
        lines = "\n".join(f"* `{value}` - {label}" for value, label in field.choices_class.choices)
        component = ResolvedComponent(
            name=field.component,
            type=ResolvedComponent.SCHEMA,
            object=field.component,
            schema={"type": "string", "enum": list(field.choices_class.values), "description": lines},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref
