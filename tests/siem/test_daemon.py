"""``manage.py forward_audit --loop`` as a real process: it forwards what is committed, and a
process killed (SIGKILL) and started again resumes from the persisted cursor — nothing lost,
nothing out of order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from django.db import connection, transaction

from blazon.audit.services import audit_record
from siem.models import SiemDestination
from siem.services import siem_destination_create
from tests.siem.parse import parse_5424
from tests.siem.receivers import wait_for


def _daemon() -> subprocess.Popen[bytes]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "forward_audit", "--loop", "--interval", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _record(n: int) -> None:
    for i in range(n):
        with transaction.atomic():  # each its own committed change
            audit_record(
                actor=None, action="daemon.event", object_type="thing", object_id=i, source="automatic"
            )


@pytest.mark.django_db(transaction=True)
def test_daemon_survives_a_kill_and_resumes_from_its_cursor(rsyslog):
    assert connection.vendor == "postgresql"
    _record(1)
    dest = siem_destination_create(
        actor=None, source="automatic", name="daemon", transport="syslog-tcp", host="127.0.0.1",
        port=rsyslog.tcp_port,
    )  # fmt: skip
    start = dest.cursor
    _record(20)
    proc = _daemon()
    try:
        wait_for(lambda: len(rsyslog.lines("tcp")) >= 21, "the first 21 events")
        # the cursor saved (killed before it, the batch would be sent again: at least once)
        wait_for(lambda: SiemDestination.objects.get().cursor == start + 21, "the cursor")
        os.killpg(proc.pid, signal.SIGKILL)  # no clean shutdown
        proc.wait(timeout=20)
        _record(15)  # written while no forwarder runs
        proc = _daemon()
        wait_for(lambda: len(rsyslog.lines("tcp")) >= 36, "the 15 events after the restart")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    seqs = [int(parse_5424(line).sd["blazon@32473"]["seq"]) for line in rsyslog.lines("tcp")]
    assert seqs == list(range(start + 1, start + 37))  # at least once, in order; here exactly once
    dest.refresh_from_db()
    assert dest.cursor == start + 36 and SiemDestination.objects.get().last_error == ""
