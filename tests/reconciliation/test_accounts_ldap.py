"""An accounts profile reading a real OpenLDAP slapd through the LDAP connector: enabled and
disabled accounts are found, a rogue entry becomes a task, an account the directory lost is
revoked; the bind password is kept in the vault."""

from __future__ import annotations

import pytest

from directory.models import Account, AccountStatus
from reconciliation.models import ReconciliationCase, RunStatus
from reconciliation.services.profiles import profile_create
from reconciliation.services.runs import run_and_execute
from tests.api.factories import ResourceFactory
from tests.conftest import require
from tests.provisioning.adapter.slapd import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    DISABLED,
    EMPTY_MEMBER,
    GROUPS,
    PEOPLE,
    Slapd,
    slapd_binary,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def slapd(tmp_path):
    binary = slapd_binary()
    require(binary is not None, "OpenLDAP slapd (apt-get install slapd)")
    server = Slapd(tmp_path / "slapd", binary)
    server.start()
    server.seed()
    conn = server.connection()
    for uid, mail, base in (("ana.souza", "ana@corp.test", PEOPLE), ("intruder", "x@evil.test", PEOPLE),
                            ("bruno.lima", "bruno@corp.test", DISABLED)):  # fmt: skip
        conn.add(f"uid={uid},{base}", ["inetOrgPerson"], {"uid": uid, "cn": uid, "sn": uid, "mail": mail})
    conn.unbind()
    yield server
    server.stop()


def test_ldap_accounts(people, slapd):
    resource = ResourceFactory(code="corp-ldap", name="Corporate LDAP")
    Account.objects.create(resource=resource, owner=people["ana"], identifier="ana.souza")
    Account.objects.create(resource=resource, owner=people["bruno"], identifier="bruno.lima")
    Account.objects.create(resource=resource, owner=people["carla"], identifier="carla.dias")
    profile = profile_create(
        actor=people["admin"], source="console", code="ldap", name="Corporate LDAP accounts", kind="ACCOUNTS",
        resource=resource, source_type="ldap",
        source_settings={"url": slapd.url, "bind_dn": ADMIN_DN, "accounts_base": PEOPLE, "groups_base": GROUPS,
                         "disabled_base": DISABLED, "empty_group_member": EMPTY_MEMBER, "timeout_seconds": 2,
                         "account_attributes": {"mail": "{email}"}},
        secret_settings={"password": ADMIN_PASSWORD}, key_field="identifier", safety_share=50,
        rules=[{"target": "OBJECT", "attribute": "identifier", "value": "{[identifier]}"},
               {"target": "OWNER", "attribute": "email", "operator": "IEQUALS", "value": "{[mail]}"}],
        mappings=[{"target": "mail", "mode": "FIELD", "value": "{[mail]}"}],
        actions={"ACCOUNT_OWNER_NOT_FOUND": "MANUAL", "MISSING": "REVOKE"},
    )  # fmt: skip
    assert profile.secret_keys == ["password"] and "password" not in profile.source_settings
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.situations == {"FOUND": 2, "ACCOUNT_OWNER_NOT_FOUND": 1, "MISSING": 1}
    assert run.actions == {"UPDATE": 2, "MANUAL": 1, "REVOKE": 1}
    assert Account.objects.get(identifier="ana.souza").attributes == {"mail": "ana@corp.test"}
    assert Account.objects.get(identifier="carla.dias").status == AccountStatus.REVOKED
    case = ReconciliationCase.objects.get()
    assert case.key == "intruder" and case.data["row"]["enabled"] == "true"
    assert case.data["row"]["remote_id"] == f"uid=intruder,{PEOPLE}"


def test_ldap_down_fails_the_run_and_changes_nothing(people, slapd):
    resource = ResourceFactory(code="corp-ldap", name="Corporate LDAP")
    Account.objects.create(resource=resource, owner=people["carla"], identifier="carla.dias")
    profile = profile_create(
        actor=people["admin"], source="console", code="ldap", name="LDAP", kind="ACCOUNTS", resource=resource,
        source_type="ldap", source_settings={"url": slapd.url, "bind_dn": ADMIN_DN, "accounts_base": PEOPLE,
                                             "groups_base": GROUPS, "disabled_base": DISABLED, "timeout_seconds": 1},
        secret_settings={"password": ADMIN_PASSWORD}, safety_share=100,
        rules=[{"target": "OBJECT", "attribute": "identifier", "value": "{[identifier]}"}],
        actions={"MISSING": "REVOKE"},
    )  # fmt: skip
    slapd.stop()
    run = run_and_execute(actor=people["admin"], source="console", profile=profile)
    assert run.status == RunStatus.FAILED and run.error.startswith("The ldap source cannot be read")
    assert Account.objects.get(identifier="carla.dias").status == AccountStatus.ACTIVE
