"""account_update (seed 002 "Atualiza conta") and account_remove (deleting an account the
application never received, the rollback of a new account)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from blazon.errors import Conflict, ValidationFailed
from directory.models import (
    Account,
    AccountStatus,
    EntitlementMembership,
    ProvisioningEvent,
    ProvisioningMode,
)
from directory.services import access, lifecycle
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.adapter import adapter_client_register
from tests.api.factories import (
    AttributeDefinitionFactory,
    EntitlementFactory,
    ResourceFactory,
    RoleFactory,
    UserFactory,
    role_managed_account,
)
from tests.provisioning.conftest import keypair

pytestmark = pytest.mark.django_db


def provisioning_resource(*events: str):
    return ResourceFactory(
        provisioning_modes={e: ProvisioningMode.AUTOMATIC for e in events or ProvisioningEvent.values}
    )


@pytest.fixture
def setup():
    admin = UserFactory(username="adm")
    alice = UserFactory(username="alice")
    app = provisioning_resource()
    account = access.account_create(
        actor=admin, source="console", resource=app, owner=alice, attributes={"office": "Porto", "floor": 2}
    )
    return {"admin": admin, "alice": alice, "app": app, "account": account}


# --- account_update -------------------------------------------------------------------------


def test_update_merges_removes_with_null_audits_and_provisions_the_change(setup):
    account = setup["account"]
    access.account_update(
        actor=setup["admin"],
        source="console",
        account=account,
        attributes={"office": "Lisbon", "floor": None, "desk": "B12"},
    )
    account.refresh_from_db()
    assert account.attributes == {"office": "Lisbon", "desk": "B12"}
    entry = ProvisioningEntry.objects.get(account=account, event_type=ProvisioningEvent.UPDATE_ACCOUNT)
    assert entry.status == EntryStatus.PENDING
    assert entry.payload["attributes"] == {"desk": "B12", "floor": None, "office": "Lisbon"}
    event = AuditEvent.objects.get(action="account.updated", object_id=str(account.pk))
    assert event.old_values["attributes"] == {"desk": None, "floor": 2, "office": "Porto"}
    assert event.new_values["attributes"]["office"] == "Lisbon"
    assert event.actor_id == setup["admin"].pk and event.subject_user_id == setup["alice"].pk
    assert audit_verify().ok


def test_update_with_the_same_values_changes_nothing(setup):
    account = setup["account"]
    access.account_update(actor=None, source="console", account=account, attributes={"office": "Porto"})
    assert not ProvisioningEntry.objects.filter(event_type=ProvisioningEvent.UPDATE_ACCOUNT).exists()
    assert not AuditEvent.objects.filter(action="account.updated").exists()


@pytest.mark.parametrize(
    ("attributes", "field"),
    [({}, "attributes"), ({"office": ["a", "list"]}, "attributes.office"), ({"": "x"}, "attributes")],
)
def test_update_refuses_bad_input_and_changes_nothing(setup, attributes, field):
    account = setup["account"]
    with pytest.raises(ValidationFailed) as err:
        access.account_update(actor=None, source="console", account=account, attributes=attributes)
    assert field in err.value.fields
    account.refresh_from_db()
    assert account.attributes == {"office": "Porto", "floor": 2}
    assert not AuditEvent.objects.filter(action="account.updated").exists()


def test_update_follows_the_resource_attribute_definitions(setup):
    app, account = setup["app"], setup["account"]
    AttributeDefinitionFactory(scope="ACCOUNT", resource=app, name="office", regex="[A-Z][a-z]+")
    AttributeDefinitionFactory(scope="ACCOUNT", resource=app, name="floor", type="INTEGER")
    with pytest.raises(ValidationFailed) as err:
        access.account_update(actor=None, source="console", account=account, attributes={"office": "lisbon"})
    assert "required format" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        access.account_update(actor=None, source="console", account=account, attributes={"badge": "x"})
    assert "Unknown attribute 'badge'" in err.value.message
    access.account_update(actor=None, source="console", account=account, attributes={"floor": "7"})
    account.refresh_from_db()
    assert account.attributes == {"office": "Porto", "floor": 7}


def test_a_revoked_account_cannot_be_updated(setup):
    account = setup["account"]
    lifecycle.account_revoke(actor=None, source="console", account=account)
    with pytest.raises(Conflict, match="revoked"):
        access.account_update(actor=None, source="console", account=account, attributes={"office": "X"})
    assert not ProvisioningEntry.objects.filter(event_type=ProvisioningEvent.UPDATE_ACCOUNT).exists()


# --- account_remove -------------------------------------------------------------------------


def test_remove_of_a_never_provisioned_account_deletes_it_and_cancels_its_entries(setup):
    account, ent = setup["account"], EntitlementFactory(resource=setup["app"])
    access.membership_grant(actor=None, source="console", account=account, entitlement=ent)
    create = ProvisioningEntry.objects.get(account=account, event_type=ProvisioningEvent.CREATE_ACCOUNT)
    create.status = EntryStatus.FAILED  # provisioning finally failed: the application never had it
    create.save()
    pk = account.pk

    access.account_remove(actor=setup["admin"], source="automatic", account=account)

    assert not Account.objects.filter(pk=pk).exists()
    assert not EntitlementMembership.objects.filter(entitlement=ent).exists()
    statuses = set(ProvisioningEntry.objects.values_list("event_type", "status"))
    assert statuses == {
        (ProvisioningEvent.CREATE_ACCOUNT, EntryStatus.FAILED),
        (ProvisioningEvent.GRANT_ENTITLEMENT, EntryStatus.CANCELED),
    }
    assert not ProvisioningEntry.objects.filter(event_type=ProvisioningEvent.REVOKE_ACCOUNT).exists()
    event = AuditEvent.objects.get(action="account.removed", object_id=str(pk))
    assert event.old_values["identifier"] == "alice" and event.new_values == {
        "canceled_provisioning_entries": 1
    }
    assert audit_verify().ok


@pytest.mark.parametrize("status", [EntryStatus.PULLED, EntryStatus.SUCCEEDED])
def test_remove_refuses_an_account_the_application_may_have(setup, status):
    account = setup["account"]
    lease = {}
    if status == EntryStatus.PULLED:  # a pulled entry is leased to an adapter
        adapter = adapter_client_register(
            actor=None,
            source="automatic",
            name="erp adapter",
            resources=[account.resource],
            public_key=keypair()[1],
        )[0]
        lease = {"lease_owner": adapter, "lease_until": timezone.now() + timedelta(minutes=5)}
    ProvisioningEntry.objects.filter(account=account).update(status=status, **lease)
    with pytest.raises(Conflict, match="revoke it instead"):
        access.account_remove(actor=None, source="automatic", account=account)
    assert Account.objects.filter(pk=account.pk, status=AccountStatus.ACTIVE).exists()
    assert not AuditEvent.objects.filter(action="account.removed").exists()


def test_remove_refuses_a_role_managed_account():
    role = RoleFactory()
    account = role_managed_account(role, resource=ResourceFactory(), owner=UserFactory(), identifier="r1")
    with pytest.raises(Conflict, match="kept by a role"):
        access.account_remove(actor=None, source="automatic", account=account)
    assert Account.objects.filter(pk=account.pk).exists()
