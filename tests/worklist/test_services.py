"""The worklist services are how every app opens, assigns, closes and decides tasks: the
resolvers a task gains are told once the transaction commits (never when it rolls back), through
the notification the owning app registered for the kind, and a decision goes to the owning app's
registered handler."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from blazon.errors import ValidationFailed
from blazon.outbox.registry import register_handler
from tests.api.factories import UserFactory
from tests.worklist.factories import QueueFactory
from worklist.models import Task, TaskStatus
from worklist.registry import _HANDLERS, register_task_kind, task_kind_handler
from worklist.services import (
    task_assignees_add,
    task_assignees_replace,
    task_close,
    task_decide,
    task_open,
    task_queue_set,
    tasks_cancel,
)

pytestmark = pytest.mark.django_db
KIND = "TEST_REVIEW"


class Notification:
    """Stands in for the Celery task an app registers: records what was delivered (through the
    outbox, after commit)."""

    name = "tests.worklist.notification"

    def __init__(self) -> None:
        self.sent: list[tuple[int, list[int] | None]] = []
        register_handler(self.name, self.run)

    def run(self, *args: Any) -> None:
        """Idempotent stand-in: records the delivery."""
        self.sent.append(tuple(args))


@pytest.fixture
def kind():
    """A task kind owned by a pretend app: it is told about new resolvers and applies decisions."""
    notification, decisions = Notification(), []

    def decide(**kwargs: Any) -> str:
        decisions.append(kwargs)
        return "applied"

    register_task_kind(KIND, decide=decide, notify=notification)
    yield notification, decisions
    _HANDLERS.pop(KIND, None)


def test_new_resolvers_are_told_after_commit(kind, django_capture_on_commit_callbacks):
    notification, _ = kind
    ana, bob = UserFactory(username="ana"), UserFactory(username="bob")
    with django_capture_on_commit_callbacks(execute=True):
        task = task_open(kind=KIND, title="Review the access", assignees=[ana, bob])
        assert notification.sent == []  # nothing before the commit
    assert notification.sent == [(task.pk, [ana.pk, bob.pk])]
    assert set(task.assignees.all()) == {ana, bob}

    carl = UserFactory(username="carl")
    with django_capture_on_commit_callbacks(execute=True):
        added = task_assignees_add(task=task, users=[ana, carl])
    assert added == [carl.pk]  # ana already was one: only the newcomer is told
    assert notification.sent[-1] == (task.pk, [carl.pk])


def test_a_rolled_back_change_tells_nobody(kind, django_capture_on_commit_callbacks):
    notification, _ = kind
    ana = UserFactory(username="ana")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            task_open(kind=KIND, title="Review", assignees=[ana])
            raise RuntimeError("the business transaction fails")
    assert notification.sent == []
    assert not Task.objects.filter(kind=KIND).exists()


def test_queue_members_are_told_and_replacing_resolvers(kind, django_capture_on_commit_callbacks):
    notification, _ = kind
    ana, bob, carl = (UserFactory(username=n) for n in ("ana", "bob", "carl"))
    queue = QueueFactory(name="Reviewers")
    queue.members.add(bob, carl)
    with django_capture_on_commit_callbacks(execute=True):
        task = task_open(kind=KIND, title="Review", assignees=[ana])
        task_queue_set(task=task, queue=queue)
        task_assignees_replace(task=task, users=[bob])
    assert notification.sent == [(task.pk, [ana.pk]), (task.pk, [bob.pk, carl.pk]), (task.pk, [bob.pk])]
    assert list(task.assignees.all()) == [bob]
    assert Task.objects.get(pk=task.pk).queue == queue


def test_close_and_cancel(kind):
    ana = UserFactory(username="ana")
    done = task_open(kind=KIND, title="Review")
    other = task_open(kind=KIND, title="Review too")
    task_close(task=done, status=TaskStatus.APPROVED, actor=ana, comment="fine")
    done.refresh_from_db()
    assert (done.status, done.decided_by, done.comment) == (TaskStatus.APPROVED, ana, "fine")
    assert done.decided_at is not None
    assert tasks_cancel(Task.objects.filter(kind=KIND), comment="nobody needs it") == 1  # only the open one
    other.refresh_from_db()
    assert (other.status, other.comment) == (TaskStatus.CANCELED, "nobody needs it")


def test_a_decision_goes_to_the_owning_app(kind):
    _, decisions = kind
    ana = UserFactory(username="ana")
    task = task_open(kind=KIND, title="Review")
    assert task_decide(actor=ana, source="api", task=task, decision="approve", comment="ok") == "applied"
    assert decisions == [
        {"actor": ana, "source": "api", "task": task, "decision": "approve", "comment": "ok"}
    ]
    with pytest.raises(ValidationFailed):
        task_decide(actor=ana, source="api", task=task, decision="maybe")


def test_a_kind_nobody_registered_cannot_be_decided():
    ana = UserFactory(username="ana")
    task = task_open(kind="UNKNOWN", title="Orphan")
    assert task_kind_handler("UNKNOWN").decide is None
    with pytest.raises(ValidationFailed):
        task_decide(actor=ana, source="api", task=task, decision="approve")


def test_the_apps_register_their_kinds():
    """Approval tasks belong to requests_workflow, SoD tasks to sod, manual provisioning to
    provisioning; approval tasks send the approval links, SoD tasks tell the rule's owner."""
    from sod.services.decide import sod_task_decide
    from sod.tasks import mail_sod_task

    assert task_kind_handler("APPROVAL").decide is not None
    assert task_kind_handler("APPROVAL").notify is not None
    assert task_kind_handler("SOD").decide is sod_task_decide
    assert task_kind_handler("SOD").notify is mail_sod_task
    assert task_kind_handler("PROVISIONING").decide is not None
