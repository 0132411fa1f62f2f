"""Check-in and check-out of administrative and application accounts (seed 002): the
credential goes into the holder's vault, one holder at a time for administrative accounts, and
giving it back rotates the password (vault + a CHANGE_PASSWORD provisioning entry)."""

from __future__ import annotations

import json
import logging

import pytest

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from blazon.errors import Conflict, NotAllowed, ValidationFailed
from directory.models import AccountStatus, AccountType, ProvisioningEvent, ProvisioningMode, UserStatus
from directory.services import lifecycle
from provisioning.models import ProvisioningEntry
from tests.vault.factories import AccountFactory, AdministrativeAccountFactory, ResourceFactory, UserFactory
from tests.vault.rotations import application_answers
from vault.models import (
    AdministrativeCheckout,
    CheckoutStatus,
    PasswordRotation,
    RotationStatus,
    Secret,
    SecretKind,
)
from vault.services import (
    checkout_open,
    checkout_release,
    checkout_reveal,
    password_generate,
    secret_reveal,
    secret_store,
)

pytestmark = pytest.mark.django_db

OLD = "Adm1n-Old-Passw0rd!"


def rotating_resource():
    return ResourceFactory(provisioning_modes={ProvisioningEvent.CHANGE_PASSWORD: ProvisioningMode.AUTOMATIC})


def admin_account(resource=None, value: str = OLD):
    account = AdministrativeAccountFactory(**({"resource": resource} if resource else {}))
    secret_store(
        actor=None,
        source="console",
        owner=None,
        kind=SecretKind.ACCOUNT_PASSWORD,
        name=f"{account.identifier} password",
        value=value,
        account=account,
    )
    return account


def open_(account, user, **kw):
    return checkout_open(actor=user, source="workspace", account=account, user=user, **kw)


def no_value_in_audit(*values: str) -> None:
    dump = json.dumps(list(AuditEvent.objects.values("old_values", "new_values", "object_repr")))
    for value in values:
        assert value not in dump


def test_check_in_puts_the_credential_in_the_holders_vault(user):
    account = admin_account()
    checkout = open_(account, user, request_id=42)
    assert checkout.status == CheckoutStatus.ACTIVE and checkout.exclusive and checkout.request_id == 42
    assert checkout.secret == Secret.objects.get(account=account)
    assert checkout_reveal(actor=user, source="workspace", checkout=checkout) == OLD
    opened = AuditEvent.objects.get(action="vault.checkout.opened")
    assert opened.subject_user_id == user.pk and opened.new_values["request_id"] == 42
    assert AuditEvent.objects.filter(action="vault.secret.revealed", actor=user).count() == 1
    no_value_in_audit(OLD)
    assert audit_verify().ok
    # only the holder may see it
    with pytest.raises(NotAllowed):
        checkout_reveal(actor=UserFactory(), source="workspace", checkout=checkout)


def test_an_administrative_account_has_one_holder_at_a_time(user):
    account = admin_account()
    first = open_(account, user)
    assert open_(account, user) == first  # the same holder asking again: nothing new
    other = UserFactory(username="other.admin")
    with pytest.raises(Conflict, match=f"already checked in by {user.username}"):
        open_(account, other)
    assert AdministrativeCheckout.objects.count() == 1
    assert AuditEvent.objects.filter(action="vault.checkout.opened").count() == 1


def test_an_application_credential_may_be_held_by_several_users(user):
    account = AccountFactory(account_type=AccountType.APPLICATION)
    secret_store(
        actor=None,
        source="console",
        owner=None,
        kind=SecretKind.APPLICATION_CREDENTIAL,
        name="api key",
        value="app-key-123",
        account=account,
    )
    other = UserFactory()
    a, b = open_(account, user), open_(account, other)
    assert not a.exclusive and not b.exclusive
    assert checkout_reveal(actor=other, source="workspace", checkout=b) == "app-key-123"


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("regular", ValidationFailed, "only administrative and application accounts"),
        ("no_secret", Conflict, "no credential in the vault"),
        ("inactive_account", ValidationFailed, "only an active account"),
        ("inactive_user", ValidationFailed, "only an active user"),
    ],
)
def test_check_in_refusals_change_nothing(user, case, error, message):
    if case == "regular":
        account = AccountFactory(account_type=AccountType.REGULAR)
    elif case == "no_secret":
        account = AdministrativeAccountFactory()
    else:
        account = admin_account()
    if case == "inactive_account":
        account.status = AccountStatus.INACTIVE
        account.save()
    if case == "inactive_user":
        user.status = UserStatus.INACTIVE
        user.save()
    with pytest.raises(error, match=message):
        open_(account, user)
    assert not AdministrativeCheckout.objects.exists()
    assert not AuditEvent.objects.filter(action="vault.checkout.opened").exists()


