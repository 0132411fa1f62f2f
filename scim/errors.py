"""SCIM errors (RFC 7644 §3.12): an HTTP status, a ``scimType`` and a detail."""

from __future__ import annotations


class ScimError(Exception):
    """A SCIM call refused; nothing was changed."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type

    def body(self) -> dict:
        out: dict = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            out["scimType"] = self.scim_type
        return out


def invalid_filter(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def invalid_syntax(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidSyntax")


def invalid_path(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidPath")


def mutability(detail: str) -> ScimError:
    return ScimError(400, detail, "mutability")


def no_target(detail: str) -> ScimError:
    return ScimError(400, detail, "noTarget")


def uniqueness(detail: str) -> ScimError:
    return ScimError(409, detail, "uniqueness")


def not_found(detail: str) -> ScimError:
    return ScimError(404, detail)
