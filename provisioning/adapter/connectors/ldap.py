"""LDAP / Active Directory connector (ldap3).

Accounts are entries (``inetOrgPerson`` by default) named ``<rdn_attribute>=<identifier>`` under
``accounts_base``; entitlements are groups (``groupOfNames``) named ``cn=<identifier>`` under
``groups_base``, memberships are their ``member`` values (account DNs). The remote id of every
object is its DN.

* ``groupOfNames`` needs one member at least: an empty group holds ``empty_group_member``
  (a DN that names nobody), removed on the first grant and put back on the last revoke. The
  connector remembers which groups it emptied of it, so later grants are one operation, not
  two (another replica's last revoke may put it back meanwhile: the placeholder then stays
  beside real members until this process restarts, which names nobody and changes no access).
* Disable / enable, by ``disable_mode``:
  ``move`` (default) moves the entry to ``disabled_base`` and back, and rewrites the group
  memberships that named the old DN (a server without the refint overlay would keep stale
  DNs). The DN changes: the new one is reported as the account's native identifier.
  ``attribute`` sets ``disable_attribute`` to ``disabled_value`` (removes it, or sets
  ``enabled_value``, to enable): for Active Directory, ``userAccountControl`` 514 / 512.
* Passwords, by ``password_mode``: ``exop`` (RFC 3062 password modify: the server hashes it),
  ``attribute`` (replace ``userPassword``), ``ad`` (``unicodePwd``, needs LDAPS).
* Errors: no answer, a broken connection, ``busy`` / ``unavailable`` / time limits are
  transient; ``noSuchObject`` is not found; any other refusal (undefined attribute, schema or
  syntax violation, no access) is a bad request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import ldap3
from ldap3.core import exceptions as lx
from ldap3.protocol.rfc3062 import PasswdModifyRequestValue
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from provisioning.adapter.connectors.base import (
    AccountData,
    BadRequestError,
    Connector,
    EntitlementData,
    NotFoundError,
    TransientError,
)

logger = logging.getLogger("blazon.adapter.ldap")

SUCCESS, NO_SUCH_ATTRIBUTE, ATTRIBUTE_EXISTS = 0, 16, 20
NO_SUCH_OBJECT, ALREADY_EXISTS, OBJECT_CLASS_VIOLATION = 32, 68, 65
TRANSIENT_CODES = {3, 11, 51, 52, 80}  # time limit, admin limit, busy, unavailable, other
DEFAULT_ACCOUNT_ATTRIBUTES = {
    "cn": "{display_name}",
    "sn": "{last_name}",
    "givenName": "{first_name}",
    "mail": "{email}",
}
#: inetOrgPerson refuses an entry without these: an empty mapping falls back to the identifier.
REQUIRED_ATTRIBUTES = ("cn", "sn")


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


class LdapConnector(Connector):
    def __init__(self, settings: dict[str, Any]) -> None:
        self.url = settings["url"]
        self.bind_dn = settings.get("bind_dn", "")
        env = settings.get("password_env", "")
        self.bind_password = os.environ.get(env, "") if env else settings.get("password", "")
        self.accounts_base = settings["accounts_base"]
        self.groups_base = settings["groups_base"]
        self.rdn_attribute = settings.get("rdn_attribute", "uid")
        self.account_classes = list(settings.get("account_object_classes", ["inetOrgPerson"]))
        self.group_classes = list(settings.get("group_object_classes", ["groupOfNames"]))
        self.mapping = dict(settings.get("account_attributes", DEFAULT_ACCOUNT_ATTRIBUTES))
        self.empty_member = settings.get("empty_group_member", "cn=nobody")
        self.disable_mode = settings.get("disable_mode", "move")
        self.disabled_base = settings.get("disabled_base", "")
        self.disable_attribute = settings.get("disable_attribute", "")
        self.disabled_value = str(settings.get("disabled_value", "disabled"))
        self.enabled_value = str(settings.get("enabled_value", ""))
        self.password_mode = settings.get("password_mode", "exop")
        self.timeout = max(int(settings.get("timeout_seconds", 10)), 1)  # ldap3 packs it as an int
        if self.disable_mode == "move" and not self.disabled_base:
            raise ValueError("LDAP connector: disable_mode 'move' needs disabled_base")
        if self.disable_mode == "attribute" and not self.disable_attribute:
            raise ValueError("LDAP connector: disable_mode 'attribute' needs disable_attribute")
        self._conn: ldap3.Connection | None = None
        #: groups (DNs, lower case) this process removed ``empty_member`` from
        self._without_placeholder: set[str] = set()

    # --- connection and error mapping -------------------------------------------------------

    def _connect(self) -> ldap3.Connection:
        if self._conn is None or not self._conn.bound:
            server = ldap3.Server(self.url, connect_timeout=self.timeout, get_info=ldap3.NONE)
            conn = ldap3.Connection(
                server,
                user=self.bind_dn or None,
                password=self.bind_password or None,
                receive_timeout=self.timeout,
                raise_exceptions=False,
            )
            try:
                if not conn.bind():
                    raise TransientError(
                        f"LDAP bind as {self.bind_dn!r} refused: {conn.result.get('description')}"
                    )
            except lx.LDAPException as exc:
                raise TransientError(f"LDAP server {self.url} unreachable: {exc}") from exc
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.unbind()
            except lx.LDAPException:
                pass
            self._conn = None

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, str]:
        """Run one operation; (result code, message). A broken connection is retried once on a
        fresh one (the server may have restarted since the last call), then is transient."""
        for again in (True, False):
            fresh = self._conn is None
            conn = self._connect()
            try:
                getattr(conn, method)(*args, **kwargs)
            except lx.LDAPException as exc:
                self._conn = None
                if again and not fresh:
                    continue
                raise TransientError(f"LDAP {what}: {exc}") from exc
            result = conn.result or {}
            code = int(result.get("result", 0))
            message = f"{result.get('description', '')} {result.get('message', '')}".strip()
            if code in TRANSIENT_CODES:
                raise TransientError(f"LDAP {what}: {message} (code {code})")
            return code, message
        raise AssertionError("unreachable")

    def _check(self, what: str, code: int, message: str, *, ok: tuple[int, ...] = ()) -> int:
        if code == SUCCESS or code in ok:
            return code
        if code == NO_SUCH_OBJECT:
            raise NotFoundError(f"LDAP {what}: no such object")
        raise BadRequestError(f"LDAP {what}: {message} (code {code})")

    def _run(self, what: str, method: str, *args: Any, ok: tuple[int, ...] = (), **kwargs: Any) -> int:
        code, message = self._call(what, method, *args, **kwargs)
        return self._check(what, code, message, ok=ok)

    # --- ids ---------------------------------------------------------------------------------

    def account_remote_id(self, identifier: str) -> str:
        return f"{self.rdn_attribute}={escape_rdn(identifier)},{self.accounts_base}"

    def entitlement_remote_id(self, identifier: str) -> str:
        return f"cn={escape_rdn(identifier)},{self.groups_base}"

    @staticmethod
    def _rdn(dn: str) -> str:
        attr, value, _ = parse_dn(dn, escape=True)[0]
        return f"{attr}={value}"

    # --- accounts ----------------------------------------------------------------------------

    def _mapped(self, account: AccountData) -> dict[str, str]:
        context = _Blank(account.context())
        values = {}
        for attr, template in self.mapping.items():
            try:
                values[attr] = str(template).format_map(context).strip()
            except (ValueError, IndexError, AttributeError) as exc:
                raise BadRequestError(f"attribute mapping of {attr!r} is not valid: {exc}") from exc
        for attr in REQUIRED_ATTRIBUTES:
            if attr in values and not values[attr]:
                values[attr] = account.identifier
        return values

    def create_account(self, account: AccountData, *, password: str | None = None) -> str:
        dn = self.account_remote_id(account.identifier)
        attributes: dict[str, Any] = {k: v for k, v in self._mapped(account).items() if v}
        attributes[self.rdn_attribute] = account.identifier
        code = self._run(f"add {dn}", "add", dn, self.account_classes, attributes, ok=(ALREADY_EXISTS,))
        if code == ALREADY_EXISTS:  # executed before (a retry, an expired lease): make it match
            self.update_account(dn, account)
        if password:
            self.set_password(dn, password)
        return dn

    def update_account(self, remote_id: str, account: AccountData) -> str:
        changes = {
            attr: [(ldap3.MODIFY_REPLACE, [value] if value else [])]
            for attr, value in self._mapped(account).items()
        }
        if changes:
            self._run(f"modify {remote_id}", "modify", remote_id, changes)
        return remote_id

    def _move(self, dn: str, new_base: str) -> str:
        rdn = self._rdn(dn)
        target = f"{rdn},{new_base}"
        if dn.lower() == target.lower():
            return dn
        code, message = self._call(f"move {dn}", "modify_dn", dn, rdn, new_superior=new_base)
        if code == NO_SUCH_OBJECT and self._exists(target):
            return target  # moved already (the earlier attempt's answer was lost)
        self._check(f"move {dn}", code, message)
        for group in self._groups_of(dn):
            self._run(
                f"modify {group}",
                "modify",
                group,
                {"member": [(ldap3.MODIFY_ADD, [target])]},
                ok=(ATTRIBUTE_EXISTS,),
            )
            self._run(
                f"modify {group}",
                "modify",
                group,
                {"member": [(ldap3.MODIFY_DELETE, [dn])]},
                ok=(NO_SUCH_ATTRIBUTE,),
            )
        return target

    def _set_flag(self, dn: str, value: str) -> str:
        self._run(
            f"modify {dn}",
            "modify",
            dn,
            {self.disable_attribute: [(ldap3.MODIFY_REPLACE, [value] if value else [])]},
        )
        return dn

    def disable_account(self, remote_id: str) -> str:
        if self.disable_mode == "move":
            return self._move(remote_id, self.disabled_base)
        return self._set_flag(remote_id, self.disabled_value)

    def enable_account(self, remote_id: str) -> str:
        if self.disable_mode == "move":
            return self._move(remote_id, self.accounts_base)
        return self._set_flag(remote_id, self.enabled_value)

    def delete_account(self, remote_id: str) -> None:
        for group in self._groups_of(remote_id):
            self.revoke(remote_id, group)
        self._run(f"delete {remote_id}", "delete", remote_id)

    def set_password(self, remote_id: str, password: str) -> None:
        what = f"set password of {remote_id}"
        if self.password_mode == "attribute":
            self._run(what, "modify", remote_id, {"userPassword": [(ldap3.MODIFY_REPLACE, [password])]})
        elif self.password_mode == "ad":
            encoded = f'"{password}"'.encode("utf-16-le")
            self._run(what, "modify", remote_id, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [encoded])]})
        else:  # RFC 3062 password modify extended operation
            self._run(
                what, "extended", "1.3.6.1.4.1.4203.1.11.1", _password_modify_value(remote_id, password)
            )

    # --- memberships -------------------------------------------------------------------------

    def grant(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        self._run(
            f"add member to {entitlement_remote_id}",
            "modify",
            entitlement_remote_id,
            {"member": [(ldap3.MODIFY_ADD, [account_remote_id])]},
            ok=(ATTRIBUTE_EXISTS,),
        )
        if self.empty_member and entitlement_remote_id.lower() not in self._without_placeholder:
            self._run(
                f"modify {entitlement_remote_id}",
                "modify",
                entitlement_remote_id,
                {"member": [(ldap3.MODIFY_DELETE, [self.empty_member])]},
                ok=(NO_SUCH_ATTRIBUTE, OBJECT_CLASS_VIOLATION),
            )
            self._without_placeholder.add(entitlement_remote_id.lower())

    def revoke(self, account_remote_id: str, entitlement_remote_id: str) -> None:
        what = f"remove member from {entitlement_remote_id}"
        code, message = self._call(
            what, "modify", entitlement_remote_id, {"member": [(ldap3.MODIFY_DELETE, [account_remote_id])]}
        )
        if code == OBJECT_CLASS_VIOLATION and self.empty_member:  # the last member: keep the group valid
            self._without_placeholder.discard(entitlement_remote_id.lower())
            self._run(
                what,
                "modify",
                entitlement_remote_id,
                {"member": [(ldap3.MODIFY_REPLACE, [self.empty_member])]},
            )
            return
        if code == NO_SUCH_OBJECT:
            return  # the group is gone: nobody holds it
        self._check(what, code, message, ok=(NO_SUCH_ATTRIBUTE,))

    def _groups_of(self, dn: str) -> list[str]:
        flt = f"(&(objectClass={self.group_classes[-1]})(member={escape_filter_chars(dn)}))"
        code, message = self._call(f"search groups of {dn}", "search", self.groups_base, flt, attributes=[])
        self._check(f"search {self.groups_base}", code, message)
        response = self._conn.response if self._conn is not None else None  # _call may have reconnected
        return [e["dn"] for e in response or [] if e.get("type") == "searchResEntry"]

    def _exists(self, dn: str) -> bool:
        code, _ = self._call(f"read {dn}", "search", dn, "(objectClass=*)", ldap3.BASE, attributes=[])
        return code == SUCCESS

    # --- entitlements ------------------------------------------------------------------------

    def create_entitlement(self, entitlement: EntitlementData) -> str:
        dn = self.entitlement_remote_id(entitlement.identifier)
        attributes: dict[str, Any] = {"cn": entitlement.identifier}
        if self.empty_member:
            attributes["member"] = [self.empty_member]
        if entitlement.name:
            attributes["description"] = entitlement.name
        code = self._run(f"add {dn}", "add", dn, self.group_classes, attributes, ok=(ALREADY_EXISTS,))
        if code == ALREADY_EXISTS:
            self.update_entitlement(dn, entitlement)
        return dn

    def update_entitlement(self, remote_id: str, entitlement: EntitlementData) -> str:
        value = [entitlement.name] if entitlement.name else []
        self._run(
            f"modify {remote_id}", "modify", remote_id, {"description": [(ldap3.MODIFY_REPLACE, value)]}
        )
        return remote_id

    def delete_entitlement(self, remote_id: str) -> None:
        self._without_placeholder.discard(remote_id.lower())
        self._run(f"delete {remote_id}", "delete", remote_id)

    # --- listing (reconciliation) ------------------------------------------------------------

    def _search(self, base: str, flt: str, attributes: list[str]) -> Iterator[dict[str, Any]]:
        conn = self._connect()
        try:
            yield from conn.extend.standard.paged_search(
                base, flt, attributes=attributes, paged_size=500, generator=True
            )
        except lx.LDAPException as exc:
            self._conn = None
            raise TransientError(f"LDAP search {base}: {exc}") from exc

    def list_accounts(self) -> Iterator[dict[str, Any]]:
        bases = [(self.accounts_base, True)]
        if self.disable_mode == "move":
            bases.append((self.disabled_base, False))
        attrs = [self.rdn_attribute, *self.mapping]
        if self.disable_mode == "attribute":
            attrs.append(self.disable_attribute)
        for base, enabled in bases:
            flt = f"(objectClass={self.account_classes[-1]})"
            for entry in self._search(base, flt, attrs):
                if entry.get("type") != "searchResEntry":
                    continue
                values = {k: _one(v) for k, v in entry["attributes"].items()}
                if self.disable_mode == "attribute":
                    enabled = values.pop(self.disable_attribute, "") != self.disabled_value
                yield {
                    "remote_id": entry["dn"],
                    "identifier": values.pop(self.rdn_attribute, ""),
                    "enabled": enabled,
                    "attributes": values,
                }

    def list_entitlements(self) -> Iterator[dict[str, Any]]:
        flt = f"(objectClass={self.group_classes[-1]})"
        for entry in self._search(self.groups_base, flt, ["cn", "member", "description"]):
            if entry.get("type") != "searchResEntry":
                continue
            attributes = entry["attributes"]
            members = [m for m in attributes.get("member", []) if m != self.empty_member]
            yield {
                "remote_id": entry["dn"],
                "identifier": _one(attributes.get("cn")),
                "name": _one(attributes.get("description")),
                "members": members,
            }


def _one(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else ""
    return value


def _password_modify_value(dn: str, password: str) -> Any:
    request = PasswdModifyRequestValue()
    request["userIdentity"] = dn
    request["newPasswd"] = password
    return request
