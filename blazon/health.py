"""Liveness and readiness, and the status report behind ``manage.py status``.

* ``/healthz``: the process is up (touches nothing: a load balancer may call it often).
* ``/readyz``: this node can do its job: the database answers, the broker answers (in-process
  mode has none) and the outbox's oldest undone work is younger than
  ``BLAZON_READY_MAX_LAG_SECONDS``. 200 when all hold, 503 with the failing checks otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from blazon.celery import app
from blazon.outbox.services import outbox_state


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return Check("database", False, f"{type(exc).__name__}: {exc}"[:300])
    return Check("database", True, connection.vendor)


def check_broker() -> Check:
    if app.conf.task_always_eager:
        return Check("broker", True, "none (tasks run in-process)")
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:
        return Check("broker", False, f"{type(exc).__name__}: {exc}"[:300])
    return Check("broker", True, "reachable")


def check_outbox() -> Check:
    limit = int(getattr(settings, "BLAZON_READY_MAX_LAG_SECONDS", 600))
    try:
        state = outbox_state()
    except Exception as exc:
        return Check("outbox", False, f"{type(exc).__name__}: {exc}"[:300])
    lag = state.lag_seconds
    detail = f"lag {lag:.0f}s (limit {limit}s), {state.pending} pending, {state.dead} dead-lettered"
    return Check("outbox", lag <= limit, detail)


def readiness() -> list[Check]:
    database = check_database()
    checks = [database, check_broker()]
    checks.append(check_outbox() if database.ok else Check("outbox", False, "database unavailable"))
    return checks


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    ready = all(c.ok for c in checks)
    body: dict[str, Any] = {
        "status": "ready" if ready else "not ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return JsonResponse(body, status=200 if ready else 503)
