"""The adapter's local journal (SQLite): what it pulled, tried, decided and reported.

Write-ahead, so a crash or a core outage loses nothing and repeats nothing (with
``journal_sync = "normal"``, the default, "a crash" is the adapter process dying; a power loss
may lose the last writes, so an entry may be executed again — connectors are idempotent —
unless ``journal_sync = "full"``):

1. a pulled entry is stored (``RECEIVED``) before anything is done with it;
2. each try is counted before the connector is called (a crash mid-call is a counted try);
3. the outcome is stored (``DONE``) before it is reported;
4. only the core's answer marks it ``REPORTED`` (or ``DROPPED`` when the core says the entry
   is not ours any more). Unreported outcomes are sent again on every loop.

An entry the core hands out again (its lease expired while the core was unreachable) is never
executed twice: a ``DONE`` or ``REPORTED`` one is only reported again.

The link table maps the core's accounts and entitlements to the application's ids.
Sealed secrets are stored as the core sent them (only the private key opens them).

Credentials the adapter creates (an initial password, an application's new secret) are kept
sealed to the adapter's own key in ``credentials`` until the core acknowledges them
(``STORED``): written before the connector call that uses them, so a retry sets the same value
and a core outage loses none. An entry's report waits until its credentials are in the vault.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECEIVED, DONE, REPORTED, DROPPED = "RECEIVED", "DONE", "REPORTED", "DROPPED"

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,          -- the core's entry id
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,              -- the entry as pulled (JSON; secrets sealed)
    state TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    first_try_at REAL,
    next_try_at REAL NOT NULL DEFAULT 0,
    lease_until REAL,
    last_error TEXT NOT NULL DEFAULT '',
    outcome TEXT,                    -- success | failure
    outcome_body TEXT,               -- the report's JSON body
    received_at REAL NOT NULL,
    done_at REAL,
    reported_at REAL
);
CREATE INDEX IF NOT EXISTS entries_state ON entries (state, next_try_at);
CREATE TABLE IF NOT EXISTS links (
    kind TEXT NOT NULL,              -- account | entitlement
    local_id INTEGER NOT NULL,       -- the core's id of the object
    remote_id TEXT NOT NULL,         -- the application's id (an LDAP DN…)
    updated_at REAL NOT NULL,
    PRIMARY KEY (kind, local_id)
);
CREATE TABLE IF NOT EXISTS credentials (
    entry_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    kind TEXT NOT NULL,              -- ACCOUNT_PASSWORD | APPLICATION_CREDENTIAL
    name TEXT NOT NULL DEFAULT '',
    sealed TEXT NOT NULL,            -- JSON, sealed to the adapter's own public key
    state TEXT NOT NULL,             -- PENDING | STORED | REFUSED
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    stored_at REAL,
    PRIMARY KEY (entry_id, account_id, kind, name)
);
"""

PENDING, STORED, REFUSED = "PENDING", "STORED", "REFUSED"


@dataclass
class JournalCredential:
    entry_id: int
    account_id: int
    kind: str
    name: str
    sealed: dict[str, Any]
    state: str


@dataclass
class JournalEntry:
    id: int
    event_type: str
    body: dict[str, Any]
    state: str
    tries: int
    first_try_at: float | None
    next_try_at: float
    lease_until: float | None
    last_error: str
    outcome: str | None
    outcome_body: dict[str, Any] | None


#: ``synchronous`` levels of the journal: ``normal`` survives the adapter being killed (every
#: write is in the operating system before the connector is called); ``full`` also survives a
#: power loss, at the cost of a disk flush per write (≈ 2 per entry).
SYNC_MODES = {"normal": "NORMAL", "full": "FULL"}


