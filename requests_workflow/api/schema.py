"""The OpenAPI description of ``POST /api/v1/requests/``: one body schema per request type,
chosen by ``type`` (a ``oneOf`` with a discriminator), each with the fields the type uses and
its payload component (``CreateUserPayload``, ``UpdateUserPayload``, ``CreateAccountPayload``,
``UpdateAccountPayload``, ``NoPayload``) built from ``requests_workflow.payloads``, the table
``request_create`` checks payloads against. Documentation only: the view parses the body with
``RequestInputSerializer`` and the services decide."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from requests_workflow.api.serializers import RequestInputSerializer, UserLookupField
from requests_workflow.models import RequestType
from requests_workflow.payloads import PAYLOADS, payload_schema
from requests_workflow.types import SPECS


class TypeCodeField(serializers.Field):
    """The one type code of a request body variant (the discriminator)."""

    def __init__(self, code: str, **kwargs: Any):
        self.code = code
        super().__init__(**kwargs)


class TypeCodeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = TypeCodeField

    def map_serializer_field(self, auto_schema, direction):
        # a named component: drf-spectacular would lift an inline enum into a "TypeXxxEnum"
        name = f"{_camel(self.target.code)}TypeEnum"
        component = ResolvedComponent(
            name=name,
            type=ResolvedComponent.SCHEMA,
            object=name,
            schema={"type": "string", "enum": [self.target.code]},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class PayloadField(serializers.DictField):
    """A request type's payload, documented as its ``*Payload`` component."""

    def __init__(self, code: str, **kwargs: Any):
        self.code = code
        super().__init__(**kwargs)


class PayloadFieldExtension(OpenApiSerializerFieldExtension):
    target_class = PayloadField

    def map_serializer_field(self, auto_schema, direction):
        name = PAYLOADS[self.target.code].component
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, object=name, schema=payload_schema(self.target.code)
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def _camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


def _variant(code: str) -> type[serializers.Serializer]:
    """The body of a ``code`` request: its type, the objects it names (required when the type
    needs them), its payload, the justification and, for time-bound types, the access period."""
    spec = SPECS[code]
    base = RequestInputSerializer()
    fields: dict[str, Any] = {
        "type": TypeCodeField(code, help_text=f"{code}: {RequestType(code).label}."),
    }
    if code != RequestType.CREATE_USER:
        by_account = "account" in spec.requires
        fields["beneficiary"] = UserLookupField(
            required=not by_account,
            allow_null=by_account,
            help_text="For whom: a user id or username."
            + (" Default: the account's owner (or responsible user)." if by_account else ""),
        )
    optional = ("account",) if code == RequestType.GRANT_ENTITLEMENT else ()
    for name in (*spec.requires, *optional):
        field = base.fields[name]
        fields[name] = type(field)(
            queryset=field.queryset,
            required=name in spec.requires,
            allow_null=name not in spec.requires,
            help_text={
                "resource": "A resource id.",
                "account": "An account id"
                + (" (default: the beneficiary's account on the resource)." if name in optional else "."),
                "entitlement": "An entitlement id.",
                "role": "A role id.",
            }[name],
        )
    required_payload = any(key.required for key in PAYLOADS[code].keys)
    fields["payload"] = PayloadField(code, required=required_payload)
    fields["justification"] = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, help_text="Why (required for some types)."
    )
    if spec.time_bound:
        fields["start_at"] = serializers.DateTimeField(
            required=False, allow_null=True, help_text="Access starts."
        )
        fields["end_at"] = serializers.DateTimeField(
            required=False, allow_null=True, help_text="Access ends."
        )
    name = f"{_camel(code)}RequestInputSerializer"
    doc = f"The body of a {code} request ({spec.category})."
    return type(name, (serializers.Serializer,), {**fields, "__doc__": doc, "__module__": __name__})


REQUEST_INPUT = PolymorphicProxySerializer(
    component_name="RequestInput",
    serializers={code: _variant(code) for code in RequestType.values},
    resource_type_field_name="type",
)
