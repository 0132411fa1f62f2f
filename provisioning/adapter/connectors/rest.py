"""Generic REST connector: an application with an HTTP/JSON API, described by a mapping.

Each operation (``create_account``, ``update_account``, ``enable_account``,
``disable_account``, ``delete_account``, ``set_password``, ``grant``, ``revoke``,
``create_entitlement``, ``update_entitlement``, ``delete_entitlement``, ``list_accounts``,
``list_entitlements``) is a table under ``[connector.operations]``:

* ``method`` and ``path`` — a template over ``{native_id}`` (the remote id), ``{account_id}`` and
  ``{entitlement_id}`` (for a grant / revoke) and the entry's values; every value put in a path
  is URL-encoded, so it cannot add path segments or a query;
* ``body`` — a JSON template: strings are formatted with the entry's values (``{email}``,
  ``{first_name}``, an account attribute by name, ``{password}``…); a string that is exactly one
  ``{name}`` keeps the value's JSON type; tables and lists are walked;
* ``id_path`` (creates) — where the new object's id is in the answer (``"id"``, ``"data.id"``);
  without one, or when the answer has none, the remote id is ``account_id_template`` /
  ``entitlement_id_template`` (default ``{identifier}``);
* for listings: ``items_path`` (the list in the answer, ``""`` = the answer itself) and the
  item fields ``id_field``, ``identifier_field``, ``enabled_field``, ``name_field``,
  ``members_field``.

A listing may be paged, with a ``pagination`` table in its operation (``type`` is one of):

* ``"page"`` — page numbers: ``page_param`` (default ``page``), ``first_page`` (1),
  ``size_param`` (``per_page``) and ``page_size`` (100);
* ``"offset"`` — ``offset_param`` (``offset``), ``limit_param`` (``limit``), ``page_size`` (100);
* ``"next_link"`` — the answer says where the next page is: ``next_path`` (``"links.next"``), or
  the ``Link: <…>; rel="next"`` header when ``next_path`` is empty; an absolute or relative URL
  that must stay on ``base_url``'s scheme, host and port (the auth header is never sent
  elsewhere);
* ``"cursor"`` — ``cursor_param`` (``cursor``) sent with the value found at ``cursor_path``
  (``"next_cursor"``), until it is empty.

``page`` and ``offset`` stop at an empty or short page, or when ``total_path`` (the total the
answer gives, optional) is reached; ``next_link`` and ``cursor`` when there is no next one. A
link or cursor seen twice, or more than ``max_pages`` (10000) pages, is a bad request rather
than an endless loop.

An operation without a table is refused as a bad request (the application cannot do it).
The auth header (``auth_header``, default ``Authorization``) is ``auth_prefix`` + the value of
the environment variable ``auth_env``; it is never logged.

Errors: a timeout, no connection, 5xx and 429 are transient; 404 is not found; 400, 409, 422
and any other refusal (401, 403…) are bad requests. ``status_map`` overrides a code
(``{"409" = "ok"}`` makes a create of something present succeed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from provisioning.adapter.connectors.base import (
    AccountData,
    BadRequestError,
    Connector,
    EntitlementData,
    NotFoundError,
    TransientError,
)

_WHOLE = re.compile(r"^\{(\w+)\}$")
_OUTCOMES = {"ok", "transient", "bad_request", "not_found"}
_PAGINATION = {"page", "offset", "next_link", "cursor"}
MAX_PAGES = 10_000


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _dig(data: Any, path: str) -> Any:
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _render(template: Any, context: dict[str, Any]) -> Any:
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole:
            return context.get(whole.group(1), "")
        try:
            return template.format_map(_Blank(context))
        except (ValueError, IndexError, AttributeError, KeyError) as exc:
            raise BadRequestError(f"body template {template!r} is not valid: {exc}") from exc
    if isinstance(template, dict):
        return {k: _render(v, context) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, context) for v in template]
    return template


class RestConnector(Connector):
    def __init__(self, settings: dict[str, Any]) -> None:
        self.base_url = str(settings["base_url"]).rstrip("/")
        self.timeout = float(settings.get("timeout_seconds", 10))
        self.verify = settings.get("verify_tls", True)
        self.operations: dict[str, dict[str, Any]] = dict(settings.get("operations", {}))
        self.account_id_template = settings.get("account_id_template", "{identifier}")
        self.entitlement_id_template = settings.get("entitlement_id_template", "{identifier}")
        self.status_map = {int(k): v for k, v in dict(settings.get("status_map", {})).items()}
        for code, outcome in self.status_map.items():
            if outcome not in _OUTCOMES:
                raise ValueError(f"REST connector: status_map[{code}] must be one of {sorted(_OUTCOMES)}")
        for operation in ("list_accounts", "list_entitlements"):
            paging = self.operations.get(operation, {}).get("pagination")
            if paging is not None and (not isinstance(paging, dict) or paging.get("type") not in _PAGINATION):
                raise ValueError(
                    f"REST connector: {operation}.pagination.type must be one of {sorted(_PAGINATION)}"
                )
            if paging and int(paging.get("page_size", 100)) < 1:
                raise ValueError(f"REST connector: {operation}.pagination.page_size must be at least 1")
        self.headers = {"Accept": "application/json", **dict(settings.get("headers", {}))}
        env = settings.get("auth_env", "")
        token = settings.get("auth_token", "")  # the in-process runner's, from the vault
        if env:
            token = os.environ.get(env)
            if not token:
                raise ValueError(f"REST connector: auth_env names {env}, which is not set")
        if token:
            self.headers[settings.get("auth_header", "Authorization")] = (
                settings.get("auth_prefix", "") + token
            )
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    # --- HTTP and error mapping -------------------------------------------------------------

    def _outcome(self, status: int) -> str:
        if status in self.status_map:
            return self.status_map[status]
        if 200 <= status < 300:
            return "ok"
        if status >= 500 or status == 429:
            return "transient"
        if status == 404:
            return "not_found"
        return "bad_request"

    def _call(self, operation: str, context: dict[str, Any], path_values: dict[str, str]) -> Any:
        return self._exchange(operation, context, path_values)[0]

    def _exchange(
        self,
        operation: str,
        context: dict[str, Any],
        path_values: dict[str, str],
        *,
        params: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> tuple[Any, requests.Response]:
        """One call of an operation: the answer's JSON (None when empty) and the response.
        ``url`` replaces the operation's path (a next-page link); ``params`` add to its query."""
        spec = self.operations.get(operation)
        if not spec:
            raise BadRequestError(f"REST connector: operation {operation!r} is not configured")
        method = str(spec.get("method", "GET")).upper()
        safe = {k: quote(str(v), safe="") for k, v in {**context, **path_values}.items()}
        try:
            path = str(spec.get("path", "")).format_map(_Blank(safe))
        except (ValueError, IndexError, AttributeError) as exc:
            raise BadRequestError(f"path template of {operation!r} is not valid: {exc}") from exc
        body = _render(spec["body"], {**context, **path_values}) if "body" in spec else None
        what = f"{method} {path if url is None else url}"
        try:
            response = self._session.request(
                method,
                self.base_url + path if url is None else url,
                params=params,
                json=body,
                headers=self.headers,
                timeout=self.timeout,
                verify=self.verify,
            )
        except requests.RequestException as exc:  # timeouts, refused / reset connections, TLS
            raise TransientError(f"REST {what}: {type(exc).__name__}: {exc}") from exc
        outcome = self._outcome(response.status_code)
        detail = f"REST {what}: HTTP {response.status_code} {response.text[:200]}".strip()
        if outcome == "transient":
            raise TransientError(detail)
        if outcome == "not_found":
            raise NotFoundError(detail)
        if outcome == "bad_request":
            raise BadRequestError(detail)
        if not response.content:
            return None, response
        try:
            return response.json(), response
        except ValueError:
            return None, response

    def _new_id(self, operation: str, answer: Any, fallback: str) -> str:
        id_path = self.operations.get(operation, {}).get("id_path", "")
        found = _dig(answer, id_path) if id_path else None
        return str(found) if found not in (None, "") else fallback

    # --- ids ---------------------------------------------------------------------------------

    def account_remote_id(self, identifier: str) -> str:
        return self.account_id_template.format_map(_Blank(identifier=identifier))

    def entitlement_remote_id(self, identifier: str) -> str:
        return self.entitlement_id_template.format_map(_Blank(identifier=identifier))

    # --- accounts ----------------------------------------------------------------------------

    def create_account(self, account: AccountData, *, password: str | None = None) -> str:
        context = {**account.context(), "password": password or ""}
        answer = self._call("create_account", context, {})
        remote_id = self._new_id("create_account", answer, self.account_remote_id(account.identifier))
        if password and "{password}" not in str(self.operations["create_account"].get("body", "")):
            self.set_password(remote_id, password)  # the create's body does not carry it
        return remote_id

    def update_account(self, remote_id: str, account: AccountData) -> str:
        self._call("update_account", account.context(), {"native_id": remote_id})
        return remote_id

    def enable_account(self, remote_id: str) -> str:
        self._call("enable_account", {}, {"native_id": remote_id})
        return remote_id

    def disable_account(self, remote_id: str) -> str:
        self._call("disable_account", {}, {"native_id": remote_id})
        return remote_id

    def delete_account(self, remote_id: str) -> None:
        self._call("delete_account", {}, {"native_id": remote_id})

    def set_password(self, remote_id: str, password: str) -> None:
        self._call("set_password", {"password": password}, {"native_id": remote_id})

    # --- memberships -------------------------------------------------------------------------

    def grant(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        ids = {"account_id": account_remote_id, "entitlement_id": entitlement_remote_id}
        self._call("grant", {}, ids)

    def revoke(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        ids = {"account_id": account_remote_id, "entitlement_id": entitlement_remote_id}
        self._call("revoke", {}, ids)

    # --- entitlements ------------------------------------------------------------------------

    @staticmethod
    def _entitlement_context(entitlement: EntitlementData) -> dict[str, Any]:
        return {
            **{k: v for k, v in entitlement.attributes.items() if isinstance(k, str)},
            "identifier": entitlement.identifier,
            "name": entitlement.name or entitlement.identifier,
        }

    def create_entitlement(self, entitlement: EntitlementData) -> str:
        answer = self._call("create_entitlement", self._entitlement_context(entitlement), {})
        return self._new_id("create_entitlement", answer, self.entitlement_remote_id(entitlement.identifier))

    def update_entitlement(self, remote_id: str, entitlement: EntitlementData) -> str:
        self._call("update_entitlement", self._entitlement_context(entitlement), {"native_id": remote_id})
        return remote_id

    def delete_entitlement(self, remote_id: str) -> None:
        self._call("delete_entitlement", {}, {"native_id": remote_id})

    # --- listing (reconciliation) ------------------------------------------------------------

    def _page_items(self, operation: str, spec: dict[str, Any], answer: Any) -> list[dict[str, Any]]:
        items = _dig(answer, spec.get("items_path", ""))
        if not isinstance(items, list):
            raise BadRequestError(f"REST {operation}: the answer holds no list at {spec.get('items_path')!r}")
        return [i for i in items if isinstance(i, dict)]

    def _same_origin(self, operation: str, link: str, current: str) -> str:
        url = urljoin(current, link)
        base, target = urlsplit(self.base_url), urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise BadRequestError(
                f"REST {operation}: the next-page link leads to {target.scheme}://{target.netloc}, "
                f"not to {base.scheme}://{base.netloc}; it is not followed"
            )
        return url

    def _items(self, operation: str) -> Iterator[dict[str, Any]]:
        """Every item of a listing, following its ``pagination`` (one call without one)."""
        spec = self.operations.get(operation, {})
        paging = spec.get("pagination")
        if not paging:
            answer = self._call(operation, {}, {})
            yield from self._page_items(operation, spec, answer)
            return
        kind, size = paging["type"], int(paging.get("page_size", 100))
        max_pages = int(paging.get("max_pages", MAX_PAGES))
        total_path = paging.get("total_path", "")
        page = int(paging.get("first_page", 1))
        offset, params, url = 0, {}, None
        seen: set[str] = set()
        for _ in range(max_pages):
            if kind == "page":
                params = {paging.get("page_param", "page"): page, paging.get("size_param", "per_page"): size}
            elif kind == "offset":
                params = {
                    paging.get("offset_param", "offset"): offset,
                    paging.get("limit_param", "limit"): size,
                }
            answer, response = self._exchange(operation, {}, {}, params=params or None, url=url)
            items = self._page_items(operation, spec, answer)
            yield from items
            offset, page = offset + len(items), page + 1
            if kind in ("page", "offset"):
                total = _dig(answer, total_path) if total_path else None
                if not items or (total is None and len(items) < size):
                    return
                if isinstance(total, int) and offset >= total:
                    return
                continue
            if kind == "next_link":
                next_path = paging.get("next_path", "links.next")
                link = _dig(answer, next_path) if next_path else response.links.get("next", {}).get("url")
                if not link:
                    return
                url = self._same_origin(operation, str(link), response.url)
                marker = url
            else:  # cursor
                cursor = _dig(answer, paging.get("cursor_path", "next_cursor"))
                if cursor in (None, ""):
                    return
                params = {paging.get("cursor_param", "cursor"): cursor}
                marker = str(cursor)
            if marker in seen:
                raise BadRequestError(f"REST {operation}: the application gave the same next page twice")
            seen.add(marker)
        raise BadRequestError(f"REST {operation}: more than {max_pages} pages; stopped (raise max_pages?)")

    def list_accounts(self) -> Iterator[dict[str, Any]]:
        spec = self.operations.get("list_accounts", {})
        items = self._items("list_accounts")
        id_field = spec.get("id_field", "id")
        identifier_field = spec.get("identifier_field", id_field)
        enabled_field = spec.get("enabled_field", "")
        for item in items:
            enabled = _dig(item, enabled_field) if enabled_field else True
            yield {
                "remote_id": str(_dig(item, id_field)),
                "identifier": str(_dig(item, identifier_field)),
                "enabled": bool(enabled) if enabled is not None else True,
                "attributes": {
                    k: v for k, v in item.items() if k not in (id_field, identifier_field, enabled_field)
                },
            }

    def list_entitlements(self) -> Iterator[dict[str, Any]]:
        spec = self.operations.get("list_entitlements", {})
        items = self._items("list_entitlements")
        id_field = spec.get("id_field", "id")
        identifier_field = spec.get("identifier_field", id_field)
        name_field = spec.get("name_field", "name")
        members_field = spec.get("members_field", "members")
        for item in items:
            members = _dig(item, members_field) or []
            yield {
                "remote_id": str(_dig(item, id_field)),
                "identifier": str(_dig(item, identifier_field)),
                "name": _dig(item, name_field) or "",
                "members": [str(m) for m in members],
            }
