"""A drf-spectacular postprocessing hook: the error responses every operation can give, in the
API's one error format (``Error``), added where a view did not declare them — so the schema
lists every status code the API answers (the fuzz test, tests/api/test_schemathesis.py, holds it
to that). A response a view declares keeps its own description."""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/Error"}

#: status -> (description, applies to the operation?)
COMMON: dict[str, tuple[str, Any]] = {
    "400": (
        "Invalid input: a field, a filter or a query parameter (`fields` names it), a body that "
        "is not valid JSON, or a NUL character anywhere in the request.",
        lambda path, method, op: True,
    ),
    "401": ("Missing, invalid, expired or revoked token.", lambda path, method, op: True),
    "403": ("Your administrative role does not allow this.", lambda path, method, op: True),
    "404": (
        "No such object (an id in the path), or a page past the end of the list.",
        lambda path, method, op: "{" in path
        or any(p.get("name") == "page" for p in op.get("parameters", [])),
    ),
    "415": (
        "The body is not in one of the media types the operation takes.",
        lambda path, method, op: "requestBody" in op,
    ),
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, (description, applies) in COMMON.items():
                if status not in responses and applies(path, method, operation):
                    responses[status] = {
                        "content": {"application/json": {"schema": ERROR_REF}},
                        "description": description,
                    }
    return result