def test_check_out_rotates_the_password_and_ends_access(user, caplog):
    caplog.set_level(logging.DEBUG)
    account = admin_account(rotating_resource())
    checkout = open_(account, user)

    released = checkout_release(actor=user, source="workspace", account=account, user=user)

    assert released.pk == checkout.pk and released.status == CheckoutStatus.RELEASED
    assert released.released_at is not None
    secret = Secret.objects.get(account=account)
    # the new value waits aside until the application confirms it; the old one stays usable
    assert secret_reveal(actor=None, source="console", secret=secret) == OLD
    rotation = PasswordRotation.objects.get(account=account, status=RotationStatus.PENDING)
    entry = ProvisioningEntry.objects.get(account=account, event_type=ProvisioningEvent.CHANGE_PASSWORD)
    assert entry.payload == {
        "reason": "check-out",
        "identifier": account.identifier,
        "secret_id": str(rotation.pending_id),
    }
    assert application_answers() == 1
    secret.refresh_from_db()
    new = secret_reveal(actor=None, source="console", secret=secret)
    assert new != OLD and len(new) == 24 and secret.rotated_at is not None
    assert not Secret.objects.filter(kind=SecretKind.ROTATION_PENDING).exists()
    event = AuditEvent.objects.get(action="vault.checkout.released")
    assert event.new_values["rotated"] is True and event.new_values["provisioning_entry"] == entry.pk
    with pytest.raises(Conflict, match="no longer in your vault"):
        checkout_reveal(actor=user, source="workspace", checkout=released)
    no_value_in_audit(OLD, new)
    assert new not in caplog.text and OLD not in caplog.text
    assert audit_verify().ok
    # the account can be checked in again, by someone else, with the new password
    other = UserFactory()
    assert checkout_reveal(actor=other, source="workspace", checkout=open_(account, other)) == new


def test_check_out_keeps_the_password_when_the_resource_cannot_take_a_new_one(user):
    account = admin_account()  # CHANGE_PASSWORD provisioning disabled
    open_(account, user)
    checkout_release(actor=user, source="workspace", account=account, user=user)
    assert secret_reveal(actor=None, source="console", secret=Secret.objects.get(account=account)) == OLD
    assert not ProvisioningEntry.objects.exists()
    event = AuditEvent.objects.get(action="vault.checkout.released")
    assert event.new_values["rotated"] is False and "does not provision" in event.new_values["why_not"]


def test_check_out_without_a_check_in_is_refused(user):
    account = admin_account(rotating_resource())
    other = UserFactory()
    open_(account, other)
    with pytest.raises(Conflict, match="nothing to check out"):
        checkout_release(actor=user, source="workspace", account=account, user=user)
    assert AdministrativeCheckout.objects.get().status == CheckoutStatus.ACTIVE
    assert secret_reveal(actor=None, source="console", secret=Secret.objects.get(account=account)) == OLD
    assert not ProvisioningEntry.objects.exists()


def test_the_life_cycle_checks_out_and_rotates(user):
    account = admin_account(rotating_resource())
    open_(account, user)
    lifecycle.user_inactivate(actor=None, source="console", user=user)
    assert AdministrativeCheckout.objects.get().status == CheckoutStatus.RELEASED
    assert ProvisioningEntry.objects.filter(event_type=ProvisioningEvent.CHANGE_PASSWORD).count() == 1
    application_answers()
    assert secret_reveal(actor=None, source="console", secret=Secret.objects.get(account=account)) != OLD
    assert audit_verify().ok


def test_generated_passwords_are_random_and_mixed():
    values = {password_generate() for _ in range(50)}
    assert len(values) == 50
    for value in values:
        assert any(c.isdigit() for c in value) and any(c.isupper() for c in value)
        assert any(c.islower() for c in value)
