"""``/scim/v2/``: the SCIM 2.0 protocol (RFC 7644) over Blazon's users and roles.

Plain Django views (SCIM has its own media type, error format and list envelope). Every call
needs a registered client's bearer token; writes need the write scope. Errors are §3.12's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import models
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from blazon.api.authentication import bearer_token
from blazon.errors import DomainError
from directory.models import Role, User
from scim import errors
from scim.filters import compile_q, parse_filter, text_field
from scim.models import ScimClient, ScimExternalId
from scim.patch import apply_patch
from scim.representation import (
    GROUP_FILTER_FIELDS,
    GROUP_SORT_FIELDS,
    READ_ONLY,
    USER_SORT_FIELDS,
    group_resource,
    groups_queryset,
    user_fields_from_resource,
    user_filter_fields,
    user_resource,
    users_queryset,
)
from scim.schemas import (
    BLAZON_USER,
    CORE_GROUP,
    CORE_USER,
    LIST_RESPONSE,
    MAX_RESULTS,
    SEARCH_REQUEST,
    USER_SCHEMAS,
    resource_types,
    schemas,
    service_provider_config,
    user_attribute_definitions,
)
from scim.selection import names, select
from scim.services.clients import scim_client_authenticate
from scim.services.groups import group_create, group_delete, group_patch, group_replace
from scim.services.users import Outcome, scim_error_of, scim_user_create, scim_user_delete, scim_user_replace

CONTENT_TYPE = "application/scim+json"
MAX_BODY = 1_048_576
USER_READ_ONLY = READ_ONLY | {
    f"{BLAZON_USER.lower()}:organization",
}
GROUP_READ_ONLY = READ_ONLY


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/scim/v2").rstrip("/")


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body) if body is not None else b"", status=status, content_type=CONTENT_TYPE
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def error_response(exc: errors.ScimError) -> HttpResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if exc.status == 401 else None
    return respond(exc.body(), exc.status, headers)


def _json_body(request: HttpRequest) -> Any:
    if len(request.body) > MAX_BODY:
        raise errors.ScimError(413, f"The body is larger than {MAX_BODY} bytes.")
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.invalid_syntax(f"The body is not JSON: {exc}") from exc


def authenticate(request: HttpRequest) -> ScimClient:
    try:
        raw = bearer_token(request)
    except Exception as exc:  # a malformed header: DRF's AuthenticationFailed
        raise errors.ScimError(401, "Malformed Authorization header: use 'Bearer <token>'.") from exc
    if raw is None:
        raise errors.ScimError(401, "A SCIM client's bearer token is required.")
    client = scim_client_authenticate(raw)
    if client is None:
        raise errors.ScimError(401, "Invalid or revoked token.")
    return client


def scim_endpoint(*methods: str, write: tuple[str, ...] = ("POST", "PUT", "PATCH", "DELETE")) -> Callable:
    """Authentication, the write scope, the allowed methods and SCIM errors for one view."""

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                client = authenticate(request)
                if request.method not in methods:
                    return respond(
                        errors.ScimError(405, f"{request.method} is not allowed here.").body(),
                        405,
                        {"Allow": ", ".join(methods)},
                    )
                if request.method in write and not client.may_write:
                    raise errors.ScimError(403, "This SCIM client's token is read-only.")
                return view(request, client, *args, **kwargs)
            except errors.ScimError as exc:
                return error_response(exc)
            except DomainError as exc:  # a directory rule refused it: nothing was written
                return error_response(scim_error_of(exc))

        return inner

    return wrap


# --- lists and searches ----------------------------------------------------------------------


def _int(raw: Any, name: str, default: int) -> int:
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise errors.invalid_value(f"{name} must be an integer.") from exc


def _list(
    request: HttpRequest,
    params: dict[str, Any],
    qs: models.QuerySet,
    fields: dict[str, Any],
    sort_fields: dict[str, str],
    render: Callable[[list[Any]], list[dict[str, Any]]],
    core: str,
    urns: tuple[str, ...],
) -> HttpResponse:
    flt = params.get("filter")
    if flt not in (None, ""):
        if not isinstance(flt, str):
            raise errors.invalid_filter("filter is a string.")
        qs = qs.filter(compile_q(parse_filter(flt, urns), fields))
    sort_by = params.get("sortBy")
    order = str(params.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise errors.invalid_value("sortOrder is ascending or descending.")
    if sort_by:
        __, name = (lambda u: (u, str(sort_by)))(None)
        lower = name.lower()
        for urn in urns:
            if lower.startswith(urn.lower() + ":"):
                lower = lower[len(urn) + 1 :]
        column = sort_fields.get(lower)
        if column is None:
            raise errors.invalid_value(f"Cannot sort by {sort_by!r}.")
        qs = qs.order_by(("-" if order == "descending" else "") + column, "pk")
    else:
        qs = qs.order_by("pk")
    start = max(_int(params.get("startIndex"), "startIndex", 1), 1)
    count = _int(params.get("count"), "count", MAX_RESULTS)
    count = min(max(count, 0), MAX_RESULTS)
    total = qs.count()
    page = list(qs[start - 1 : start - 1 + count]) if count else []
    attributes, excluded = names(params.get("attributes")), names(params.get("excludedAttributes"))
    resources = [select(body, attributes, excluded, core, urns) for body in render(page)]
    return respond(
        {
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )


def _search_params(request: HttpRequest) -> dict[str, Any]:
    body = _json_body(request)
    if not isinstance(body, dict) or body.get("schemas") != [SEARCH_REQUEST]:
        raise errors.invalid_syntax(f"A search body is a SearchRequest ({SEARCH_REQUEST}).")
    return body


# --- users -----------------------------------------------------------------------------------

USER_URNS = USER_SCHEMAS


def _user_lists(request: HttpRequest, client: ScimClient, params: dict[str, Any]) -> HttpResponse:
    definitions = user_attribute_definitions()
    base = base_url(request)
    fields = user_filter_fields(definitions)
    fields["externalid"] = _external_id_field(client, "user_id")

    def render(page: list[User]) -> list[dict[str, Any]]:
        external = _external_ids(client, "user_id", [u.pk for u in page])
        return [_with_external(user_resource(u, base, definitions), external.get(u.pk)) for u in page]

    return _list(
        request,
        params,
        users_queryset(),
        fields,
        USER_SORT_FIELDS,
        render,
        CORE_USER,
        USER_URNS,
    )


def _external_ids(client: ScimClient, column: str, ids: list[int]) -> dict[int, str]:
    """The client's externalIds of one page's users or roles (one query, never the whole table)."""
    rows = ScimExternalId.objects.filter(client=client, **{f"{column}__in": ids}).values_list(
        column, "external_id"
    )
    return dict(rows)


def _with_external(body: dict[str, Any], external_id: str | None) -> dict[str, Any]:
    if external_id is None:
        return body
    out = {k: v for k, v in body.items() if k not in ("id",)}
    return {"id": body["id"], "externalId": external_id, **{k: v for k, v in out.items()}}


def _external_id_field(client: ScimClient, column: str) -> Callable[[str, Any], models.Q]:
    inner = text_field("external_id", case_exact=True)

    def build(op: str, value: Any) -> models.Q:
        ids = ScimExternalId.objects.filter(inner(op, value), client=client).values(column)
        return models.Q(pk__in=ids)

    return build


def _user(client: ScimClient, request: HttpRequest, pk: str) -> tuple[User, dict[str, Any]]:
    if not pk.isdigit():
        raise errors.not_found(f"No user {pk}.")
    user = users_queryset().filter(pk=int(pk)).first()
    if user is None:
        raise errors.not_found(f"No user {pk}.")
    ext = (
        ScimExternalId.objects.filter(client=client, user=user).values_list("external_id", flat=True).first()
    )
    return user, _with_external(user_resource(user, base_url(request), user_attribute_definitions()), ext)


def _check_etag(request: HttpRequest, body: dict[str, Any]) -> None:
    wanted = request.headers.get("If-Match")
    if wanted and wanted.strip() != "*":
        tags = [t.strip() for t in wanted.split(",")]
        version = body["meta"]["version"]
        if version not in tags and version.removeprefix("W/") not in [t.removeprefix("W/") for t in tags]:
            raise errors.ScimError(412, "The resource changed since you read it (If-Match does not match).")


def _single(
    request: HttpRequest, body: dict[str, Any], status: int = 200, *, core: str, urns: tuple[str, ...]
) -> HttpResponse:
    params = request.GET
    shown = select(body, names(params.get("attributes")), names(params.get("excludedAttributes")), core, urns)
    headers = {"ETag": body["meta"]["version"], "Location": body["meta"]["location"]}
    return respond(shown, status, headers)


def _user_answer(request: HttpRequest, client: ScimClient, outcome: Outcome, created: bool) -> HttpResponse:
    if outcome.user is None:  # a new user waiting for approval
        req = outcome.requests[-1]
        return respond(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "202",
                "detail": f"The new user waits for approval: Blazon request {req.pk} ({req.status}). "
                f"It appears in /Users once approved.",
            },
            202,
            {"Location": request.build_absolute_uri(f"/api/v1/requests/{req.pk}/")},
        )
    __, body = _user(client, request, str(outcome.user.pk))
    status = 202 if outcome.pending else (201 if created else 200)
    return _single(request, body, status, core=CORE_USER, urns=USER_URNS)


@scim_endpoint("GET", "POST")
def users(request: HttpRequest, client: ScimClient) -> HttpResponse:
    if request.method == "GET":
        return _user_lists(request, client, request.GET.dict())
    data = _json_body(request)
    fields, active, external_id = user_fields_from_resource(data, user_attribute_definitions())
    outcome = scim_user_create(client=client, fields=fields, active=active, external_id=external_id)
    return _user_answer(request, client, outcome, created=True)


@scim_endpoint("POST")
def users_search(request: HttpRequest, client: ScimClient) -> HttpResponse:
    return _user_lists(request, client, _search_params(request))


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def user_detail(request: HttpRequest, client: ScimClient, pk: str) -> HttpResponse:
    user, body = _user(client, request, pk)
    if request.method == "GET":
        inm = request.headers.get("If-None-Match")
        if inm and body["meta"]["version"] in [t.strip() for t in inm.split(",")]:
            return respond(None, 304, {"ETag": body["meta"]["version"]})
        return _single(request, body, core=CORE_USER, urns=USER_URNS)
    _check_etag(request, body)
    definitions = user_attribute_definitions()
    if request.method == "DELETE":
        outcome = scim_user_delete(client=client, user=user)
        if outcome.pending:
            return respond(None, 202)
        return respond(None, 204)
    data = _json_body(request)
    if request.method == "PATCH":
        current = {k: v for k, v in body.items() if k != "meta"}
        data = apply_patch(current, data, core=CORE_USER, urns=USER_URNS, read_only=frozenset(USER_READ_ONLY))
    elif isinstance(data, dict):
        for key in ("id",):
            if key in data and str(data[key]) != str(user.pk):
                raise errors.mutability("id cannot change.")
    fields, active, external_id = user_fields_from_resource(data, definitions)
    outcome = scim_user_replace(
        client=client, user=user, fields=fields, active=active, external_id=external_id
    )
    return _user_answer(request, client, outcome, created=False)


# --- groups ----------------------------------------------------------------------------------

GROUP_URNS = (CORE_GROUP,)


def _group(client: ScimClient, request: HttpRequest, pk: str) -> tuple[Role, dict[str, Any]]:
    role = groups_queryset().filter(pk=int(pk)).first() if pk.isdigit() else None
    if role is None:
        raise errors.not_found(f"No group {pk}.")
    ext = (
        ScimExternalId.objects.filter(client=client, role=role).values_list("external_id", flat=True).first()
    )
    return role, _with_external(group_resource(role, base_url(request)), ext)


def _group_lists(request: HttpRequest, client: ScimClient, params: dict[str, Any]) -> HttpResponse:
    base = base_url(request)
    fields = dict(GROUP_FILTER_FIELDS)
    fields["externalid"] = _external_id_field(client, "role_id")

    def render(page: list[Role]) -> list[dict[str, Any]]:
        external = _external_ids(client, "role_id", [r.pk for r in page])
        return [_with_external(group_resource(r, base), external.get(r.pk)) for r in page]

    return _list(
        request,
        params,
        groups_queryset(),
        fields,
        GROUP_SORT_FIELDS,
        render,
        CORE_GROUP,
        GROUP_URNS,
    )


@scim_endpoint("GET", "POST")
def groups(request: HttpRequest, client: ScimClient) -> HttpResponse:
    if request.method == "GET":
        return _group_lists(request, client, request.GET.dict())
    role, pending = group_create(client=client, data=_json_body(request))
    __, body = _group(client, request, str(role.pk))
    return _single(request, body, 202 if pending else 201, core=CORE_GROUP, urns=GROUP_URNS)


@scim_endpoint("POST")
def groups_search(request: HttpRequest, client: ScimClient) -> HttpResponse:
    return _group_lists(request, client, _search_params(request))


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def group_detail(request: HttpRequest, client: ScimClient, pk: str) -> HttpResponse:
    role, body = _group(client, request, pk)
    if request.method == "GET":
        return _single(request, body, core=CORE_GROUP, urns=GROUP_URNS)
    _check_etag(request, body)
    if request.method == "DELETE":
        return respond(None, 202 if group_delete(client=client, role=role) else 204)
    data = _json_body(request)
    if request.method == "PATCH":
        current = {k: v for k, v in body.items() if k != "meta"}
        data = apply_patch(
            current, data, core=CORE_GROUP, urns=GROUP_URNS, read_only=frozenset(GROUP_READ_ONLY)
        )
        pending = group_patch(client=client, role=role, before=body, after=data)
    else:
        pending = group_replace(client=client, role=role, data=data)
    role, body = _group(client, request, pk)
    return _single(request, body, 202 if pending else 200, core=CORE_GROUP, urns=GROUP_URNS)


# --- discovery -------------------------------------------------------------------------------


@scim_endpoint("GET")
def service_provider_config_view(request: HttpRequest, client: ScimClient) -> HttpResponse:
    return respond(service_provider_config(base_url(request)))


def _collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }


@scim_endpoint("GET")
def schemas_view(request: HttpRequest, client: ScimClient, schema_id: str | None = None) -> HttpResponse:
    items = schemas(base_url(request))
    if schema_id is None:
        return respond(_collection(items))
    found = next((s for s in items if s["id"] == schema_id), None)
    if found is None:
        raise errors.not_found(f"No schema {schema_id}.")
    return respond(found)


@scim_endpoint("GET")
def resource_types_view(request: HttpRequest, client: ScimClient, type_id: str | None = None) -> HttpResponse:
    items = resource_types(base_url(request))
    if type_id is None:
        return respond(_collection(items))
    found = next((s for s in items if s["id"] == type_id), None)
    if found is None:
        raise errors.not_found(f"No resource type {type_id}.")
    return respond(found)


@scim_endpoint("POST")
def root_search(request: HttpRequest, client: ScimClient) -> HttpResponse:
    """POST /.search (§3.4.3): a search over Users then Groups; a filter naming an attribute one
    type does not have leaves that type out (both: invalidFilter)."""
    params = _search_params(request)
    start = max(_int(params.get("startIndex"), "startIndex", 1), 1)
    count = min(max(_int(params.get("count"), "count", MAX_RESULTS), 0), MAX_RESULTS)
    parts: list[dict[str, Any]] = []
    refused: errors.ScimError | None = None
    offset, wanted = start, count
    for lister in (_user_lists, _group_lists):
        try:
            answer = json.loads(
                lister(request, client, {**params, "startIndex": offset, "count": wanted}).content
            )
        except errors.ScimError as exc:
            if exc.scim_type != "invalidFilter":
                raise
            refused = exc
            continue
        parts.append(answer)
        offset = max(1, offset - answer["totalResults"])
        wanted -= len(answer["Resources"])
    if not parts and refused is not None:
        raise refused
    resources = [r for part in parts for r in part["Resources"]]
    return respond(
        {
            "schemas": [LIST_RESPONSE],
            "totalResults": sum(part["totalResults"] for part in parts),
            "startIndex": start,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )


@csrf_exempt
def not_found_view(request: HttpRequest, rest: str = "") -> HttpResponse:
    try:
        authenticate(request)
    except errors.ScimError as exc:
        return error_response(exc)
    return error_response(errors.not_found(f"No SCIM endpoint /{rest}."))
