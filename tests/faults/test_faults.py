"""Durability under faults, with real processes (docs/deployment.md, "What survives what").

A stack of our own — redis-server on a spare port, Blazon under gunicorn (2 workers), a Celery
worker (prefork, 2) and beat, an SMTP server — shares the test database. Four API clients post
no-approval GRANT_ENTITLEMENT requests while one fault is injected; then, for every fault:

* every request answered 201 reaches FINISHED, once (one ``request.applied`` and one
  ``request.finished`` audit event, one membership, one outcome e-mail), within a bound;
* no answer 5xx for a request that was saved (the client would retry into a 409);
* the audit chain verifies.

Outbox leases are 4 s and the relay runs every second here, so lost work comes back in seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from blazon.api.services import api_token_issue
from blazon.audit.models import AuditEvent
from blazon.audit.services import audit_verify
from blazon.outbox.models import OutboxMessage, OutboxStatus
from directory.models import (
    Account,
    ConsoleRole,
    Entitlement,
    EntitlementMembership,
    Resource,
    User,
    default_provisioning_modes,
)
from requests_workflow.models import Request, RequestStatus
from tests.conftest import require
from tests.faults.harness import Load, Mailbox, Redis, Stack, wait_until
from tests.platform.test_celery_worker import database_url_of_test_database

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker, pytest.mark.faults]

#: ./bin/bench faults raises these (a soak): clients, seconds of load, users per scenario
CLIENTS = int(os.environ.get("BLAZON_FAULTS_CLIENTS", "4"))
LOAD_SECONDS = float(os.environ.get("BLAZON_FAULTS_SECONDS", "8"))
USERS = int(os.environ.get("BLAZON_FAULTS_USERS", "150"))
FAULT_AT = min(3.0, LOAD_SECONDS / 2)
#: every accepted request must be FINISHED within this long after the load ends
DRAIN_SECONDS = 120
RESULTS: dict[str, str] = {}


@pytest.fixture(scope="module")
def stack(django_db_setup, tmp_path_factory, mailbox):
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    require(shutil.which("redis-server") is not None, "redis-server")
    workdir = tmp_path_factory.mktemp("faults")
    redis = Redis(workdir / "redis", appendonly=True)
    redis.start()
    stack = Stack(
        database_url=database_url_of_test_database(), redis=redis, mail_port=mailbox.port, workdir=workdir
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        redis.kill()
        if RESULTS:
            print("\nfault table:\n" + "\n".join(f"  {k}: {v}" for k, v in RESULTS.items()))


def setup_load(stack: Stack, tag: str, users: int = USERS, entitlements: int = 4) -> Load:
    res = Resource.objects.create(
        code=f"f-{tag}", name=f"Faults {tag}", provisioning_modes=default_provisioning_modes()
    )
    ents = Entitlement.objects.bulk_create(
        [Entitlement(resource=res, identifier=f"g{i}", name=f"Group {i}") for i in range(entitlements)]
    )
    people = User.objects.bulk_create(
        [
            User(username=f"{tag}{i:04d}", first_name="F", last_name=str(i), email=f"{tag}{i}@example.com")
            for i in range(users)
        ]
    )
    Account.objects.bulk_create([Account(resource=res, owner=u, identifier=u.username) for u in people])
    admin = User.objects.create(
        username=f"{tag}-admin", first_name="A", last_name="B", console_role=ConsoleRole.ADMINISTRATOR
    )
    _token, raw = api_token_issue(actor=None, source="console", user=admin, name=tag)
    pairs = [(u.pk, e.pk) for e in ents for u in people]
    return Load(port=stack.port, token=raw, pairs=pairs)


def drive(stack: Stack, load: Load, tag: str, fault, recover=None) -> float:
    """Post for LOAD_SECONDS with the fault at FAULT_AT; then recover; how long the drain took."""
    runner = threading.Thread(
        target=load.run, kwargs={"clients": CLIENTS, "seconds": LOAD_SECONDS, "tag": tag}
    )
    runner.start()
    time.sleep(FAULT_AT)
    fault()
    if recover:
        recover()
    runner.join()
    started = time.monotonic()
    final = [RequestStatus.FINISHED, RequestStatus.FAILED]
    try:
        wait_until(
            lambda: not Request.objects.filter(justification=tag).exclude(status__in=final).exists(),
            DRAIN_SECONDS,
            "every saved request to reach a final status",
            step=0.5,
        )
    except TimeoutError:
        left = Counter(Request.objects.filter(justification=tag).values_list("status", flat=True))
        pytest.fail(f"not drained: {dict(left)}\n{stack.logs()}")
    return time.monotonic() - started


def check(
    load: Load, mailbox: Mailbox, tag: str, drain: float, fault_name: str, mails_in_flight: int = 0
) -> None:
    """``mails_in_flight``: how many e-mails the fault may have cut between the SMTP server's
    acceptance and the outbox row's "done" (a SIGKILLed worker process each). Such a mail is
    transmitted again, as the *same* message (same Message-ID, which mail systems show once:
    docs/deployment.md §7); every request still gets exactly one distinct outcome e-mail."""
    saved = dict(Request.objects.filter(justification=tag).values_list("pk", "status"))
    by_pair = {
        (b, e): pk
        for b, e, pk in Request.objects.filter(justification=tag).values_list(
            "beneficiary_id", "entitlement_id", "pk"
        )
    }
    statuses = load.statuses()
    # every request answered 201 was saved and FINISHED
    accepted = [load.ids[p] for p, a in load.answers.items() if a == 201]
    assert accepted, f"no request was accepted: {statuses}"
    assert all(saved.get(pk) == RequestStatus.FINISHED for pk in accepted), Counter(
        saved[pk] for pk in accepted
    )
    # no 5xx for saved work
    five_xx_saved = [p for p, a in load.answers.items() if isinstance(a, int) and a >= 500 and p in by_pair]
    assert five_xx_saved == [], f"{len(five_xx_saved)} saved requests were answered 5xx"
    # every saved request (some answered with a dropped connection) finished too
    assert set(saved.values()) <= {RequestStatus.FINISHED}, Counter(saved.values())
    # exactly once: one membership, one applied and one finished event, one outcome mail each
    ids = list(saved)
    for action in ("request.created", "request.applied", "request.finished"):
        per = Counter(
            AuditEvent.objects.filter(
                action=action, object_type="requests_workflow.Request", object_id__in=[str(i) for i in ids]
            ).values_list("object_id", flat=True)
        )
        assert set(per.values()) == {1} and len(per) == len(ids), (
            action,
            [k for k, v in per.items() if v != 1][:5],
        )
    members = Counter(
        EntitlementMembership.objects.filter(account__resource__code=f"f-{tag}").values_list(
            "account_id", "entitlement_id"
        )
    )
    assert len(members) == len(ids) and set(members.values()) == {1}
    wait_until(lambda: all(mailbox.outcome_mails().get(i) for i in ids), 60, "every outcome e-mail", step=0.5)
    time.sleep(2)  # a duplicate would come now
    mails = mailbox.outcome_mails()
    # exactly one distinct e-mail per request: never a second, different message
    assert [i for i in ids if len(set(mails.get(i, []))) != 1] == [], "a request got 0 or 2 distinct e-mails"
    # a re-transmission (the same Message-ID again) only where a killed worker cut one short
    twice = [i for i in ids if len(mails[i]) > 1]
    assert all(len(mails[i]) == 2 for i in twice), "an e-mail transmitted more than twice"
    assert len(twice) <= mails_in_flight, f"outcome e-mails transmitted again: {twice}"
    assert all(re.fullmatch(r"<blazon\.\d+\.\d+\.\d+@[\w.-]+>", mails[i][0]) for i in ids)
    assert audit_verify().ok
    assert not OutboxMessage.objects.filter(status=OutboxStatus.DEAD).exists()
    non_201 = {str(k): v for k, v in statuses.items() if k != 201}
    RESULTS[fault_name] = (
        f"{len(accepted)} answered 201, {len(ids)} saved, all FINISHED once; other answers {non_201 or 'none'}; "
        f"drained {drain:.1f}s after the load; distinct e-mails per request: 1; "
        f"re-transmitted (same Message-ID): {len(twice)}"
    )


@pytest.mark.django_db(transaction=True)
def test_celery_worker_sigkilled_under_load(stack, mailbox):
    tag = "wk"
    load = setup_load(stack, tag)

    def fault():
        stack.kill_worker()
        time.sleep(1)
        stack.worker.start()

    drain = drive(stack, load, tag, fault)
    # the worker and its 2 pool processes die: each may have been between SMTP and "done"
    check(load, mailbox, tag, drain, "Celery worker SIGKILL", mails_in_flight=2)


@pytest.mark.django_db(transaction=True)
def test_redis_killed_with_append_only_file(stack, mailbox):
    tag = "ra"
    load = setup_load(stack, tag)
    stack.redis.set_appendonly(True)

    def fault():
        stack.redis.kill()
        time.sleep(4)
        stack.redis.start()

    drain = drive(stack, load, tag, fault)
    check(load, mailbox, tag, drain, "Redis killed 4 s (AOF on)")


@pytest.mark.django_db(transaction=True)
def test_redis_killed_without_persistence(stack, mailbox):
    tag = "rn"
    load = setup_load(stack, tag)

    def fault():
        stack.redis.kill()
        stack.redis.set_appendonly(False)  # comes back empty: queued messages are lost
        for leftover in Path(stack.redis.dir).glob("appendonly*"):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        time.sleep(4)
        stack.redis.start()

    drain = drive(stack, load, tag, fault)
    stack.redis.set_appendonly(True)
    check(load, mailbox, tag, drain, "Redis killed 4 s (no persistence)")


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_sigkilled_under_load(stack, mailbox):
    tag = "gw"
    load = setup_load(stack, tag)

    def fault():
        for _ in range(5):
            for pid in stack.web.children()[:1]:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.6)

    drain = drive(stack, load, tag, fault)
    check(load, mailbox, tag, drain, "gunicorn worker SIGKILL x5")
