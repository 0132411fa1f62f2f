"""Serializer fields of the directory that other apps' APIs use to name its objects."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from directory.models import User


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class UserLookupField(serializers.Field):
    """A user by id (a JSON number) or by username (a JSON string)."""

    default_error_messages = {
        "unknown_id": "No user with id {value}.",
        "unknown_username": "No user with username {value!r}.",
        "invalid": "Give a user id (number) or a username (string).",
    }

    def to_internal_value(self, data: Any) -> User:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            user = User.objects.filter(pk=data).first()
            if user is None:
                self.fail("unknown_id", value=data)
            return user
        if isinstance(data, str) and data.strip():
            user = User.objects.filter(username=data.strip()).first()
            if user is None:
                self.fail("unknown_username", value=data.strip())
            return user
        self.fail("invalid")
        raise AssertionError  # pragma: no cover - fail() raises

    def to_representation(self, value: User) -> Any:
        return value.pk