class Journal:
    def __init__(self, path: str | Path, *, sync: str = "normal") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # one process, maybe a status thread: serialise on one connection
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: each commit reaches the OS before we go on (a killed process loses
        # nothing); FULL also flushes the disk on each commit (power loss)
        self._db.execute(f"PRAGMA synchronous={SYNC_MODES[sync]}")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    @staticmethod
    def _row(row: tuple[Any, ...]) -> JournalEntry:
        return JournalEntry(
            id=row[0],
            event_type=row[1],
            body=json.loads(row[2]),
            state=row[3],
            tries=row[4],
            first_try_at=row[5],
            next_try_at=row[6],
            lease_until=row[7],
            last_error=row[8],
            outcome=row[9],
            outcome_body=json.loads(row[10]) if row[10] else None,
        )

    _COLUMNS = (
        "id, event_type, body, state, tries, first_try_at, next_try_at, lease_until, last_error, "
        "outcome, outcome_body"
    )

    # --- entries -----------------------------------------------------------------------------

    def receive(self, body: dict[str, Any], *, lease_until: float | None, now: float) -> JournalEntry:
        """Store a pulled entry (once). An entry we know already is never executed again once
        decided: a RECEIVED one gets the new lease, a decided one (DONE, REPORTED, or DROPPED
        after its outcome) is to be reported again; one dropped before it ran is ours again."""
        with self._lock:
            self._exec(
                "INSERT INTO entries (id, event_type, body, state, lease_until, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until, "
                "body = excluded.body, "
                # decided before: report it again; dropped before it ran: ours again, to execute
                "state = CASE WHEN entries.state IN (?, ?) AND entries.outcome IS NOT NULL THEN ? "
                "WHEN entries.state = ? THEN ? ELSE entries.state END",
                (
                    body["id"],
                    body["event_type"],
                    json.dumps(body),
                    RECEIVED,
                    lease_until,
                    now,
                    REPORTED,
                    DROPPED,
                    DONE,
                    DROPPED,
                    RECEIVED,
                ),
            )
            entry = self.get(body["id"])
            assert entry is not None
            return entry

    def receive_many(
        self, bodies: list[dict[str, Any]], *, lease_until: float | None, now: float
    ) -> list[JournalEntry]:
        """``receive`` for a pulled batch, in one transaction (one write to disk)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                entries = [self.receive(body, lease_until=lease_until, now=now) for body in bodies]
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return entries

    def get(self, entry_id: int) -> JournalEntry | None:
        row = self._exec(f"SELECT {self._COLUMNS} FROM entries WHERE id = ?", (entry_id,)).fetchone()  # noqa: S608
        return self._row(row) if row else None

    def due(self, *, now: float, limit: int = 100) -> list[JournalEntry]:
        """RECEIVED entries whose next try is due, oldest first."""
        rows = self._exec(
            f"SELECT {self._COLUMNS} FROM entries WHERE state = ? AND next_try_at <= ? ORDER BY id LIMIT ?",  # noqa: S608
            (RECEIVED, now, limit),
        ).fetchall()
        return [self._row(r) for r in rows]

    def unreported(self) -> list[JournalEntry]:
        rows = self._exec(
            f"SELECT {self._COLUMNS} FROM entries WHERE state = ? ORDER BY id",  # noqa: S608
            (DONE,),
        ).fetchall()
        return [self._row(r) for r in rows]

    def open_count(self) -> int:
        return self._exec("SELECT count(*) FROM entries WHERE state IN (?, ?)", (RECEIVED, DONE)).fetchone()[
            0
        ]

    def try_started(self, entry_id: int, *, now: float) -> None:
        self._exec(
            "UPDATE entries SET tries = tries + 1, first_try_at = coalesce(first_try_at, ?) WHERE id = ?",
            (now, entry_id),
        )

    def retry_later(self, entry_id: int, *, at: float, error: str) -> None:
        self._exec("UPDATE entries SET next_try_at = ?, last_error = ? WHERE id = ?", (at, error, entry_id))

    def set_lease(self, entry_id: int, lease_until: float | None) -> None:
        self._exec("UPDATE entries SET lease_until = ? WHERE id = ?", (lease_until, entry_id))

    def done(self, entry_id: int, *, outcome: str, body: dict[str, Any], now: float, error: str = "") -> None:
        """The outcome is decided: stored before it is reported."""
        self._exec(
            "UPDATE entries SET state = ?, outcome = ?, outcome_body = ?, done_at = ?, "
            "last_error = CASE WHEN ? = '' THEN last_error ELSE ? END WHERE id = ? AND state = ?",
            (DONE, outcome, json.dumps(body), now, error, error, entry_id, RECEIVED),
        )

    def reported(self, entry_id: int, *, now: float) -> None:
        self._exec("UPDATE entries SET state = ?, reported_at = ? WHERE id = ?", (REPORTED, now, entry_id))

    def reported_many(self, entry_ids: list[int], *, now: float) -> None:
        if not entry_ids:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "UPDATE entries SET state = ?, reported_at = ? WHERE id = ?",
                [(REPORTED, now, entry_id) for entry_id in entry_ids],
            )
            self._db.execute("COMMIT")

    def dropped(self, entry_id: int, *, now: float, why: str) -> None:
        self._exec(
            "UPDATE entries SET state = ?, reported_at = ?, last_error = ? WHERE id = ?",
            (DROPPED, now, why, entry_id),
        )

    def counts(self) -> dict[str, int]:
        return dict(self._exec("SELECT state, count(*) FROM entries GROUP BY state").fetchall())

    def purge(self, *, older_than: float) -> int:
        """Forget reported entries finished before ``older_than`` (the journal stays small)."""
        self._exec("DELETE FROM credentials WHERE state <> ? AND stored_at < ?", (PENDING, older_than))
        return self._exec(
            "DELETE FROM entries WHERE state IN (?, ?) AND reported_at < ?", (REPORTED, DROPPED, older_than)
        ).rowcount

    # --- links -------------------------------------------------------------------------------

    def link(self, kind: str, local_id: int) -> str | None:
        row = self._exec(
            "SELECT remote_id FROM links WHERE kind = ? AND local_id = ?", (kind, local_id)
        ).fetchone()
        return row[0] if row else None

    def link_set(self, kind: str, local_id: int, remote_id: str) -> None:
        self._exec(
            "INSERT INTO links (kind, local_id, remote_id, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, local_id) DO UPDATE SET remote_id = excluded.remote_id, "
            "updated_at = excluded.updated_at",
            (kind, local_id, remote_id, time.time()),
        )

    def link_forget(self, kind: str, local_id: int) -> None:
        self._exec("DELETE FROM links WHERE kind = ? AND local_id = ?", (kind, local_id))

    # --- credentials -------------------------------------------------------------------------

    def credential_keep(
        self, *, entry_id: int, account_id: int, kind: str, name: str, sealed: dict[str, Any], now: float
    ) -> dict[str, Any]:
        """Keep a credential until the core stores it; the one kept first wins (a retried try
        uses the same password). Returns the sealed value kept."""
        with self._lock:
            self._exec(
                "INSERT INTO credentials (entry_id, account_id, kind, name, sealed, state, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (entry_id, account_id, kind, name, json.dumps(sealed), PENDING, now),
            )
            row = self._exec(
                "SELECT sealed FROM credentials WHERE entry_id = ? AND account_id = ? AND kind = ? AND name = ?",
                (entry_id, account_id, kind, name),
            ).fetchone()
            return json.loads(row[0])

    def credential(
        self, entry_id: int, account_id: int, kind: str, name: str = ""
    ) -> JournalCredential | None:
        row = self._exec(
            "SELECT entry_id, account_id, kind, name, sealed, state FROM credentials "
            "WHERE entry_id = ? AND account_id = ? AND kind = ? AND name = ?",
            (entry_id, account_id, kind, name),
        ).fetchone()
        return JournalCredential(*row[:4], json.loads(row[4]), row[5]) if row else None

    def credentials_pending(self, entry_id: int | None = None) -> list[JournalCredential]:
        sql = "SELECT entry_id, account_id, kind, name, sealed, state FROM credentials WHERE state = ?"
        params: tuple[Any, ...] = (PENDING,)
        if entry_id is not None:
            sql, params = sql + " AND entry_id = ?", (PENDING, entry_id)
        rows = self._exec(sql + " ORDER BY entry_id, created_at", params).fetchall()
        return [JournalCredential(*r[:4], json.loads(r[4]), r[5]) for r in rows]

    def credential_done(self, c: JournalCredential, *, state: str, now: float, error: str = "") -> None:
        """The core stored it (or refused it for good): the sealed value is no longer needed."""
        self._exec(
            "UPDATE credentials SET state = ?, stored_at = ?, last_error = ?, sealed = '{}' "
            "WHERE entry_id = ? AND account_id = ? AND kind = ? AND name = ?",
            (state, now, error, c.entry_id, c.account_id, c.kind, c.name),
        )
