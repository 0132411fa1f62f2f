"""Password synchronisation (issue #4 §6): a password change reaches the REGULAR accounts of
resources set to synchronise, as CHANGE_PASSWORD entries carrying the password sealed for the
adapter; MANUAL resources get a manual task; nothing for the others."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from directory.models import AccountStatus, AccountType, ProvisioningEvent, ProvisioningMode
from passwords.models import ResourcePasswordSync
from passwords.services import PasswordChangeReason, password_change, password_helpdesk_temporary
from provisioning import crypto
from provisioning.models import ProvisioningEntry
from provisioning.services.adapter import adapter_client_register
from tests.api.factories import AccountFactory, ResourceFactory, UserFactory
from tests.passwords.conftest import NEW, OLD
from tests.provisioning.conftest import api_for, keypair, token_for
from worklist.models import Task

pytestmark = pytest.mark.django_db


def resource(code, mode, *, sync=True):
    res = ResourceFactory(
        code=code, name=code.upper(), provisioning_modes={ProvisioningEvent.CHANGE_PASSWORD: mode}
    )
    ResourcePasswordSync.objects.create(resource=res, enabled=sync)
    return res


def change(user, new=NEW, current=OLD):
    return password_change(
        user=user,
        new_password=new,
        current_password=current,
        actor=user,
        source="workspace",
        reason=PasswordChangeReason.CHANGE,
    )


def test_only_synchronised_regular_accounts_with_change_password_on_get_an_entry(carol):
    auto = resource("ldap", ProvisioningMode.AUTOMATIC)
    manual = resource("erp", ProvisioningMode.MANUAL)
    disabled = resource("crm", ProvisioningMode.DISABLED)
    not_synced = resource("wiki", ProvisioningMode.AUTOMATIC, sync=False)
    other = resource("git", ProvisioningMode.AUTOMATIC)
    a_auto = AccountFactory(resource=auto, owner=carol, identifier="carol")
    a_manual = AccountFactory(resource=manual, owner=carol, identifier="CDANVERS")
    AccountFactory(resource=disabled, owner=carol, identifier="carol.crm")
    AccountFactory(resource=not_synced, owner=carol, identifier="carol.wiki")
    AccountFactory(
        resource=other, owner=carol, identifier="carol-admin", account_type=AccountType.ADMINISTRATIVE
    )
    AccountFactory(resource=other, owner=carol, identifier="carol-old", status=AccountStatus.REVOKED)
    change(carol)
    entries = {e.account_id: e for e in ProvisioningEntry.objects.filter(event_type="CHANGE_PASSWORD")}
    assert set(entries) == {a_auto.pk, a_manual.pk}
    assert entries[a_auto.pk].mode == "AUTOMATIC" and entries[a_manual.pk].mode == "MANUAL"
    for entry in entries.values():
        assert entry.user_id_ref == carol.pk and entry.payload["reason"] == "password_sync"
        assert NEW not in json.dumps(entry.payload) and entry.payload["secret_id"]


def test_the_adapter_receives_the_new_password_sealed_to_its_key(carol):
    ldap = resource("ldap", ProvisioningMode.AUTOMATIC)
    AccountFactory(resource=ldap, owner=carol, identifier="carol")
    _, client_id, secret = adapter_client_register(
        actor=None, source="console", name="ldap-adapter", resources=[ldap], public_key=keypair(0)[1]
    )
    change(carol)
    api: APIClient = api_for(token_for(client_id, secret))
    response = api.post("/api/v1/adapter/pull/", {}, format="json")
    assert response.status_code == 200 and NEW not in response.content.decode()
    (delivered,) = response.json()["entries"]
    assert delivered["event_type"] == "CHANGE_PASSWORD" and delivered["secret_error"] is None
    opened = crypto.open_for_adapter(
        delivered["secret"], private_key_pem=keypair(0)[0], entry_id=delivered["id"]
    )
    assert opened == NEW


def test_a_manual_resource_gets_a_task_whose_assignee_can_reveal_the_password(
    carol, django_capture_on_commit_callbacks
):
    from provisioning.services.manual import entry_secret_reveal

    erp = resource("erp", ProvisioningMode.MANUAL)
    AccountFactory(resource=erp, owner=carol, identifier="CDANVERS")
    erp_owner = UserFactory(username="erp-owner")
    erp.owners.add(erp_owner)
    with django_capture_on_commit_callbacks(execute=True):
        change(carol)
    entry = ProvisioningEntry.objects.get(event_type="CHANGE_PASSWORD")
    entry.refresh_from_db()
    task = Task.objects.get(pk=entry.manual_task_id)
    assert list(task.assignees.all()) == [erp_owner]
    assert entry_secret_reveal(actor=erp_owner, source="workspace", task=task) == NEW


def test_every_path_synchronises_and_the_newest_password_wins(carol, helpdesk_user):
    ldap = resource("ldap", ProvisioningMode.AUTOMATIC)
    AccountFactory(resource=ldap, owner=carol, identifier="carol")
    temporary = password_helpdesk_temporary(user=carol, actor=helpdesk_user, source="console")
    change(carol, current=temporary)
    entries = list(ProvisioningEntry.objects.filter(event_type="CHANGE_PASSWORD").order_by("pk"))
    assert len(entries) == 2
    # one vault secret per user, replaced at each change: a pending older entry delivers the newest
    assert entries[0].payload["secret_id"] == entries[1].payload["secret_id"]
    from vault.models import Secret
    from vault.services import secret_reveal

    secret = Secret.objects.get(pk=entries[0].payload["secret_id"])
    assert secret.owner_id == carol.pk and secret_reveal(actor=None, source="console", secret=secret) == NEW


def test_the_accounts_are_found_and_written_in_constant_queries(carol, django_assert_max_num_queries):
    ldap = resource("ldap", ProvisioningMode.AUTOMATIC)
    AccountFactory(resource=ldap, owner=carol, identifier="carol")
    change(carol)  # the vault secret exists from now on
    carol.refresh_from_db()
    from passwords.services import password_sync_emit

    with django_assert_max_num_queries(12) as few:
        password_sync_emit(user=carol, password="Third-Phrase-Of-Carol-9", actor=None, source="console")
    n_one = len(few.captured_queries)
    for i in range(8):
        AccountFactory(
            resource=resource(f"app{i}", ProvisioningMode.AUTOMATIC), owner=carol, identifier=f"c{i}"
        )
    with django_assert_max_num_queries(n_one) as many:
        written = password_sync_emit(
            user=carol, password="Fourth-Phrase-Of-Carol-9", actor=None, source="console"
        )
    assert written == 9 and len(many.captured_queries) == n_one


def test_the_resource_setting_is_audited(carol):
    from blazon.audit.models import AuditEvent
    from passwords.services import resource_sync_set

    ldap = ResourceFactory(code="ldap")
    resource_sync_set(actor=None, source="console", resource=ldap, enabled=True)
    resource_sync_set(actor=None, source="console", resource=ldap, enabled=True)  # no change
    event = AuditEvent.objects.get(action="resource.password_sync_set")
    assert event.new_values == {"synchronise": True}
