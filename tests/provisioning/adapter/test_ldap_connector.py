"""The LDAP connector against a real slapd: accounts in an OU, groups as entitlements, typed
errors (transient when the server is down, bad request on a refused change, not found)."""

from __future__ import annotations

import ldap3
import pytest

from provisioning.adapter.connectors import (
    AccountData,
    BadRequestError,
    EntitlementData,
    NotFoundError,
    TransientError,
)
from provisioning.adapter.connectors.ldap import LdapConnector
from tests.provisioning.adapter.slapd import DISABLED, GROUPS, PEOPLE, ldap_settings

ALICE = AccountData(
    identifier="alice",
    username="alice",
    email="alice@example.test",
    first_name="Alice",
    last_name="Doe",
    display_name="Alice Doe",
)


@pytest.fixture
def ldap(slapd):
    connector = LdapConnector(ldap_settings(slapd))
    yield connector
    connector.close()


def test_create_is_idempotent_and_maps_attributes(ldap, slapd):
    dn = ldap.create_account(ALICE, password="S3cret-pass!")
    assert dn == f"uid=alice,{PEOPLE}"
    entry = slapd.entry(dn)
    assert entry["cn"] == ["Alice Doe"] and entry["sn"] == ["Doe"] and entry["mail"] == ["alice@example.test"]
    # the password was set through the password-modify operation: the server hashed it
    stored = entry["userPassword"][0]
    assert (stored.decode() if isinstance(stored, bytes) else stored).startswith("{SSHA}")
    assert ldap3.Connection(ldap3.Server(slapd.url), dn, "S3cret-pass!").bind()
    # a second create (a retry whose answer was lost) updates instead of failing
    again = AccountData(**{**ALICE.__dict__, "email": "alice@new.test"})
    assert ldap.create_account(again) == dn
    assert slapd.entry(dn, "mail")["mail"] == ["alice@new.test"]


def test_grant_and_revoke_keep_groupofnames_valid(ldap, slapd):
    dn = ldap.create_account(ALICE)
    group = ldap.entitlement_remote_id("payments")
    ldap.grant(dn, group)
    ldap.grant(dn, group)  # twice: harmless
    assert slapd.members("payments") == [dn]
    assert "cn=nobody" not in slapd.entry(group, "member")["member"]
    ldap.revoke(dn, group)  # the last member: the placeholder comes back
    ldap.revoke(dn, group)  # not a member any more: harmless
    assert slapd.members("payments") == [] and slapd.entry(group, "member")["member"] == ["cn=nobody"]
    with pytest.raises(NotFoundError):
        ldap.grant(dn, f"cn=missing,{GROUPS}")


def test_disable_moves_to_the_disabled_ou_and_rewrites_memberships(ldap, slapd):
    dn = ldap.create_account(ALICE)
    group = ldap.entitlement_remote_id("payments")
    ldap.grant(dn, group)
    disabled = ldap.disable_account(dn)
    assert disabled == f"uid=alice,{DISABLED}" and slapd.entry(dn) is None
    assert slapd.members("payments") == [disabled]
    assert ldap.disable_account(dn) == disabled  # again, from the old DN: already done
    assert ldap.enable_account(disabled) == dn and slapd.members("payments") == [dn]
    accounts = {a["identifier"]: a for a in ldap.list_accounts()}
    assert accounts["alice"]["enabled"] is True and accounts["alice"]["remote_id"] == dn


def test_disable_by_attribute(slapd):
    ldap = LdapConnector(
        ldap_settings(
            slapd, disable_mode="attribute", disable_attribute="employeeType", disabled_value="disabled"
        )
    )
    dn = ldap.create_account(ALICE)
    assert ldap.disable_account(dn) == dn and slapd.entry(dn, "employeeType")["employeeType"] == ["disabled"]
    assert [a["enabled"] for a in ldap.list_accounts()] == [False]
    ldap.enable_account(dn)
    assert slapd.entry(dn, "employeeType").get("employeeType", []) == []
    ldap.close()


def test_delete_leaves_no_stale_membership_and_gone_is_not_found(ldap, slapd):
    dn = ldap.create_account(ALICE)
    ldap.grant(dn, ldap.entitlement_remote_id("payments"))
    ldap.delete_account(dn)
    assert slapd.entry(dn) is None and slapd.members("payments") == []
    with pytest.raises(NotFoundError):
        ldap.delete_account(dn)
    with pytest.raises(NotFoundError):
        ldap.update_account(dn, ALICE)


def test_entitlements_lifecycle_and_listing(ldap, slapd):
    group = ldap.create_entitlement(EntitlementData(identifier="audit", name="Audit readers"))
    assert group == f"cn=audit,{GROUPS}" and slapd.entry(group, "description")["description"] == [
        "Audit readers"
    ]
    assert ldap.create_entitlement(EntitlementData(identifier="audit", name="Auditors")) == group
    dn = ldap.create_account(ALICE)
    ldap.grant(dn, group)
    listed = {g["identifier"]: g for g in ldap.list_entitlements()}
    assert listed["audit"]["members"] == [dn] and listed["audit"]["name"] == "Auditors"
    assert listed["payments"]["members"] == []
    ldap.delete_entitlement(group)
    assert slapd.entry(group) is None


def test_a_refused_change_is_a_bad_request(slapd):
    ldap = LdapConnector(
        ldap_settings(
            slapd,
            account_attributes={"cn": "{display_name}", "sn": "{last_name}", "favouriteColour": "{email}"},
        )
    )
    with pytest.raises(BadRequestError, match="favouriteColour|undefined"):
        ldap.create_account(ALICE)
    ldap.close()


def test_server_down_is_transient_and_a_restart_is_survived(ldap, slapd):
    dn = ldap.create_account(ALICE)
    slapd.stop()
    with pytest.raises(TransientError):
        ldap.update_account(dn, ALICE)
    slapd.start()
    assert ldap.update_account(dn, ALICE) == dn  # reconnects by itself
