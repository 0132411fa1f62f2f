"""Durability when PostgreSQL restarts under load, on a PostgreSQL cluster of our own
(``initdb``/``pg_ctl`` from /usr/lib/postgresql/*/bin, a spare port, a temporary directory): the
test database's schema is copied into it (``pg_dump``), the stack of ``test_faults`` (gunicorn,
Celery worker and beat, Redis, SMTP) runs on it, and the cluster is restarted (fast shutdown:
open transactions roll back, every client is disconnected) while four clients post requests.

Requests that hit the restart are refused with 5xx and nothing of them is saved (a retry is
safe); every request answered 201 finishes once; the audit chain verifies.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import require
from tests.faults.harness import Redis, Stack, free_port, wait_until
from tests.faults.test_faults import RESULTS, check, drive, setup_load
from tests.platform.test_celery_worker import database_url_of_test_database

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker, pytest.mark.faults]


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class Cluster:
    """A PostgreSQL cluster of our own: trust authentication on 127.0.0.1, fsync off (a test)."""

    def __init__(self, bindir: Path, directory: Path) -> None:
        self.bin, self.dir, self.port = bindir, directory, free_port()
        self.data = directory / "data"

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        # the server refuses to run as root: its tools run as the postgres user then
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *args], check=True, capture_output=True, text=True, timeout=120, **kwargs
        )  # noqa: S603

    def init(self) -> None:
        self.run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )

    def pg_ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "pg.log"),
            "-o",
            options,
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            action,
        )

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


def _test_database_url() -> str:
    """The test database's URL. Run alone, this module's fixture can see the connection still
    named after the configured database (not the test one): then the test database's name is
    asked of Django's creation helper, which is what the test run created."""
    url = database_url_of_test_database()
    name = connection.settings_dict["NAME"]
    if name.startswith("test_"):
        return url
    return url.rsplit("/", 1)[0] + "/" + connection.creation._get_test_db_name()


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker, tmp_path_factory):
    bindir = pg_bin()
    require(bindir is not None, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    require(shutil.which("redis-server") is not None, "redis-server")
    # a directory the postgres user owns (pytest's temporary directories are root's, mode 0700)
    directory = Path(tempfile.mkdtemp(prefix="blazon-faults-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = Cluster(bindir, directory)
    cluster.init()
    cluster.pg_ctl("start")
    try:
        cluster.run(
            str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "blazon"
        )
        # the test database's schema (and its migration records): what `migrate` would build
        dump = subprocess.run(  # noqa: S603
            [str(bindir / "pg_dump"), "--no-owner", "--dbname", _test_database_url()],
            check=True,
            capture_output=True,
            timeout=120,
        ).stdout
        cluster.run(
            str(bindir / "psql"), "-q", "-v", "ON_ERROR_STOP=1", cluster.url("blazon"), input=dump.decode()
        )
        yield cluster
    finally:
        try:
            cluster.pg_ctl("stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def on_cluster(cluster, django_db_blocker):
    """This process's database connection on the cluster for the test, then back."""
    with django_db_blocker.unblock():
        saved = dict(connection.settings_dict)
        connection.close()
        connection.settings_dict.update(
            HOST="127.0.0.1", PORT=str(cluster.port), NAME="blazon", USER="postgres", PASSWORD=""
        )
        try:
            yield cluster
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


#: How long the database stays down in the outage case: longer than a task's own retries
#: (about 31 s in all), so only the outbox's relay and the stuck-work sweep can bring the work back.
OUTAGE_SECONDS = float(os.environ.get("BLAZON_FAULTS_PG_OUTAGE", "60"))


@pytest.mark.parametrize("kind", ["restart", "outage"])
def test_postgresql_restarted_under_load(kind, on_cluster, mailbox, tmp_path, django_db_blocker):
    """``restart``: a fast restart. ``outage``: the database is stopped for OUTAGE_SECONDS
    while the clients post, then started again."""
    cluster = on_cluster
    redis = Redis(tmp_path / "redis", appendonly=True)
    redis.start()
    stack = Stack(database_url=cluster.url("blazon"), redis=redis, mail_port=mailbox.port, workdir=tmp_path)
    try:
        with django_db_blocker.unblock():
            stack.start()
            tag = f"pg-{kind}"
            load = setup_load(stack, tag)

            def fault():
                if kind == "restart":
                    cluster.pg_ctl("restart")
                    return
                cluster.pg_ctl("stop")
                time.sleep(OUTAGE_SECONDS)
                cluster.pg_ctl("start")

            def reconnect():
                connection.close()

            drain = drive(stack, load, tag, fault, recover=reconnect)
            connection.close()
            wait_until(lambda: os.path.exists(cluster.dir / "data" / "postmaster.pid"), 10, "postgres up")
            name = (
                "PostgreSQL restart (fast)"
                if kind == "restart"
                else f"PostgreSQL down {OUTAGE_SECONDS:.0f} s"
            )
            check(load, mailbox, tag, drain, name)
            # refused while the database was down: 503 with Retry-After (nothing saved), never a 500
            assert {a for a in load.answers.values() if isinstance(a, int) and a != 201} <= {503}
    finally:
        stack.stop()
        redis.kill()
        if RESULTS:
            print("\n" + "\n".join(f"  {k}: {v}" for k, v in RESULTS.items()))
