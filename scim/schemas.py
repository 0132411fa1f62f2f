"""The SCIM schemas Blazon serves (RFC 7643 §7, §8.7): what ``/Schemas``, ``/ResourceTypes`` and
``/ServiceProviderConfig`` publish. Only what Blazon stores is published, so a client that
discovers the server (scim2-tester does) writes nothing that would not come back."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from directory.models import AttributeDefinition, AttributeScope, AttributeType

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BLAZON_USER = "urn:ietf:params:scim:schemas:extension:blazon:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
USER_SCHEMAS = (CORE_USER, ENTERPRISE_USER, BLAZON_USER)

#: Limits, advertised in /ServiceProviderConfig and enforced.
MAX_RESULTS = getattr(settings, "BLAZON_SCIM_MAX_RESULTS", 200)
BULK_MAX_OPERATIONS = getattr(settings, "BLAZON_SCIM_BULK_MAX_OPERATIONS", 1000)
BULK_MAX_PAYLOAD = getattr(settings, "BLAZON_SCIM_BULK_MAX_PAYLOAD", 1_048_576)


def attr(
    name: str,
    type_: str = "string",
    *,
    multi: bool = False,
    required: bool = False,
    mutability: str = "readWrite",
    returned: str = "default",
    uniqueness: str = "none",
    case_exact: bool = False,
    sub: list[dict[str, Any]] | None = None,
    description: str = "",
    canonical: list[str] | None = None,
    reference_types: list[str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "type": type_,
        "multiValued": multi,
        "description": description or name,
        "required": required,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    }
    if type_ in ("string", "reference", "binary"):
        out["caseExact"] = case_exact
    if sub is not None:
        out["subAttributes"] = sub
    if canonical:
        out["canonicalValues"] = canonical
    if reference_types:
        out["referenceTypes"] = reference_types
    return out


def _user_core() -> list[dict[str, Any]]:
    return [
        attr(
            "userName",
            required=True,
            uniqueness="server",
            description="The username (unique, case-insensitive).",
        ),
        attr(
            "name",
            "complex",
            required=True,
            sub=[
                attr("givenName", required=True, description="First name."),
                attr("familyName", required=True, description="Last name."),
            ],
            description="First and last name (both required by Blazon).",
        ),
        attr("displayName", description="The name shown for the user."),
        attr("title", description="Job title."),
        attr("userType", description="Employee type (employee, contractor, …)."),
        attr(
            "active",
            "boolean",
            required=True,
            description="false inactivates the user (life cycle); true activates. Left out: true on "
            "creation, unchanged on replacement.",
        ),
        attr(
            "emails",
            "complex",
            multi=True,
            sub=[
                attr("value", description="The e-mail address."),
                attr("type", canonical=["work"], description="Always work: Blazon keeps one address."),
            ],
            description="Blazon keeps one address (the primary one, or the first).",
        ),
        attr(
            "groups",
            "complex",
            multi=True,
            mutability="readOnly",
            sub=[
                attr("value", mutability="readOnly"),
                attr("$ref", "reference", mutability="readOnly", reference_types=["Group"]),
                attr("display", mutability="readOnly"),
            ],
            description="The roles the user holds (change them through /Groups).",
        ),
    ]


def _user_enterprise() -> list[dict[str, Any]]:
    return [
        attr("department", description="Department."),
        attr(
            "manager",
            "complex",
            sub=[
                attr("value", description="The manager's id."),
                attr(
                    "$ref",
                    "reference",
                    reference_types=["User"],
                    description="The manager's URI (or give value).",
                ),
            ],
            description="The user's manager (by id).",
        ),
    ]


_ATTRIBUTE_TYPES: dict[str, str] = {
    AttributeType.STRING: "string",
    AttributeType.EMAIL: "string",
    AttributeType.DATE: "string",
    AttributeType.INTEGER: "integer",
    AttributeType.BOOLEAN: "boolean",
}


def user_attribute_definitions() -> list[AttributeDefinition]:
    return list(AttributeDefinition.objects.filter(scope=AttributeScope.USER).order_by("position", "name"))


def _user_blazon(definitions: list[AttributeDefinition]) -> list[dict[str, Any]]:
    out = [
        attr("organization", mutability="readOnly", description="The organization's code (set in Blazon)."),
    ]
    for d in definitions:
        out.append(
            attr(
                d.name,
                _ATTRIBUTE_TYPES.get(str(d.type), "string"),
                required=d.required,
                uniqueness="server" if d.unique else "none",
                description=d.label + (" (a date, YYYY-MM-DD)" if d.type == AttributeType.DATE else ""),
            )
        )
    return out


def _group_core() -> list[dict[str, Any]]:
    return [
        attr(
            "displayName",
            required=True,
            description="The role's name (changed only by the client that created the role).",
        ),
        attr(
            "members",
            "complex",
            multi=True,
            sub=[
                attr("value", mutability="immutable", description="The member's id."),
                attr("$ref", "reference", mutability="immutable", reference_types=["User"]),
                attr("display", mutability="readOnly"),
                attr("type", mutability="immutable", canonical=["User"]),
            ],
            description="The users holding the role: adding one grants it, removing one revokes it.",
        ),
    ]


def _schema(
    id_: str, name: str, description: str, attributes: list[dict[str, Any]], base: str
) -> dict[str, Any]:
    return {
        "schemas": [SCHEMA],
        "id": id_,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{id_}"},
    }


def schemas(base: str) -> list[dict[str, Any]]:
    definitions = user_attribute_definitions()
    return [
        _schema(CORE_USER, "User", "User account", _user_core(), base),
        _schema(ENTERPRISE_USER, "EnterpriseUser", "Enterprise user", _user_enterprise(), base),
        _schema(
            BLAZON_USER, "BlazonUser", "Blazon's user fields and attributes", _user_blazon(definitions), base
        ),
        _schema(CORE_GROUP, "Group", "A Blazon role", _group_core(), base),
    ]


def resource_types(base: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": [RESOURCE_TYPE],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "Blazon users",
            "schema": CORE_USER,
            "schemaExtensions": [
                {"schema": ENTERPRISE_USER, "required": False},
                {"schema": BLAZON_USER, "required": False},
            ],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        },
        {
            "schemas": [RESOURCE_TYPE],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Blazon roles",
            "schema": CORE_GROUP,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    ]


def service_provider_config(base: str) -> dict[str, Any]:
    return {
        "schemas": [SPC],
        "documentationUri": "https://github.com/blazon/blazon/blob/main/docs/scim.md",
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": BULK_MAX_OPERATIONS, "maxPayloadSize": BULK_MAX_PAYLOAD},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A SCIM client's token from manage.py scim_client_register NAME",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }
