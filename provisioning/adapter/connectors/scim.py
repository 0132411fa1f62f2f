"""SCIM 2.0 client connector (RFC 7643 / RFC 7644): accounts are SCIM Users, entitlements are
SCIM Groups, a membership is a ``members`` value of the Group.

Settings (the ``[connector]`` table, ``type = "scim"``):

* ``base_url`` — the service's root, the one ``/Users`` and ``/Groups`` hang under
  (``https://app.example.com/scim/v2``);
* ``auth`` — ``"bearer"`` (``token_env``: the environment variable holding the token),
  ``"basic"`` (``username`` and ``password_env``) or ``"none"``; secrets are read from the
  environment only and never logged;
* ``user_template`` / ``group_template`` — the JSON a User / Group is written with, rendered as
  the REST connector's bodies (``{username}``, ``{email}``, ``{first_name}``, an account
  attribute by name…); the defaults write ``userName``, ``name``, ``displayName``, ``emails``
  and ``externalId`` for a User, ``displayName`` for a Group;
* ``user_match_attribute`` (default ``userName``) / ``group_match_attribute`` (default
  ``displayName``) — the attribute holding an account's / entitlement's identifier: used to
  find an object the link table does not know, to adopt an object that exists already, and as
  the identifier in listings;
* ``page_size`` (default 100) — ``count`` of each page of a listing; ``timeout_seconds``
  (default 10), ``verify_tls`` (default true).

Remote ids are the SCIM ``id`` the service assigns. An object whose id is not known yet is
referred to by ``?<attribute>=<value>`` and looked up (``filter=attribute eq "value"``) when a
call needs it; updates return the real id, so the link table learns it.

Writes: create is ``POST`` (a ``409 uniqueness`` adopts the existing object found by its match
attribute and updates it); update, enable / disable (``active``) and set password are
``PATCH replace``; grant / revoke are ``PATCH`` ``add`` / ``remove`` of ``members`` on the Group
(RFC 7644 §3.5.2); delete is ``DELETE``.

Errors (RFC 7644 §3.12, HTTP status and ``scimType``): no connection, a timeout, 5xx, 429 and
412 (a concurrent write) are transient; 404 is not found; 400 and any other refusal (401, 403,
409, 413…) are bad requests, with ``scimType`` and ``detail`` in the message. Revoking a
membership the Group does not have (``noTarget``) and deleting what is gone are done already.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import requests

from provisioning.adapter.connectors.base import (
    AccountData,
    BadRequestError,
    Connector,
    EntitlementData,
    NotFoundError,
    TransientError,
)
from provisioning.adapter.connectors.rest import _render

SCIM_MEDIA_TYPE = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LOOKUP = "?"  # a remote id not known yet: "?userName=alice"

DEFAULT_USER_TEMPLATE: dict[str, Any] = {
    "userName": "{username}",
    "externalId": "{identifier}",
    "displayName": "{display_name}",
    "name": {"givenName": "{first_name}", "familyName": "{last_name}"},
    "emails": [{"value": "{email}", "type": "work", "primary": True}],
}
DEFAULT_GROUP_TEMPLATE: dict[str, Any] = {"displayName": "{identifier}"}
# resource attributes a listing does not repeat as account attributes
_LISTING_SKIP = {"schemas", "meta", "id", "groups", "password"}
MAX_DETAIL = 300


def _prune(value: Any) -> Any:
    """Leave out what the entry does not say (empty strings, emails without a value): a SCIM
    service rejects ``"value": ""`` for an e-mail, and an empty name part says nothing."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        if "value" in value and pruned.get("value") in (None, ""):
            return None
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [v for v in (_prune(i) for i in value) if v not in (None, "", [], {})]
    return value


class ScimError(Exception):
    """An HTTP answer that is not a success, read as RFC 7644 §3.12 describes it."""

    def __init__(self, status: int, scim_type: str, detail: str, what: str) -> None:
        self.status, self.scim_type, self.detail = status, scim_type, detail
        kind = f" {scim_type}" if scim_type else ""
        super().__init__(f"SCIM {what}: HTTP {status}{kind}: {detail}".rstrip(": "))


