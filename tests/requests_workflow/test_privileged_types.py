"""The four types that needed the account-update and vault services, through the whole pipeline:
UPDATE_ACCOUNT, CHECKIN_ADMIN_ACCOUNT, CHECKOUT_ADMIN_ACCOUNT, CHECKIN_APPLICATION_ACCOUNT; and the
rollback of a new account the application never received (deleted, not revoked)."""

from __future__ import annotations

import json

import pytest

from blazon.audit.models import AuditEvent
from directory.models import Account, AccountStatus, AccountType, ProvisioningEvent, ProvisioningMode
from directory.services import access
from provisioning.models import EntryStatus, ProvisioningEntry
from requests_workflow.models import RequestStatus
from requests_workflow.services.pipeline import request_provisioning_result
from requests_workflow.services.requests import request_create
from tests.api.factories import AccountFactory
from tests.vault.rotations import application_answers
from vault.models import AdministrativeCheckout, CheckoutStatus, PasswordRotation, Secret, SecretKind
from vault.services import checkout_reveal, secret_reveal, secret_store

pytestmark = pytest.mark.django_db
R = RequestStatus
OLD = "Old-Adm1n-Pass!"


def provisions(resource, *events: str) -> None:
    resource.provisioning_modes = {
        **resource.provisioning_modes,
        **{e: ProvisioningMode.AUTOMATIC for e in events},
    }
    resource.save()


def vault_account(c, account_type=AccountType.ADMINISTRATIVE, value=OLD) -> Account:
    account = AccountFactory(
        resource=c["app"], owner=None, responsible=c["owner"], account_type=account_type, identifier="root"
    )
    kind = (
        SecretKind.APPLICATION_CREDENTIAL
        if account_type == AccountType.APPLICATION
        else SecretKind.ACCOUNT_PASSWORD
    )
    secret_store(
        actor=None, source="console", owner=None, kind=kind, name="root", value=value, account=account
    )
    return account


def ask(run, c, code, user, account, **kw):
    """A user asks in the workspace for themselves (self-service)."""
    return run(
        request_create,
        actor=user,
        source="workspace",
        request_type=code,
        beneficiary=user,
        account=account,
        **{"justification": "incident 42", **kw},
    )


# --- UPDATE_ACCOUNT --------------------------------------------------------------------------


@pytest.fixture
def alices_account(company):
    return access.account_create(
        actor=None,
        source="console",
        resource=company["app"],
        owner=company["alice"],
        attributes={"office": "Porto"},
    )


def update(run, c, account, attributes):
    return run(
        request_create,
        actor=c["admin"],
        source="console",
        request_type="UPDATE_ACCOUNT",
        account=account,
        payload={"attributes": attributes},
    )


def test_update_account_without_provisioning_finishes(company, run, alices_account):
    req = update(run, company, alices_account, {"office": "Lisbon"})
    assert req.status == R.FINISHED, req.failure_reason
    alices_account.refresh_from_db()
    assert alices_account.attributes == {"office": "Lisbon"}
    assert req.beneficiary == company["alice"]


def test_update_account_waits_for_provisioning_and_a_failure_restores_the_attributes(
    company, run, alices_account
):
    provisions(company["app"], ProvisioningEvent.UPDATE_ACCOUNT)
    req = update(run, company, alices_account, {"office": "Lisbon", "desk": "B12"})
    assert req.status == R.WAITING_PROVISIONING
    (entry,) = ProvisioningEntry.objects.filter(pk__in=req.result["provisioning_entries"])
    assert (
        entry.event_type == ProvisioningEvent.UPDATE_ACCOUNT and entry.correlation_id == f"request-{req.pk}"
    )
    alices_account.refresh_from_db()
    assert alices_account.attributes == {"office": "Lisbon", "desk": "B12"}

    request_provisioning_result(request=req, ok=False, detail="ERP refused the office")
    req.refresh_from_db()
    assert req.status == R.FAILED and "account attributes restored" in req.failure_reason
    alices_account.refresh_from_db()
    assert alices_account.attributes == {"office": "Porto"}


# --- check-in / check-out ------------------------------------------------------------------------


def test_check_in_of_an_administrative_account_puts_it_in_the_beneficiarys_vault(company, run):
    c = company
    account = vault_account(c)
    req = ask(run, c, "CHECKIN_ADMIN_ACCOUNT", c["eve"], account)
    assert req.status == R.FINISHED, req.failure_reason
    checkout = AdministrativeCheckout.objects.get(account=account)
    assert checkout.user == c["eve"] and checkout.status == CheckoutStatus.ACTIVE
    assert checkout.request_id == req.pk and req.result["checkout_id"] == checkout.pk
    assert checkout_reveal(actor=c["eve"], source="workspace", checkout=checkout) == OLD
    assert not ProvisioningEntry.objects.exists()
    opened = AuditEvent.objects.get(action="vault.checkout.opened")
    assert opened.correlation_id == f"request-{req.pk}"

    # a second user cannot hold it at the same time: their request fails, nothing changes
    other = ask(run, c, "CHECKIN_ADMIN_ACCOUNT", c["alice"], account)
    assert other.status == R.FAILED and "already checked in by eve" in other.failure_reason
    assert list(AdministrativeCheckout.objects.values_list("user__username", "status")) == [
        ("eve", CheckoutStatus.ACTIVE)
    ]


