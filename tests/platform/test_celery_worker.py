"""A real Celery worker on Redis, sharing PostgreSQL with the test, runs the directory's
role-change task through the outbox: its row is written in the business transaction (none for a
rolled-back one), handed to the worker on commit and applied once, even when the same message is
delivered twice.

The worker is a separate process (``celery -A blazon worker --pool=solo``) consuming a queue
unique to this module, on the Redis database of ``BLAZON_TEST_REDIS_URL``. It reads the test
database (``test_<name>``), hence ``transactional_db``: the test's rows must be committed for
the worker to see them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import kombu.pools
import pytest
import redis
from celery.signals import after_task_publish
from django.db import connection, transaction

from blazon.audit.models import AuditEvent
from blazon.celery import app
from blazon.outbox.models import OutboxMessage, OutboxStatus
from blazon.outbox.tasks import deliver
from directory.models import (
    Account,
    Entitlement,
    EntitlementMembership,
    ProvisioningMode,
    Resource,
    Role,
    RoleChange,
    RoleChangeStatus,
    RoleEntitlement,
    RoleMembership,
    User,
    default_provisioning_modes,
)
from directory.services import access
from directory.tasks import apply_role_change
from provisioning.models import ProvisioningEntry
from tests.conftest import require

from ._env import REPO, clean_env

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres]

REDIS_URL = os.environ.get("BLAZON_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TASK = deliver.name  # what reaches the broker: the outbox row's delivery
WORKER_START_TIMEOUT = 60
TASK_TIMEOUT = 60


def wait_for(condition: Callable[[], Any], timeout: float, what: str, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n--- worker log ---\n{tail}")


def redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@dataclass
class Worker:
    process: subprocess.Popen
    queue: str
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def count(self, task_id: str, event: str) -> int:
        """How many times the worker logged ``event`` (received/succeeded) for ``task_id``."""
        return self.text().count(f"{TASK}[{task_id}] {event}")


def database_url_of_test_database() -> str:
    s = connection.settings_dict
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return (
        f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{quote(s['NAME'], safe='')}"
    )


def purge(queue: str) -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    keys = list(client.scan_iter(match=f"*{queue}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory) -> Iterator[Worker]:
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    require(redis_available(), f"Redis ({REDIS_URL}, BLAZON_TEST_REDIS_URL)")
    queue = f"blazon-test-{uuid.uuid4().hex[:12]}"
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    env = clean_env(
        DATABASE_URL=database_url_of_test_database(),
        CELERY_BROKER_URL=REDIS_URL,
        DB_CONN_MAX_AGE="0",  # no idle connection may outlive the test database
        BLAZON_DEBUG="false",
    )
    celery = Path(sys.executable).with_name("celery")
    command = [
        str(celery),
        "-A",
        "blazon",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "info",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    handle = Worker(process=process, queue=queue, log=log)
    try:
        wait_for(
            lambda: process.poll() is not None or " ready." in handle.text(),
            WORKER_START_TIMEOUT,
            "the Celery worker to be ready",
            log,
        )
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited with {process.returncode}:\n{handle.text()[-4000:]}")
        yield handle
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        purge(queue)


@dataclass
class Published:
    task_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, sender: str | None = None, headers: dict | None = None, **_: Any) -> None:
        if sender == TASK and headers:
            with self.lock:
                self.task_ids.append(headers["id"])


@pytest.fixture
def to_worker(worker: Worker, transactional_db) -> Iterator[Published]:
    """Point this process's Celery app at Redis and the worker's queue (the embedded default
    runs tasks eagerly), record what it publishes, and restore everything afterwards."""
    # The app reads Django settings with the CELERY_ namespace: overrides use the same keys.
    saved = {
        "CELERY_TASK_ALWAYS_EAGER": app.conf.task_always_eager,
        "CELERY_BROKER_URL": app.conf.broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": app.conf.task_default_queue,
    }
    published = Published()
    _drop_connections()
    app.conf.update(
        CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=REDIS_URL, CELERY_TASK_DEFAULT_QUEUE=worker.queue
    )
    assert app.conf.task_always_eager is False
    assert app.conf.broker_url == REDIS_URL
    after_task_publish.connect(published, weak=False)
    try:
        yield published
    finally:
        after_task_publish.disconnect(published)
        _drop_connections()
        app.conf.update(saved)


def _drop_connections() -> None:
    # The app and kombu cache broker connection and producer pools; a changed broker_url needs
    # fresh ones (this is what Celery itself does after a fork).
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def make_role_with_members(n: int = 3) -> tuple[Role, Entitlement, list[User]]:
    suffix = uuid.uuid4().hex[:6]
    modes = {event: ProvisioningMode.AUTOMATIC for event in default_provisioning_modes()}
    resource = Resource.objects.create(code=f"erp-{suffix}", name="ERP", provisioning_modes=modes)
    entitlement = Entitlement.objects.create(resource=resource, identifier="approvers", name="Approvers")
    role = Role.objects.create(code=f"finance-{suffix}", name="Finance")
    users = [
        User.objects.create(username=f"member{i}-{suffix}", first_name="Member", last_name=str(i))
        for i in range(n)
    ]
    RoleMembership.objects.bulk_create([RoleMembership(role=role, user=user) for user in users])
    return role, entitlement, users


def submit(role: Role, entitlement: Entitlement) -> RoleChange:
    return access.role_change_submit(
        actor=None, source="console", role=role, action="ADD", entitlement=entitlement
    )


def wait_until_applied(change_id: int, worker: Worker) -> RoleChange:
    def done() -> RoleChange | None:
        change = RoleChange.objects.get(pk=change_id)
        return change if change.status in (RoleChangeStatus.DONE, RoleChangeStatus.FAILED) else None

    change = wait_for(done, TASK_TIMEOUT, f"role change {change_id} to be applied by the worker", worker.log)
    assert change.status == RoleChangeStatus.DONE, change.error
    return change


def assert_applied_once(change: RoleChange, entitlement: Entitlement, users: list[User]) -> None:
    resource = entitlement.resource
    assert RoleEntitlement.objects.filter(role=change.role, entitlement=entitlement).count() == 1
    for user in users:
        assert Account.objects.filter(owner=user, resource=resource).count() == 1
        assert EntitlementMembership.objects.filter(account__owner=user, entitlement=entitlement).count() == 1
    entries = ProvisioningEntry.objects.filter(resource=resource)
    assert entries.filter(event_type="CREATE_ACCOUNT").count() == len(users)
    assert entries.filter(event_type="GRANT_ENTITLEMENT").count() == len(users)
    applied = AuditEvent.objects.filter(action="role.change_applied", object_id=str(change.pk))
    assert applied.count() == 1


def test_enqueued_on_commit_is_not_sent_on_rollback_and_runs_once_after_commit(worker, to_worker):
    role, entitlement, users = make_role_with_members()

    # Rolled back: nothing is published, nothing reaches the queue, nothing is recorded.
    with pytest.raises(RuntimeError), transaction.atomic():
        submit(role, entitlement)
        raise RuntimeError("roll back")
    assert to_worker.task_ids == []
    assert not RoleChange.objects.filter(role=role).exists()
    assert not OutboxMessage.objects.filter(kind=apply_role_change.name).exists()
    assert redis.Redis.from_url(REDIS_URL).llen(worker.queue) == 0

    # Committed: published exactly once, and only when the transaction commits.
    with transaction.atomic():
        change = submit(role, entitlement)
        assert to_worker.task_ids == [], "sent before the transaction committed"
    assert len(to_worker.task_ids) == 1
    task_id = to_worker.task_ids[0]

    change = wait_until_applied(change.pk, worker)
    wait_for(
        lambda: worker.count(task_id, "succeeded"), TASK_TIMEOUT, "the worker to log success", worker.log
    )
    assert worker.count(task_id, "received") == 1
    assert_applied_once(change, entitlement, users)
    row = OutboxMessage.objects.get(kind=apply_role_change.name, payload__args=[change.pk])
    assert row.status == OutboxStatus.DONE and row.attempts == 1


def test_a_task_delivered_twice_has_one_effect(worker, to_worker):
    role, entitlement, users = make_role_with_members()
    change = submit(role, entitlement)  # autocommit: published at once
    assert len(to_worker.task_ids) == 1
    task_id = to_worker.task_ids[0]

    # The broker redelivers the same message (acks_late after a lost worker does exactly this).
    row = OutboxMessage.objects.get(kind=apply_role_change.name, payload__args=[change.pk])
    deliver.apply_async(args=[row.pk], task_id=task_id)
    assert to_worker.task_ids == [task_id, task_id]

    wait_for(
        lambda: worker.count(task_id, "succeeded") >= 2, TASK_TIMEOUT, "both deliveries to run", worker.log
    )
    assert worker.count(task_id, "received") == 2
    change = wait_until_applied(change.pk, worker)
    assert_applied_once(change, entitlement, users)


def test_work_saved_while_the_broker_was_down_is_delivered_later_by_the_relay(worker, to_worker):
    """The broker is unreachable when the change commits: the change stands, its outbox row
    waits, and once the broker is back the relay hands it to the worker, which applies it once."""
    from blazon.outbox.services import outbox_relay

    role, entitlement, users = make_role_with_members()
    _drop_connections()
    app.conf.update(CELERY_BROKER_URL="redis://127.0.0.1:1/0")  # nothing listens there
    try:
        change = submit(role, entitlement)  # autocommit: the send is tried at once, and fails
    finally:
        _drop_connections()
        app.conf.update(CELERY_BROKER_URL=REDIS_URL)
    assert to_worker.task_ids == []
    row = OutboxMessage.objects.get(kind=apply_role_change.name, payload__args=[change.pk])
    assert row.status == OutboxStatus.PENDING
    assert RoleChange.objects.get(pk=change.pk).status == RoleChangeStatus.PENDING

    assert outbox_relay() == 0, "handed out before its lease ran out"
    OutboxMessage.objects.filter(pk=row.pk).update(available_at=row.created_at)
    assert outbox_relay() == 1
    assert len(to_worker.task_ids) == 1
    change = wait_until_applied(change.pk, worker)
    assert_applied_once(change, entitlement, users)
    wait_for(
        lambda: OutboxMessage.objects.get(pk=row.pk).status == OutboxStatus.DONE,
        TASK_TIMEOUT,
        "the outbox row to be done",
        worker.log,
    )


def test_the_embedded_mode_is_restored_after_the_worker_tests():
    assert app.conf.task_always_eager is True
