"""The in-process runner (embedded default): a resource's AUTOMATIC entries are executed inside
Blazon by the adapter runtime and its CSV connector, without HTTP, through the same services,
scope and leases as an adapter process; generated initial passwords end in the vault. Its
configuration is an administrator's, and its secret settings stay in the vault."""

from __future__ import annotations

import csv
import json

import pytest
from django.test import override_settings

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed, ValidationFailed
from directory.models import ConsoleRole
from provisioning.models import AdapterClient, EntryStatus, InProcessAdapter, NativeIdentifier
from provisioning.runner import LocalCoreClient, Runner
from provisioning.services.inprocess import inprocess_adapter_configure, inprocess_vault_values
from tests.api.factories import AccountFactory, EntitlementFactory, ResourceFactory, UserFactory
from tests.provisioning.conftest import ALL_AUTOMATIC, make_entry
from vault.models import Secret, SecretKind
from vault.services import secret_reveal

pytestmark = pytest.mark.django_db
LDAP_PASSWORD = "bind-Pa55-for-the-directory"


@pytest.fixture
def var(tmp_path):
    with override_settings(BLAZON_INPROCESS_DIR=str(tmp_path)):
        yield tmp_path


@pytest.fixture
def admin(db):
    return UserFactory(username="admin", console_role=ConsoleRole.ADMINISTRATOR)


@pytest.fixture
def hr(db):
    resource = ResourceFactory(code="hr", name="HR", provisioning_modes=ALL_AUTOMATIC)
    dana = UserFactory(username="dana", email="dana@example.com")
    return {
        "resource": resource,
        "account": AccountFactory(resource=resource, owner=dana, identifier="dana"),
        "ent": EntitlementFactory(resource=resource, identifier="payroll", name="Payroll"),
    }


def drain(runner: Runner, entries, rounds: int = 20) -> None:
    for _ in range(rounds):
        runner.run_once()
        for e in entries:
            e.refresh_from_db()
        if all(e.status == EntryStatus.SUCCEEDED for e in entries):
            return
    raise AssertionError([(e.pk, e.status, e.last_error) for e in entries])


