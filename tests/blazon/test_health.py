"""/healthz (the process is up), /readyz (database, broker, outbox lag) and ``manage.py status``."""

from __future__ import annotations

import io
from datetime import timedelta

import kombu.pools
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from blazon.celery import app
from blazon.outbox.models import OutboxMessage
from tests.conftest import require
from tests.platform.test_celery_worker import REDIS_URL, redis_available

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker():
    """Point the Celery app at a broker (production mode) for one test."""
    saved = {"CELERY_TASK_ALWAYS_EAGER": app.conf.task_always_eager, "CELERY_BROKER_URL": app.conf.broker_url}

    def use(url):
        kombu.pools.reset()
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.update(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=url)

    yield use
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.update(saved)


def test_healthz_answers_without_a_login():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"


def test_readyz_is_ready_with_the_database_and_no_lag():
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert body["checks"]["outbox"]["detail"].startswith("lag 0s")


def test_readyz_is_not_ready_when_the_outbox_lags(settings):
    settings.BLAZON_READY_MAX_LAG_SECONDS = 60
    old = timezone.now() - timedelta(minutes=5)
    OutboxMessage.objects.create(
        kind="requests_workflow.tasks.process_request", created_at=old, available_at=old
    )
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["outbox"]["ok"] is False
    assert "1 pending" in body["checks"]["outbox"]["detail"]


def test_readyz_checks_the_broker(broker):
    broker("redis://127.0.0.1:1/0")
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    require(redis_available(), "Redis (BLAZON_TEST_REDIS_URL)")
    broker(REDIS_URL)
    assert Client().get("/readyz").status_code == 200


def test_status_prints_queues_outbox_stuck_work_and_adapters(broker):
    require(redis_available(), "Redis (BLAZON_TEST_REDIS_URL)")
    broker(REDIS_URL)
    old = timezone.now() - timedelta(hours=1)
    OutboxMessage.objects.create(
        kind="requests_workflow.tasks.process_request", created_at=old, available_at=old
    )
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:  # an hour of lag: not ready
        call_command("status", stdout=out)
    assert exited.value.code == 1
    text = out.getvalue()
    assert "broker     ok   reachable" in text
    assert "message(s) waiting" in text
    assert "1 pending (1 due now), 0 dead-lettered, lag 3600s" in text
    assert "queued work items (pipeline steps, e-mails, role changes)    1" in text
    assert "Resource adapters" in text and "provisioning entries stuck: 0" in text
