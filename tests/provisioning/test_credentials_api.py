"""Credentials an adapter created go into Blazon's vault through the adapter API: encrypted at
rest, audited without the value, idempotent on retry, and only for the accounts of entries the
adapter holds; bad input and other adapters' entries change nothing."""

from __future__ import annotations

import json

import pytest

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed
from directory.models import AccountType
from provisioning.models import AdapterCredential, EntryStatus
from tests.api.factories import AccountFactory, UserFactory
from tests.provisioning.conftest import make_entry
from vault.models import Secret, SecretKind
from vault.services import checkout_open, checkout_reveal, secret_reveal

pytestmark = pytest.mark.django_db
PASSWORD = "Gener4ted-initial-Pa55"


def url(entry_id: int) -> str:
    return f"/api/v1/adapter/entries/{entry_id}/credentials/"


def pulled(api, entry):
    response = api.post("/api/v1/adapter/pull/", {}, format="json")
    assert response.status_code == 200
    assert entry.pk in [e["id"] for e in response.json()["entries"]]
    entry.refresh_from_db()
    return entry


def no_value_anywhere(value: str) -> None:
    for row in AuditEvent.objects.values_list("old_values", "new_values"):
        assert value not in json.dumps(row, default=str)
    for row in Secret.objects.all():
        assert value.encode() not in bytes(row.ciphertext)


def test_an_initial_password_is_stored_in_the_vault_once_audited_without_its_value(world, erp_api):
    entry = pulled(erp_api, make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"]))
    body = {"kind": "ACCOUNT_PASSWORD", "value": PASSWORD}
    response = erp_api.post(url(entry.pk), body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["stored"] is True and data["account_id"] == world["account"].pk
    assert data["name"] == "erp/alice password" and PASSWORD not in response.content.decode()
    secret = Secret.objects.get(pk=data["secret_id"])
    assert secret.kind == SecretKind.ACCOUNT_PASSWORD and secret.account_id == world["account"].pk
    assert secret_reveal(actor=None, source="test", secret=secret) == PASSWORD
    stored = AuditEvent.objects.get(action="provisioning.credential_stored")
    assert stored.new_values["adapter"] == "erp-adapter" and stored.new_values["vault_item"] == str(secret.pk)
    no_value_anywhere(PASSWORD)

    # the adapter retries (the answer was lost): the same secret, nothing new
    again = erp_api.post(url(entry.pk), body, format="json")
    assert again.status_code == 200 and again.json() == {**data, "stored": False}
    assert Secret.objects.count() == 1 and AdapterCredential.objects.count() == 1
    assert AuditEvent.objects.filter(action="provisioning.credential_stored").count() == 1


def test_after_the_success_report_the_upload_is_still_accepted(world, erp_api):
    entry = pulled(erp_api, make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"]))
    assert erp_api.post(f"/api/v1/adapter/entries/{entry.pk}/success/", {}, format="json").status_code == 200
    response = erp_api.post(url(entry.pk), {"kind": "ACCOUNT_PASSWORD", "value": PASSWORD}, format="json")
    assert response.status_code == 200 and response.json()["stored"] is True


def test_a_new_password_replaces_the_one_in_the_vault(world, erp_api):
    first = pulled(erp_api, make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"]))
    erp_api.post(url(first.pk), {"kind": "ACCOUNT_PASSWORD", "value": PASSWORD}, format="json")
    erp_api.post(f"/api/v1/adapter/entries/{first.pk}/success/", {}, format="json")
    second = pulled(erp_api, make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"]))
    response = erp_api.post(
        url(second.pk), {"kind": "ACCOUNT_PASSWORD", "value": "An0ther-one"}, format="json"
    )
    assert response.status_code == 200
    (secret,) = Secret.objects.filter(account=world["account"])
    assert secret_reveal(actor=None, source="test", secret=secret) == "An0ther-one"


def test_an_application_credential_is_readable_only_by_the_check_in_holder(world, erp_api):
    holder, other = UserFactory(username="ops1"), UserFactory(username="ops2")
    app = AccountFactory(
        resource=world["erp"], owner=None, identifier="svc-billing", account_type=AccountType.APPLICATION
    )
    entry = pulled(erp_api, make_entry(world["erp"], "CREATE_ACCOUNT", account=app))
    response = erp_api.post(
        url(entry.pk),
        {"kind": "APPLICATION_CREDENTIAL", "value": "api-key-123456", "name": "billing API key"},
        format="json",
    )
    assert response.status_code == 200, response.content
    checkout = checkout_open(actor=holder, source="test", account=app, user=holder)
    assert checkout_reveal(actor=holder, source="test", checkout=checkout) == "api-key-123456"
    with pytest.raises(NotAllowed):
        checkout_reveal(actor=other, source="test", checkout=checkout)


def test_another_resources_entry_is_not_found_and_nothing_is_stored(world, erp_api, crm_api):
    entry = pulled(erp_api, make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"]))
    response = crm_api.post(url(entry.pk), {"kind": "ACCOUNT_PASSWORD", "value": PASSWORD}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not Secret.objects.exists()


def test_an_entry_not_held_is_refused(world, erp_api):
    pending = make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"])
    response = erp_api.post(url(pending.pk), {"kind": "ACCOUNT_PASSWORD", "value": PASSWORD}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "entry_not_held"
    pending.refresh_from_db()
    assert pending.status == EntryStatus.PENDING and not Secret.objects.exists()


def test_an_account_that_is_not_the_entrys_is_refused(world, erp_api):
    bob = AccountFactory(resource=world["erp"], owner=UserFactory(username="bob"), identifier="bob")
    crm_account = AccountFactory(resource=world["crm"], owner=world["alice"], identifier="alice-crm")
    entry = pulled(erp_api, make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"]))
    for account in (bob, crm_account):
        response = erp_api.post(
            url(entry.pk),
            {"kind": "ACCOUNT_PASSWORD", "value": PASSWORD, "account_id": account.pk},
            format="json",
        )
        assert response.status_code == 403, response.content
        assert "not the account of provisioning entry" in response.json()["error"]["message"]
    assert not Secret.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": PASSWORD}, "kind"),
        ({"kind": "PERSONAL", "value": PASSWORD}, "kind"),
        ({"kind": "ACCOUNT_PASSWORD"}, "value"),
        ({"kind": "ACCOUNT_PASSWORD", "value": ""}, "value"),
        ({"kind": "ACCOUNT_PASSWORD", "value": PASSWORD, "account_id": "x"}, "account_id"),
        ({"kind": "ACCOUNT_PASSWORD", "value": PASSWORD, "colour": "red"}, "colour"),
        ({"kind": "ACCOUNT_PASSWORD", "value": "x" * (64 * 1024 + 1)}, "value"),
    ],
)
def test_malformed_uploads_say_what_is_wrong_and_store_nothing(world, erp_api, body, field):
    entry = pulled(erp_api, make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"]))
    response = erp_api.post(url(entry.pk), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert PASSWORD not in response.content.decode()
    assert not Secret.objects.exists()


def test_a_wrong_token_is_401_and_leaks_nothing(world):
    from tests.provisioning.conftest import api_for

    entry = make_entry(world["erp"], "CREATE_ACCOUNT", account=world["account"])
    response = api_for("not-a-token").post(
        url(entry.pk), {"kind": "ACCOUNT_PASSWORD", "value": PASSWORD}, format="json"
    )
    assert response.status_code == 401 and "alice" not in response.content.decode()
    assert not Secret.objects.exists()