def test_entries_are_executed_in_process_and_the_initial_password_goes_to_the_vault(var, admin, hr):
    inprocess_adapter_configure(
        actor=admin,
        source="console",
        resource=hr["resource"],
        connector_type="csv",
        settings={"directory": "hr"},
        initial_passwords=True,
    )
    group = make_entry(hr["resource"], "CREATE_ENTITLEMENT", entitlement=hr["ent"])
    create = make_entry(
        hr["resource"], "CREATE_ACCOUNT", account=hr["account"], user_id_ref=hr["account"].owner_id
    )
    grant = make_entry(hr["resource"], "GRANT_ENTITLEMENT", account=hr["account"], entitlement=hr["ent"])
    runner = Runner(poll_seconds=0)
    try:
        drain(runner, [group, create, grant])
    finally:
        runner.close()
    # the application (a CSV file under var/apps/hr) has the account in its group
    with (var / "apps" / "hr" / "accounts.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["identifier"] == "dana" and row["groups"] == "payroll" and row["password_changed_at"]
    assert NativeIdentifier.objects.get(account=hr["account"]).value == "dana"
    # done by the resource's in-process client, under a lease like any adapter
    assert create.lease_owner == InProcessAdapter.objects.get().client
    # the generated password is in the vault, nowhere in clear: not the audit, not the journal
    secret = Secret.objects.get(account=hr["account"], kind=SecretKind.ACCOUNT_PASSWORD)
    password = secret_reveal(actor=None, source="test", secret=secret)
    assert len(password) == 24
    for values in AuditEvent.objects.values_list("old_values", "new_values"):
        assert password not in json.dumps(values, default=str)
    for journal in (var / "adapters").iterdir():
        assert password.encode() not in journal.read_bytes()
    assert AuditEvent.objects.filter(action="provisioning.credential_stored").count() == 1


def test_only_the_resources_own_entries_are_taken(var, admin, hr):
    other = ResourceFactory(code="crm2", name="CRM2", provisioning_modes=ALL_AUTOMATIC)
    foreign = make_entry(other, "CREATE_ACCOUNT", account=AccountFactory(resource=other, identifier="x"))
    inprocess_adapter_configure(
        actor=admin,
        source="console",
        resource=hr["resource"],
        connector_type="csv",
        settings={"directory": "hr"},
    )
    runner = Runner(poll_seconds=0)
    try:
        runner.run_once()
    finally:
        runner.close()
    foreign.refresh_from_db()
    assert foreign.status == EntryStatus.PENDING and foreign.lease_owner is None


def test_a_disabled_adapter_takes_nothing(var, admin, hr):
    inprocess_adapter_configure(
        actor=admin,
        source="console",
        resource=hr["resource"],
        connector_type="csv",
        settings={"directory": "hr"},
        enabled=False,
    )
    entry = make_entry(hr["resource"], "CREATE_ACCOUNT", account=hr["account"])
    runner = Runner(poll_seconds=0)
    try:
        runner.run_once()
    finally:
        runner.close()
    entry.refresh_from_db()
    assert entry.status == EntryStatus.PENDING


def test_reports_on_entries_not_held_are_refused_like_over_http(var, admin, hr):
    from provisioning.adapter.client import CoreRefused, EntryGone

    adapter = inprocess_adapter_configure(
        actor=admin,
        source="console",
        resource=hr["resource"],
        connector_type="csv",
        settings={"directory": "hr"},
    )
    entry = make_entry(hr["resource"], "CREATE_ACCOUNT", account=hr["account"])
    local = LocalCoreClient(adapter.client_id)
    with pytest.raises(EntryGone):
        local.report(entry.pk, "success", {})
    with pytest.raises(CoreRefused):
        local.report(entry.pk, "failure", {"reason": ""})
    with pytest.raises(CoreRefused):
        local.store_credential(entry.pk, {"kind": "PERSONAL", "value": "x"})
    AdapterClient.objects.filter(pk=adapter.client_id).update(active=False)
    with pytest.raises(CoreRefused):
        local.pull(limit=5, lease_seconds=60)
    entry.refresh_from_db()
    assert entry.status == EntryStatus.PENDING


def test_secret_settings_are_kept_in_the_vault_and_kept_when_left_empty(var, admin, hr):
    settings = {
        "url": "ldap://127.0.0.1:1",
        "bind_dn": "cn=admin,dc=example,dc=org",
        "accounts_base": "ou=people,dc=example,dc=org",
        "groups_base": "ou=groups,dc=example,dc=org",
        "disabled_base": "ou=disabled,dc=example,dc=org",
    }
    adapter = inprocess_adapter_configure(
        actor=admin,
        source="console",
        resource=hr["resource"],
        connector_type="ldap",
        settings=settings,
        secret_settings={"password": LDAP_PASSWORD},
    )
    assert "password" not in adapter.settings and adapter.secret_keys == ["password"]
    assert inprocess_vault_values(adapter)["settings"] == {"password": LDAP_PASSWORD}
    assert LDAP_PASSWORD.encode() not in bytes(adapter.secret.ciphertext)
    # saved again with the field empty: the stored password stays
    adapter = inprocess_adapter_configure(
        actor=admin,
        source="console",
        resource=hr["resource"],
        connector_type="ldap",
        settings={**settings, "bind_dn": "cn=other,dc=example,dc=org"},
        secret_settings={"password": ""},
    )
    assert inprocess_vault_values(adapter)["settings"] == {"password": LDAP_PASSWORD}
    for values in AuditEvent.objects.values_list("old_values", "new_values"):
        assert LDAP_PASSWORD not in json.dumps(values, default=str)
    # and forgotten on request
    adapter = inprocess_adapter_configure(
        actor=admin,
        source="console",
        resource=hr["resource"],
        connector_type="ldap",
        settings=settings,
        clear_secrets=["password"],
    )
    assert inprocess_vault_values(adapter)["settings"] == {} and adapter.secret_keys == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"connector_type": "ftp", "settings": {}}, "connector_type"),
        ({"connector_type": "csv", "settings": {"directory": "../etc"}}, "settings"),
        ({"connector_type": "csv", "settings": {"directory": "/etc"}}, "settings"),
        ({"connector_type": "csv", "settings": {}}, "settings"),
        ({"connector_type": "ldap", "settings": {"url": "ldap://x", "password": "in clear"}}, "settings"),
        (
            {"connector_type": "csv", "settings": {"directory": "x"}, "secret_settings": {"token": "t"}},
            "secret_settings",
        ),
        ({"connector_type": "csv", "settings": ["directory"]}, "settings"),
    ],
)
def test_bad_configurations_are_refused_and_nothing_is_created(var, admin, hr, kwargs, field):
    with pytest.raises(ValidationFailed) as refused:
        inprocess_adapter_configure(actor=admin, source="console", resource=hr["resource"], **kwargs)
    assert field in refused.value.fields
    assert not InProcessAdapter.objects.exists() and not AdapterClient.objects.exists()
    assert not Secret.objects.exists()


