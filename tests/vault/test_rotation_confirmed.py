"""A rotated password is kept only once the application confirmed it: until then the old one stays
usable; a rotation that finally fails keeps the old one and opens a task. Settled by the manual
adapter (a person resolving the PROVISIONING task) and by a resource adapter's reports."""

from __future__ import annotations

import pytest

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed
from directory.models import ConsoleRole, ProvisioningEvent, ProvisioningMode
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.console import entry_cancel
from provisioning.services.manual import entry_resolve_done, entry_resolve_failed, entry_secret_reveal
from provisioning.tasks import open_manual_tasks
from tests.vault.factories import AdministrativeAccountFactory, ResourceFactory, UserFactory
from tests.vault.rotations import application_answers
from vault.models import PasswordRotation, RotationStatus, Secret, SecretKind
from vault.services import (
    account_password_rotate,
    checkout_open,
    checkout_release,
    checkout_reveal,
    secret_reveal,
    secret_store,
)
from worklist.models import Task, TaskKind, TaskStatus
from worklist.services import task_decide

OLD = "Adm1n-Old-Passw0rd!"


def account_on(mode: str):
    owner = UserFactory(username="db-owner")
    resource = ResourceFactory(provisioning_modes={ProvisioningEvent.CHANGE_PASSWORD: mode})
    resource.owners.add(owner)
    account = AdministrativeAccountFactory(resource=resource)
    secret_store(
        actor=None, source="console", owner=None, kind=SecretKind.ACCOUNT_PASSWORD, name="pw", value=OLD,
        account=account,
    )  # fmt: skip
    return account, owner


def password(account) -> str:
    return secret_reveal(actor=None, source="test", secret=Secret.objects.get(account=account))


def checked_out(account, user):
    checkout_open(actor=user, source="workspace", account=account, user=user)
    checkout_release(actor=user, source="workspace", account=account, user=user)
    return PasswordRotation.objects.get(account=account, status=RotationStatus.PENDING)


def manual_task(rotation) -> Task:
    open_manual_tasks()
    entry = ProvisioningEntry.objects.get(pk=rotation.entry_id)
    assert entry.status == EntryStatus.WAITING_FAILOVER_RESOLVING or entry.manual_task_id
    return Task.objects.get(kind=TaskKind.PROVISIONING, status=TaskStatus.OPEN)


def test_manual_adapter_success_keeps_the_new_password_only_then(user, django_capture_on_commit_callbacks):
    account, owner = account_on(ProvisioningMode.MANUAL)
    rotation = checked_out(account, user)
    # until the application confirms, the old password is the account's: the next holder gets it
    other = UserFactory()
    assert checkout_reveal(
        actor=other, source="workspace", checkout=checkout_open(actor=other, source="workspace", account=account, user=other)
    ) == OLD  # fmt: skip
    checkout_release(actor=other, source="workspace", account=account, user=other)
    assert PasswordRotation.objects.filter(account=account).count() == 1  # one rotation at a time
    event = AuditEvent.objects.filter(action="vault.checkout.released").order_by("seq").last()
    assert "already waits" in event.new_values["why_not"]
    # the owner types the new password into the application and says it is done
    task = manual_task(rotation)
    new = entry_secret_reveal(actor=owner, source="workspace", task=task)
    assert new != OLD and password(account) == OLD
    entry_resolve_done(
        actor=owner, source="workspace", entry=ProvisioningEntry.objects.get(pk=rotation.entry_id)
    )
    rotation.refresh_from_db()
    assert rotation.status == RotationStatus.CONFIRMED and rotation.pending_id is None
    assert password(account) == new
    assert not Secret.objects.filter(kind=SecretKind.ROTATION_PENDING).exists()
    assert AuditEvent.objects.filter(action="vault.password.rotation_confirmed").count() == 1
    dump = str(list(AuditEvent.objects.values_list("old_values", "new_values")))
    assert new not in dump and OLD not in dump


def test_manual_adapter_failure_keeps_the_old_password_and_opens_a_task(user):
    account, owner = account_on(ProvisioningMode.MANUAL)
    account.responsible = UserFactory(username="responsible")
    account.save()
    rotation = checked_out(account, user)
    manual_task(rotation)
    entry_resolve_failed(
        actor=owner,
        source="workspace",
        entry=ProvisioningEntry.objects.get(pk=rotation.entry_id),
        reason="locked",
    )
    rotation.refresh_from_db()
    assert rotation.status == RotationStatus.FAILED and "locked" in rotation.detail
    assert password(account) == OLD
    assert not Secret.objects.filter(kind=SecretKind.ROTATION_PENDING).exists()
    task = rotation.task
    assert task.kind == TaskKind.ROTATION and task.status == TaskStatus.OPEN
    assert set(task.assignees.values_list("username", flat=True)) == {"db-owner", "responsible"}
    assert task.subject == rotation and "failed" in task.title
    failed = AuditEvent.objects.get(action="vault.password.rotation_failed")
    assert failed.new_values["task"] == task.pk
    # someone else may not decide it
    with pytest.raises(NotAllowed):
        task_decide(actor=UserFactory(), source="workspace", task=task, decision="approve")
    # approving rotates again: a new rotation waits for the application
    task_decide(actor=owner, source="workspace", task=task, decision="approve", comment="unlocked it")
    task.refresh_from_db()
    assert task.status == TaskStatus.APPROVED
    again = PasswordRotation.objects.get(account=account, status=RotationStatus.PENDING)
    assert again.pk != rotation.pk and password(account) == OLD


def test_an_adapter_that_finally_fails_leaves_a_manual_task_then_a_rotation_task(user):
    account, owner = account_on(ProvisioningMode.AUTOMATIC)
    rotation = checked_out(account, user)
    assert application_answers(success=False) == 1
    rotation.refresh_from_db()
    # a final adapter failure is not the end yet: a person may still make the change by hand
    assert rotation.status == RotationStatus.PENDING and password(account) == OLD
    entry_resolve_failed(
        actor=owner,
        source="workspace",
        entry=ProvisioningEntry.objects.get(pk=rotation.entry_id),
        reason="no",
    )
    rotation.refresh_from_db()
    assert rotation.status == RotationStatus.FAILED and password(account) == OLD
    task_decide(actor=owner, source="workspace", task=rotation.task, decision="reject", comment="keep it")
    assert not PasswordRotation.objects.filter(status=RotationStatus.PENDING).exists()
    assert AuditEvent.objects.filter(action="vault.password.rotation_task_decided").exists()


def test_an_adapter_success_and_a_canceled_entry(user):
    account, _ = account_on(ProvisioningMode.AUTOMATIC)
    admin = UserFactory(console_role=ConsoleRole.ADMINISTRATOR)
    rotation = account_password_rotate(actor=admin, source="console", account=account, reason="policy")
    assert rotation["rotated"] is True and rotation["confirmed"] is False
    entry_cancel(actor=admin, source="console", entry_id=rotation["provisioning_entry"], reason="not now")
    assert PasswordRotation.objects.get(pk=rotation["rotation"]).status == RotationStatus.FAILED
    assert password(account) == OLD
    account_password_rotate(actor=admin, source="console", account=account, reason="policy")
    assert application_answers() == 1
    assert password(account) != OLD
