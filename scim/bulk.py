"""``/Bulk`` (RFC 7644 §3.7): many operations in one call, each on its own (atomic: an
operation that fails leaves nothing behind, the others stand), ``bulkId`` references resolved
in order, ``failOnErrors`` honoured, the advertised limits enforced (413)."""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from scim import errors
from scim.schemas import BULK_MAX_OPERATIONS, BULK_MAX_PAYLOAD, BULK_REQUEST, BULK_RESPONSE
from scim.views import authenticate, error_response, group_detail, groups, respond, user_detail, users

_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$")
_BULK_REF = re.compile(r"bulkId:([\w.-]+)")


def _resolve(value: Any, ids: dict[str, str]) -> Any:
    """``bulkId:x`` replaced by the id of the resource operation ``x`` created."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in ids:
                raise errors.ScimError(
                    409, f"bulkId {m.group(1)} names no resource created before.", "invalidValue"
                )
            return ids[m.group(1)]

        return _BULK_REF.sub(sub, value)
    if isinstance(value, list):
        return [_resolve(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, ids) for k, v in value.items()}
    return value


def _sub_request(request: HttpRequest, method: str, path: str, body: Any, version: str | None) -> HttpRequest:
    sub = HttpRequest()
    sub.method = method
    sub.path = sub.path_info = f"/scim/v2{path}"
    sub.META = {
        k: v
        for k, v in request.META.items()
        if k
        in ("HTTP_AUTHORIZATION", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme", "REMOTE_ADDR")
    }
    sub.META["REQUEST_METHOD"] = method
    if version:
        sub.META["HTTP_IF_MATCH"] = version
    sub._body = json.dumps(body).encode() if body is not None else b""
    return sub


def _operation(request: HttpRequest, op: Any, ids: dict[str, str]) -> dict[str, Any]:
    if not isinstance(op, dict):
        raise errors.invalid_syntax("Each operation is an object.")
    method = str(op.get("method", "")).upper()
    if method not in ("POST", "PUT", "PATCH", "DELETE"):
        raise errors.invalid_syntax(f"Unknown method {op.get('method')!r}.")
    bulk_id = op.get("bulkId")
    if method == "POST" and not isinstance(bulk_id, str):
        raise errors.invalid_syntax("A POST operation has a bulkId.")
    path = _resolve(str(op.get("path", "")), ids)
    m = _PATH.match(path)
    if m is None or (method == "POST") != (m.group(2) is None):
        raise errors.invalid_path(f"{op.get('path')!r} is not a resource path for {method}.")
    data = _resolve(op.get("data"), ids) if method != "DELETE" else None
    sub = _sub_request(request, method, path, data, op.get("version"))
    kind, pk = m.group(1), m.group(2)
    if kind == "Users":
        response = users(sub) if pk is None else user_detail(sub, pk=pk)
    else:
        response = group_detail(sub, pk=pk) if pk else errors_response_for_groups(sub)
    result: dict[str, Any] = {"method": method, "status": str(response.status_code)}
    if bulk_id is not None:
        result["bulkId"] = bulk_id
    body = json.loads(response.content) if response.content else None
    if response.status_code >= 400:
        result["response"] = body
    else:
        if isinstance(body, dict) and body.get("meta"):
            result["location"] = body["meta"].get("location")
            result["version"] = body["meta"].get("version")
            if method == "POST" and isinstance(bulk_id, str):
                ids[bulk_id] = body["id"]
        elif pk is not None:
            result["location"] = request.build_absolute_uri(f"/scim/v2{path}")
    return result


def errors_response_for_groups(sub: HttpRequest) -> HttpResponse:
    return groups(sub)


@csrf_exempt
def bulk_view(request: HttpRequest) -> HttpResponse:
    try:
        client = authenticate(request)
        if request.method != "POST":
            return respond(errors.ScimError(405, "Bulk takes POST.").body(), 405, {"Allow": "POST"})
        if not client.may_write:
            raise errors.ScimError(403, "This SCIM client's token is read-only.")
        if len(request.body) > BULK_MAX_PAYLOAD:
            raise errors.ScimError(
                413, f"The bulk request is larger than maxPayloadSize ({BULK_MAX_PAYLOAD} bytes)."
            )
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.invalid_syntax(f"The body is not JSON: {exc}") from exc
        if not isinstance(body, dict) or body.get("schemas") != [BULK_REQUEST]:
            raise errors.invalid_syntax(f"A bulk body is a BulkRequest ({BULK_REQUEST}).")
        ops = body.get("Operations")
        if not isinstance(ops, list):
            raise errors.invalid_syntax("A bulk body has an Operations list.")
        if len(ops) > BULK_MAX_OPERATIONS:
            raise errors.ScimError(413, f"More than maxOperations ({BULK_MAX_OPERATIONS}) operations.")
        fail_on = body.get("failOnErrors")
        if fail_on is not None and (not isinstance(fail_on, int) or isinstance(fail_on, bool) or fail_on < 1):
            raise errors.invalid_value("failOnErrors is a positive integer.")
    except errors.ScimError as exc:
        return error_response(exc)
    ids: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    failures = 0
    for op in ops:
        try:
            result = _operation(request, op, ids)
        except errors.ScimError as exc:
            result = {
                "method": str(op.get("method", "")) if isinstance(op, dict) else "",
                "status": str(exc.status),
                "response": exc.body(),
            }
            if isinstance(op, dict) and op.get("bulkId"):
                result["bulkId"] = op["bulkId"]
        results.append(result)
        if int(result["status"]) >= 400:
            failures += 1
            if fail_on and failures >= fail_on:
                break
    return respond({"schemas": [BULK_RESPONSE], "Operations": results})