class ScimConnector(Connector):
    def __init__(self, settings: dict[str, Any]) -> None:
        self.base_url = str(settings["base_url"]).rstrip("/")
        self.timeout = float(settings.get("timeout_seconds", 10))
        self.verify = settings.get("verify_tls", True)
        self.page_size = int(settings.get("page_size", 100))
        if not 1 <= self.page_size <= 10_000:
            raise ValueError("SCIM connector: page_size must be from 1 to 10000")
        self.user_template = dict(settings.get("user_template") or DEFAULT_USER_TEMPLATE)
        self.group_template = dict(settings.get("group_template") or DEFAULT_GROUP_TEMPLATE)
        self.user_match = str(settings.get("user_match_attribute", "userName"))
        self.group_match = str(settings.get("group_match_attribute", "displayName"))
        self._session = requests.Session()
        self._session.headers.update({"Accept": SCIM_MEDIA_TYPE, "Content-Type": SCIM_MEDIA_TYPE})
        auth = settings.get("auth", "bearer")
        if auth == "bearer":
            self._session.headers["Authorization"] = "Bearer " + self._env(settings, "token_env")
        elif auth == "basic":
            username = settings.get("username")
            if not username:
                raise ValueError("SCIM connector: basic auth needs a username")
            self._session.auth = (str(username), self._env(settings, "password_env"))
        elif auth != "none":
            raise ValueError(f"SCIM connector: auth must be bearer, basic or none, not {auth!r}")

    @staticmethod
    def _env(settings: dict[str, Any], key: str) -> str:
        name = settings.get(key)
        if not name:
            raise ValueError(
                f"SCIM connector: {key} (the environment variable holding the secret) is required"
            )
        value = os.environ.get(str(name))
        if not value:
            raise ValueError(f"SCIM connector: {key} names {name}, which is not set")
        return value

    def close(self) -> None:
        self._session.close()

    # --- HTTP and error mapping -------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        secret: str | None = None,
    ) -> Any:
        """One call; the answer's JSON on success, ``ScimError`` for a refusal, and
        ``TransientError`` for what a later try may fix. ``secret`` is scrubbed from messages."""
        what = f"{method} {path}"
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                data=json.dumps(body) if body is not None else None,
                params=params,
                timeout=self.timeout,
                verify=self.verify,
            )
        except requests.RequestException as exc:  # timeouts, refused / reset connections, TLS
            raise TransientError(f"SCIM {what}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                return None  # the change is made; a caller that needs the answer says it is missing
        scim_type, detail = "", response.text
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            scim_type = str(answer.get("scimType") or "")
            detail = str(answer.get("detail") or "")
        if secret:
            detail = detail.replace(secret, "***")  # before cutting, so no part of it is left
        error = ScimError(status, scim_type, detail[:MAX_DETAIL].strip(), what)
        if status >= 500 or status in (429, 412):
            raise TransientError(str(error)) from error
        raise error

    @staticmethod
    def _typed(error: ScimError) -> Exception:
        """The connector error a refusal means when the operation has no special rule."""
        if error.status == 404:
            return NotFoundError(str(error))
        return BadRequestError(str(error))

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._request(method, path, **kwargs)
        except ScimError as error:
            raise self._typed(error) from error

    def _patch(self, path: str, operations: list[dict[str, Any]], *, secret: str | None = None) -> Any:
        return self._call(
            "PATCH", path, body={"schemas": [PATCH_SCHEMA], "Operations": operations}, secret=secret
        )

    # --- ids ---------------------------------------------------------------------------------

    def account_remote_id(self, identifier: str) -> str:
        return f"{LOOKUP}{self.user_match}={identifier}"

    def entitlement_remote_id(self, identifier: str) -> str:
        return f"{LOOKUP}{self.group_match}={identifier}"

    def _find(self, endpoint: str, attribute: str, value: str) -> str | None:
        """The id of the one resource whose ``attribute`` equals ``value`` (None: there is none)."""
        answer = self._call(
            "GET",
            endpoint,
            params={"filter": f"{attribute} eq {json.dumps(value)}", "attributes": "id", "count": 2},
        )
        if not isinstance(answer, dict):
            raise BadRequestError(f"SCIM GET {endpoint}: the answer is not a list response")
        found = [r for r in answer.get("Resources") or [] if isinstance(r, dict) and r.get("id")]
        if len(found) > 1:
            raise BadRequestError(f"SCIM {endpoint}: more than one resource has {attribute} = {value!r}")
        return str(found[0]["id"]) if found else None

    def _resolve(self, endpoint: str, remote_id: str) -> str:
        if not remote_id.startswith(LOOKUP):
            return remote_id
        attribute, _, value = remote_id[len(LOOKUP) :].partition("=")
        found = self._find(endpoint, attribute, value)
        if found is None:
            raise NotFoundError(f"SCIM {endpoint}: no resource has {attribute} = {value!r}")
        return found

    def _user_path(self, remote_id: str) -> str:
        return f"/Users/{quote(self._resolve('/Users', remote_id), safe='')}"

    def _group_path(self, remote_id: str) -> str:
        return f"/Groups/{quote(self._resolve('/Groups', remote_id), safe='')}"

    @staticmethod
    def _id_from(path: str) -> str:
        return unquote(path.rsplit("/", 1)[1])

    # --- accounts ----------------------------------------------------------------------------

    def _user_body(self, account: AccountData) -> dict[str, Any]:
        body = _prune(_render(self.user_template, account.context()))
        schemas = body.pop("schemas", None) or [USER_SCHEMA]
        return {"schemas": schemas, **body}

    def create_account(self, account: AccountData, *, password: str | None = None) -> str:
        body = self._user_body(account)
        if password:
            body["password"] = password
        try:
            answer = self._request("POST", "/Users", body=body, secret=password)
        except ScimError as error:
            if error.status != 409:
                raise self._typed(error) from error
            # uniqueness: the account exists already (created by hand, or by an earlier try whose
            # answer was lost) — adopt it and make it what the entry says
            value = body.get(self.user_match) or account.username or account.identifier
            existing = self._find("/Users", self.user_match, str(value))
            if existing is None:
                raise BadRequestError(str(error)) from error
            self.update_account(existing, account)
            if password:
                self.set_password(existing, password)
            return existing
        remote_id = answer.get("id") if isinstance(answer, dict) else None
        if not remote_id:
            raise BadRequestError("SCIM POST /Users: the answer carries no id")
        return str(remote_id)

    def update_account(self, remote_id: str, account: AccountData) -> str:
        path = self._user_path(remote_id)
        values = {k: v for k, v in self._user_body(account).items() if k != "schemas"}
        self._patch(path, [{"op": "replace", "value": values}])
        return self._id_from(path)

    def _set_active(self, remote_id: str, active: bool) -> str:
        path = self._user_path(remote_id)
        self._patch(path, [{"op": "replace", "path": "active", "value": active}])
        return self._id_from(path)

    def enable_account(self, remote_id: str) -> str:
        return self._set_active(remote_id, True)

    def disable_account(self, remote_id: str) -> str:
        return self._set_active(remote_id, False)

    def delete_account(self, remote_id: str) -> None:
        self._call("DELETE", self._user_path(remote_id))

    def set_password(self, remote_id: str, password: str) -> None:
        path = self._user_path(remote_id)
        self._patch(path, [{"op": "replace", "path": "password", "value": password}], secret=password)

    # --- memberships -------------------------------------------------------------------------

    def grant(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        user_id = self._resolve("/Users", account_remote_id)
        group = self._group_path(entitlement_remote_id)
        self._patch(group, [{"op": "add", "path": "members", "value": [{"value": user_id}]}])

    def revoke(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        try:
            user_id = self._resolve("/Users", account_remote_id)
        except NotFoundError:
            return  # no such user: it holds no membership either
        group = self._group_path(entitlement_remote_id)
        operation = {"op": "remove", "path": f"members[value eq {json.dumps(user_id)}]"}
        try:
            self._request("PATCH", group, body={"schemas": [PATCH_SCHEMA], "Operations": [operation]})
        except ScimError as error:
            if error.status == 400 and error.scim_type == "noTarget":
                return  # not a member: revoked already
            raise self._typed(error) from error

    # --- entitlements ------------------------------------------------------------------------

    def _group_body(self, entitlement: EntitlementData) -> dict[str, Any]:
        context = {
            **{k: v for k, v in entitlement.attributes.items() if isinstance(k, str)},
            "identifier": entitlement.identifier,
            "name": entitlement.name or entitlement.identifier,
        }
        body = _prune(_render(self.group_template, context))
        schemas = body.pop("schemas", None) or [GROUP_SCHEMA]
        return {"schemas": schemas, **body}

    def create_entitlement(self, entitlement: EntitlementData) -> str:
        body = self._group_body(entitlement)
        # RFC 7643 does not make a Group's displayName unique: look before creating a second one
        value = str(body.get(self.group_match) or entitlement.identifier)
        existing = self._find("/Groups", self.group_match, value)
        if existing is not None:
            return self.update_entitlement(existing, entitlement)
        try:
            answer = self._request("POST", "/Groups", body=body)
        except ScimError as error:
            if error.status != 409:
                raise self._typed(error) from error
            existing = self._find("/Groups", self.group_match, value)
            if existing is None:
                raise BadRequestError(str(error)) from error
            return self.update_entitlement(existing, entitlement)
        remote_id = answer.get("id") if isinstance(answer, dict) else None
        if not remote_id:
            raise BadRequestError("SCIM POST /Groups: the answer carries no id")
        return str(remote_id)

    def update_entitlement(self, remote_id: str, entitlement: EntitlementData) -> str:
        path = self._group_path(remote_id)
        values = {k: v for k, v in self._group_body(entitlement).items() if k != "schemas"}
        self._patch(path, [{"op": "replace", "value": values}])
        return self._id_from(path)

    def delete_entitlement(self, remote_id: str) -> None:
        self._call("DELETE", self._group_path(remote_id))

    # --- listing (reconciliation) ------------------------------------------------------------

    def _pages(self, endpoint: str) -> Iterator[dict[str, Any]]:
        """Every resource of an endpoint, a page at a time (``startIndex`` / ``count``, RFC 7644
        §3.4.2.4) until ``totalResults`` is reached or a page comes back empty."""
        start = 1
        while True:
            answer = self._call("GET", endpoint, params={"startIndex": start, "count": self.page_size})
            if not isinstance(answer, dict):
                raise BadRequestError(f"SCIM GET {endpoint}: the answer is not a list response")
            resources = [r for r in answer.get("Resources") or [] if isinstance(r, dict)]
            yield from resources
            start += len(resources)
            total = answer.get("totalResults")
            if not resources or (isinstance(total, int) and start > total):
                return
            if not isinstance(total, int) and len(resources) < self.page_size:
                return

    def list_accounts(self) -> Iterator[dict[str, Any]]:
        for user in self._pages("/Users"):
            active = user.get("active")
            yield {
                "remote_id": str(user.get("id")),
                "identifier": str(user.get(self.user_match) or ""),
                "enabled": bool(active) if active is not None else True,
                "attributes": {k: v for k, v in user.items() if k not in _LISTING_SKIP and k != "active"},
            }

    def list_entitlements(self) -> Iterator[dict[str, Any]]:
        for group in self._pages("/Groups"):
            members = group.get("members") or []
            yield {
                "remote_id": str(group.get("id")),
                "identifier": str(group.get(self.group_match) or ""),
                "name": str(group.get("displayName") or ""),
                "members": [str(m["value"]) for m in members if isinstance(m, dict) and m.get("value")],
            }
