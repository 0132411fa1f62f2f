"""A manual provisioning task is linked to its entry through the typed subject link
("provisioning_entry", entry id): it resolves to the entry, names the change in the task lists,
and a decision reaches the entry through that link — but only while the task is still the
entry's manual task (a console retry releases it)."""

from __future__ import annotations

import pytest

from blazon.errors import Conflict
from directory.models import ConsoleRole
from provisioning.models import EntryStatus, ProvisioningEntry
from provisioning.services.console import entry_retry
from provisioning.subjects import ENTRY_SUBJECT, entry_of_task
from tests.api.factories import UserFactory
from tests.provisioning.test_failure_path import post, pull_one
from worklist.models import Task, TaskKind
from worklist.registry import subject_ref_text
from worklist.services import task_decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def manual_task(world, grant, erp_api) -> Task:
    create = pull_one(erp_api)
    post(erp_api, create["id"], "success", native_identifier="uid=carol")
    entry = pull_one(erp_api)
    body = post(erp_api, entry["id"], "failure", reason="group payments is read-only", final=True)
    return Task.objects.get(pk=body["manual_task"])


def test_the_manual_task_resolves_to_its_entry(world, grant, manual_task):
    entry = ProvisioningEntry.objects.get(manual_task=manual_task)
    assert manual_task.kind == TaskKind.PROVISIONING
    assert (manual_task.subject_kind, manual_task.subject_id) == (ENTRY_SUBJECT, entry.pk)
    assert manual_task.request_id == grant.pk  # still the request it belongs to (SLA, deciders)
    assert manual_task.subject == entry
    assert manual_task.subject_label == "Grant entitlement Payments to carol@erp on ERP"
    assert subject_ref_text(manual_task.subject_ref) == f"Provisioning entry #{entry.pk}"
    assert entry_of_task(manual_task) == entry


def test_a_decision_reaches_the_entry_through_the_link(world, grant, manual_task):
    task_decide(
        actor=world["owner"],
        source="api",
        task=manual_task,
        decision="approve",
        comment="added by hand",
        native_identifier="cn=payments",
    )
    entry = ProvisioningEntry.objects.get(pk=manual_task.subject_id)
    assert entry.status == EntryStatus.SUCCEEDED


def test_a_task_released_by_a_retry_resolves_no_entry_any_more(world, grant, manual_task):
    admin = UserFactory(username="root", console_role=ConsoleRole.ADMINISTRATOR)
    entry = ProvisioningEntry.objects.get(manual_task=manual_task)
    entry_retry(actor=admin, source="console", entry_id=entry.pk)
    released = Task.objects.get(pk=manual_task.pk)
    assert released.subject == ProvisioningEntry.objects.get(pk=entry.pk)  # still about that entry
    assert entry_of_task(released) is None  # but no longer the one resolving it
    with pytest.raises(Conflict):
        task_decide(actor=world["owner"], source="api", task=released, decision="approve", comment="late")
    assert ProvisioningEntry.objects.get(pk=entry.pk).status == EntryStatus.PENDING