def test_check_out_gives_the_credential_back_and_rotates_the_password(company, run):
    c = company
    provisions(c["app"], ProvisioningEvent.CHANGE_PASSWORD)
    account = vault_account(c)
    ask(run, c, "CHECKIN_ADMIN_ACCOUNT", c["eve"], account)

    req = ask(run, c, "CHECKOUT_ADMIN_ACCOUNT", c["eve"], account, justification="")
    assert req.status == R.WAITING_PROVISIONING, req.failure_reason
    checkout = AdministrativeCheckout.objects.get(account=account)
    assert checkout.status == CheckoutStatus.RELEASED
    secret = Secret.objects.get(account=account)
    assert secret_reveal(actor=None, source="console", secret=secret) == OLD  # until the application confirms
    rotation = PasswordRotation.objects.get(account=account)
    (entry,) = ProvisioningEntry.objects.filter(pk__in=req.result["provisioning_entries"])
    assert entry.event_type == ProvisioningEvent.CHANGE_PASSWORD and entry.payload["secret_id"] == str(
        rotation.pending_id
    )
    assert application_answers() == 1
    new = secret_reveal(actor=None, source="console", secret=secret)
    assert new != OLD and req.result["password_rotated"] is True
    # the new password is nowhere but in the vault
    dump = json.dumps([req.payload, req.result, entry.payload]) + json.dumps(
        list(AuditEvent.objects.values("old_values", "new_values"))
    )
    assert new not in dump and OLD not in dump

    request_provisioning_result(request=req, ok=True, detail="password set on ERP")
    req.refresh_from_db()
    assert req.status == R.FINISHED


def test_a_failed_rotation_fails_the_check_out_request_and_says_what_to_do(company, run):
    c = company
    provisions(c["app"], ProvisioningEvent.CHANGE_PASSWORD)
    account = vault_account(c)
    ask(run, c, "CHECKIN_ADMIN_ACCOUNT", c["eve"], account)
    req = ask(run, c, "CHECKOUT_ADMIN_ACCOUNT", c["eve"], account, justification="")
    request_provisioning_result(request=req, ok=False, detail="ERP unreachable")
    req.refresh_from_db()
    assert req.status == R.FAILED and "set the vault's password on the resource" in req.failure_reason
    assert AdministrativeCheckout.objects.get(account=account).status == CheckoutStatus.RELEASED


def test_check_out_by_someone_who_does_not_hold_the_account_fails_cleanly(company, run):
    c = company
    account = vault_account(c)
    ask(run, c, "CHECKIN_ADMIN_ACCOUNT", c["eve"], account)
    req = ask(run, c, "CHECKOUT_ADMIN_ACCOUNT", c["alice"], account, justification="")
    assert req.status == R.FAILED and "nothing to check out" in req.failure_reason
    assert AdministrativeCheckout.objects.get(account=account).status == CheckoutStatus.ACTIVE


def test_check_in_of_an_application_account_puts_its_credential_in_the_vault(company, run):
    c = company
    account = vault_account(c, AccountType.APPLICATION, value="app-key-9")
    req = ask(run, c, "CHECKIN_APPLICATION_ACCOUNT", c["owner"], account)
    assert req.status == R.FINISHED, req.failure_reason
    checkout = AdministrativeCheckout.objects.get(account=account, user=c["owner"])
    assert checkout_reveal(actor=c["owner"], source="workspace", checkout=checkout) == "app-key-9"


def test_check_in_of_an_account_without_a_stored_credential_fails_with_the_reason(company, run):
    c = company
    account = AccountFactory(
        resource=c["app"], owner=None, responsible=c["owner"], account_type=AccountType.ADMINISTRATIVE
    )
    req = ask(run, c, "CHECKIN_ADMIN_ACCOUNT", c["eve"], account)
    assert req.status == R.FAILED and "no credential in the vault" in req.failure_reason
    assert not AdministrativeCheckout.objects.exists()


# --- rollback of a new account ----------------------------------------------------------------


def test_a_never_provisioned_new_account_is_deleted_and_no_revoke_entry_is_written(company, run):
    c = company
    provisions(c["app"], ProvisioningEvent.CREATE_ACCOUNT, ProvisioningEvent.REVOKE_ACCOUNT)
    req = run(
        request_create,
        actor=c["admin"],
        source="api",
        request_type="CREATE_ACCOUNT",
        beneficiary=c["alice"],
        resource=c["app"],
        justification="j",
    )
    assert req.status == R.WAITING_PROVISIONING
    account_id = req.result["account_id"]
    request_provisioning_result(request=req, ok=False, detail="ERP unreachable")
    req.refresh_from_db()
    assert req.status == R.FAILED and "removed (never provisioned)" in req.failure_reason
    assert not Account.objects.filter(pk=account_id).exists()
    assert not ProvisioningEntry.objects.filter(event_type=ProvisioningEvent.REVOKE_ACCOUNT).exists()
    assert set(ProvisioningEntry.objects.values_list("event_type", "status")) == {
        (ProvisioningEvent.CREATE_ACCOUNT, EntryStatus.CANCELED)
    }
    assert AuditEvent.objects.filter(action="account.removed", object_id=str(account_id)).exists()


def test_a_new_account_the_application_received_is_revoked_instead(company, run):
    c = company
    provisions(c["app"], ProvisioningEvent.CREATE_ACCOUNT, ProvisioningEvent.GRANT_ENTITLEMENT)
    req = run(
        request_create,
        actor=c["admin"],
        source="api",
        request_type="GRANT_ENTITLEMENT",
        beneficiary=c["alice"],
        entitlement=c["ent"],
        justification="j",
    )
    account_id = req.result["created_account_id"]
    ProvisioningEntry.objects.filter(event_type=ProvisioningEvent.CREATE_ACCOUNT).update(
        status=EntryStatus.SUCCEEDED
    )
    request_provisioning_result(request=req, ok=False, detail="group not found")
    req.refresh_from_db()
    assert req.status == R.FAILED and "revoked (the application may have received it)" in req.failure_reason
    assert Account.objects.get(pk=account_id).status == AccountStatus.REVOKED