def test_only_an_administrator_configures_it(var, hr):
    operator = UserFactory(username="op", console_role=ConsoleRole.HELPDESK)
    with pytest.raises(NotAllowed):
        inprocess_adapter_configure(
            actor=operator,
            source="console",
            resource=hr["resource"],
            connector_type="csv",
            settings={"directory": "hr"},
        )
    assert not InProcessAdapter.objects.exists()


def test_the_console_page_saves_and_never_shows_the_secret_back(var, admin, hr, client):
    client.force_login(admin)
    url = f"/console/provisioning/resources/{hr['resource'].pk}/adapter/"
    assert client.get(url).status_code == 200
    settings = {
        "url": "ldap://127.0.0.1:1",
        "accounts_base": "ou=people,dc=example,dc=org",
        "groups_base": "ou=groups,dc=example,dc=org",
        "disabled_base": "ou=disabled,dc=example,dc=org",
    }
    response = client.post(
        url,
        {
            "connector_type": "ldap",
            "settings": json.dumps(settings),
            "secret_password": LDAP_PASSWORD,
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    adapter = InProcessAdapter.objects.get()
    assert adapter.connector_type == "ldap" and adapter.enabled and adapter.secret_keys == ["password"]
    page = client.get(url).content.decode()
    assert LDAP_PASSWORD not in page and "stored — leave empty to keep" in page


def test_the_console_page_refuses_bad_json_and_changes_nothing(var, admin, hr, client):
    client.force_login(admin)
    url = f"/console/provisioning/resources/{hr['resource'].pk}/adapter/"
    response = client.post(url, {"connector_type": "csv", "settings": "{not json"})
    assert response.status_code == 200 and "Not valid JSON" in response.content.decode()
    assert not InProcessAdapter.objects.exists()


@pytest.mark.parametrize("role", [ConsoleRole.HELPDESK, ConsoleRole.AUDITOR])
def test_the_console_page_is_an_administrators(var, hr, client, role):
    client.force_login(UserFactory(username="someone", console_role=role))
    url = f"/console/provisioning/resources/{hr['resource'].pk}/adapter/"
    assert client.get(url).status_code == 403
    response = client.post(url, {"connector_type": "csv", "settings": '{"directory": "hr"}'})
    assert response.status_code == 403
    assert not InProcessAdapter.objects.exists()


def test_the_console_page_shows_a_refusal_on_its_field_and_forgets_a_secret_when_asked(
    var, admin, hr, client
):
    client.force_login(admin)
    url = f"/console/provisioning/resources/{hr['resource'].pk}/adapter/"
    page = client.post(url, {"connector_type": "csv", "settings": '{"directory": "../etc"}', "enabled": "on"})
    assert page.status_code == 200 and "The in-process adapter is not valid." in page.content.decode()
    assert page.context["form"].errors["settings"] and not InProcessAdapter.objects.exists()
    base = {f"{kind}_base": f"ou={kind},dc=example,dc=org" for kind in ("accounts", "groups", "disabled")}
    settings = json.dumps({"url": "ldap://127.0.0.1:1", **base})
    ldap = {"connector_type": "ldap", "settings": settings, "enabled": "on", "initial_passwords": "on"}
    assert client.post(url, {**ldap, "secret_password": LDAP_PASSWORD}).status_code == 302
    adapter = InProcessAdapter.objects.get()
    assert adapter.initial_passwords and adapter.secret_keys == ["password"]
    form = client.get(url).context["form"]
    assert form["connector_type"].value() == "ldap" and json.loads(form["settings"].value())["url"]
    # saved with the box ticked and no password typed: the stored one is forgotten; unticked: disabled
    assert client.post(url, {**ldap, "clear_secret": "password", "enabled": ""}).status_code == 302
    adapter.refresh_from_db()
    assert adapter.secret_keys == [] and not adapter.enabled
    assert AuditEvent.objects.filter(action="provisioning.inprocess_adapter_configured").count() == 2
