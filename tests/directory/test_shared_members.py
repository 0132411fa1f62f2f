"""Members of shared accounts (seed 002 "Contas": shared accounts have members): only SHARED
accounts take members, only ACTIVE users join, a duplicate is refused; leaving opens the same
password-rotation alert the life-cycle cascade opens."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from blazon.errors import Conflict, ValidationFailed
from directory.models import (
    AccountStatus,
    AccountType,
    DirectoryEvent,
    DirectoryEventKind,
    DirectoryEventStatus,
    SharedAccountMember,
    Source,
    UserStatus,
)
from directory.services import access, lifecycle
from tests.api.factories import AccountFactory, ResourceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared():
    resource = ResourceFactory(code="o365", name="Office 365")
    return AccountFactory(
        resource=resource, owner=None, identifier="finance.shared", account_type=AccountType.SHARED
    )


@pytest.fixture
def actor():
    return UserFactory(username="operator")


def add(actor, account, user):
    return access.shared_member_add(actor=actor, source=Source.CONSOLE, account=account, user=user)


def test_add_member_is_audited(shared, actor):
    joan = UserFactory(username="joan")
    member = add(actor, shared, joan)
    assert member.account == shared and member.user == joan
    event = AuditEvent.objects.get(action="shared_account.member_added")
    assert event.actor_id == actor.pk and event.source == "console"
    assert event.object_type == "directory.Account" and event.object_id == str(shared.pk)
    assert event.new_values == {"member": "joan"} and event.subject_user_id == joan.pk
    assert audit_verify().ok


@pytest.mark.parametrize(
    "account_type", [AccountType.REGULAR, AccountType.APPLICATION, AccountType.ADMINISTRATIVE]
)
def test_only_shared_accounts_take_members(actor, account_type):
    account = AccountFactory(account_type=account_type, owner=None, identifier="not-shared")
    with pytest.raises(ValidationFailed, match="only shared accounts have members") as exc:
        add(actor, account, UserFactory())
    assert "account" in exc.value.fields
    assert not SharedAccountMember.objects.exists()
    assert not AuditEvent.objects.filter(action="shared_account.member_added").exists()


@pytest.mark.parametrize("status", [UserStatus.INACTIVE, UserStatus.REVOKED, UserStatus.REMOVED])
def test_only_active_users_join(shared, actor, status):
    user = UserFactory(username="sleepy", status=status)
    with pytest.raises(ValidationFailed, match=f"sleepy is {status}") as exc:
        add(actor, shared, user)
    assert "user" in exc.value.fields
    assert not SharedAccountMember.objects.exists()


def test_duplicate_member_is_a_conflict(shared, actor):
    joan = UserFactory(username="joan")
    add(actor, shared, joan)
    with pytest.raises(Conflict, match="joan is already a member of finance.shared@o365"):
        add(actor, shared, joan)
    assert SharedAccountMember.objects.filter(account=shared).count() == 1
    assert AuditEvent.objects.filter(action="shared_account.member_added").count() == 1


def test_a_revoked_shared_account_takes_no_one(shared, actor):
    shared.status = AccountStatus.REVOKED
    shared.save(update_fields=["status"])
    with pytest.raises(Conflict, match="revoked"):
        add(actor, shared, UserFactory())
    assert not SharedAccountMember.objects.exists()


def test_remove_member_opens_the_password_rotation_alert(shared, actor):
    joan = UserFactory(username="joan", first_name="Joan", last_name="Baez")
    member = add(actor, shared, joan)
    access.shared_member_remove(actor=actor, source=Source.CONSOLE, member=member)
    assert not SharedAccountMember.objects.filter(account=shared).exists()
    alert = DirectoryEvent.objects.get(kind=DirectoryEventKind.SHARED_MEMBER_REMOVED)
    assert alert.status == DirectoryEventStatus.OPEN and alert.user == joan
    assert alert.object_type == "directory.Account" and alert.object_id == str(shared.pk)
    assert alert.object_repr == "finance.shared@o365"
    assert alert.detail == "Joan Baez was removed from this shared account: rotate its password."
    event = AuditEvent.objects.get(action="shared_account.member_removed")
    assert event.old_values == {"member": "joan"}
    # same keys as the cascade's event; the audit log masks values of keys naming a password
    assert event.new_values["reason"] == "manual" and event.new_values["rotation_alert_opened"] is True
    assert event.actor_id == actor.pk and event.subject_user_id == joan.pk
    assert audit_verify().ok


def test_alert_has_the_shape_the_lifecycle_cascade_writes(shared, actor):
    """A manual removal and a revocation leave the same kind of follow-up for the same account."""
    manual, revoked = UserFactory(username="manual"), UserFactory(username="leaver")
    access.shared_member_remove(actor=actor, source=Source.CONSOLE, member=add(actor, shared, manual))
    add(actor, shared, revoked)
    lifecycle.user_revoke(actor=actor, source=Source.CONSOLE, user=revoked)
    alerts = DirectoryEvent.objects.filter(kind=DirectoryEventKind.SHARED_MEMBER_REMOVED).order_by("pk")
    shapes = [(a.object_type, a.object_id, a.object_repr, a.status) for a in alerts]
    assert shapes[0] == shapes[1]
    assert all("rotate its password" in a.detail for a in alerts)


def test_removing_a_member_twice_is_a_conflict(shared, actor):
    member = add(actor, shared, UserFactory())
    access.shared_member_remove(actor=actor, source=Source.CONSOLE, member=member)
    with pytest.raises(Conflict, match="already removed"):
        access.shared_member_remove(actor=actor, source=Source.CONSOLE, member=member)
    assert DirectoryEvent.objects.count() == 1
