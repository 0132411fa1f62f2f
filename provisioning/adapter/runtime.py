"""The adapter's loop: report, pull, store, execute, retry (docs/adapters.md, "Running the adapter").

One iteration (``run_once``):

1. send the outcomes not reported yet (the core was down: they wait in the journal);
2. pull a batch (up to ``batch_size`` minus what is still open locally) and store it;
3. execute the entries whose try is due, through the connector, each try counted first:
   success → outcome stored; ``BadRequestError`` → final failure stored; ``TransientError``
   → next try after ``backoff_seconds`` (doubling, at most ``backoff_max_seconds``), unless
   that was the last of ``attempts`` or past ``window_seconds`` since the first try, which
   makes it a final failure; ``NotFoundError`` → a delete / revoke is done already, anything
   else fails (and the link is forgotten);
4. report what was decided (step 1 again, for this batch).

Credentials the adapter creates (``initial_passwords``: a generated password for a
CREATE_ACCOUNT that carries none; secrets a connector says the application issued) are kept
in the journal, sealed to the adapter's own key, before they are used, and sent to the core's
vault (``store_credential``) before the entry's report; the report waits while the core is down.

The core being down never stops execution; the application being down never stops reporting.
No Django here: this is a separate process that speaks HTTP to the core.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from provisioning.adapter.client import CoreClient, CoreRefused, CoreUnavailable, EntryGone
from provisioning.adapter.config import Config
from provisioning.adapter.connectors import (
    AccountData,
    BadRequestError,
    Connector,
    EntitlementData,
    NotFoundError,
    TransientError,
    connector_from_settings,
)
from provisioning.adapter.journal import REFUSED, STORED, Journal, JournalCredential, JournalEntry
from provisioning.adapter.secrets import SecretError, open_own, password_generate, seal_own, secret_open

logger = logging.getLogger("blazon.adapter")

MAX_REASON = 2000
#: Outcomes sent per report call (the core accepts up to 500).
REPORT_BATCH = 200
#: Reported entries are forgotten after a week: the core never hands a finished entry out again.
JOURNAL_KEEP_SECONDS = 7 * 24 * 3600
#: Events that remove something: when the object is gone already, the change is made.
REMOVALS = {"REVOKE_ACCOUNT", "REVOKE_ENTITLEMENT", "REMOVE_ENTITLEMENT"}


class FinalFailure(Exception):
    """This entry cannot be executed (no secret, nothing to act on): report it failed."""


class Runtime:
    def __init__(
        self,
        config: Config,
        *,
        connector: Connector | None = None,
        journal: Journal | None = None,
        core: CoreClient | None = None,
        clock: Callable[[], float] = time.time,
        private_key: bytes | None = None,
    ) -> None:
        self.config = config
        self.connector = connector or connector_from_settings(config.connector)
        self.journal = journal or Journal(config.journal_path, sync=config.journal_sync)
        self.core = core or CoreClient(
            config.core_url,
            config.client_id,
            config.client_secret,
            verify=config.verify_tls,
            timeout=config.http_timeout_seconds,
        )
        self.clock = clock
        self._private_key = private_key or config.private_key()
        if config.initial_passwords and self._private_key is None:
            raise ValueError(
                "runtime.initial_passwords needs core.private_key (the journal keeps them sealed)"
            )
        self.stopping = threading.Event()
        # ``concurrency`` > 1: that many entries of a batch run at once, each worker thread with
        # its own connector (its own LDAP connection…). Safe for order: the core never hands
        # out two open entries of the same object, so the entries held here are independent.
        self._local = threading.local()
        self._worker_connectors: list[Connector] = []
        self._pool: ThreadPoolExecutor | None = None
        if config.concurrency > 1 and connector is None:
            self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="entry")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for connector in [self.connector, *self._worker_connectors]:
            connector.close()
        self.core.close()
        self.journal.close()

    def _connector(self) -> Connector:
        """The connector of the calling thread (the main one when entries run one at a time)."""
        if self._pool is None:
            return self.connector
        connector = getattr(self._local, "connector", None)
        if connector is None:
            connector = connector_from_settings(self.config.connector)
            self._local.connector = connector
            self._worker_connectors.append(connector)
        return connector

    # --- the loop ----------------------------------------------------------------------------

    def run(self, *, iterations: int | None = None) -> None:
        """Loop until ``stop()`` (or for ``iterations`` rounds), sleeping ``poll_seconds``
        between rounds that found nothing to do."""
        done = 0
        while not self.stopping.is_set() and (iterations is None or done < iterations):
            busy = self.run_once()
            done += 1
            if not busy:
                self.stopping.wait(self.config.poll_seconds)

    def stop(self) -> None:
        self.stopping.set()

    def run_once(self) -> bool:
        """One round; True when it did something (so the next round need not wait)."""
        reported = self.report_pending()
        pulled = self.pull()
        executed = self.execute_due()
        reported += self.report_pending()
        self.journal.purge(older_than=self.clock() - JOURNAL_KEEP_SECONDS)
        return bool(pulled or executed or reported)

    # --- core side ---------------------------------------------------------------------------

    def pull(self) -> int:
        room = self.config.batch_size - self.journal.open_count()
        if room <= 0:
            return 0
        started = time.monotonic()
        try:
            batch = self.core.pull(limit=room, lease_seconds=self.config.lease_seconds)
        except CoreUnavailable as exc:
            logger.warning("core unavailable, not pulling: %s", exc)
            return 0
        except (CoreRefused, EntryGone) as exc:
            logger.error("the core refused the pull: %s", exc)
            return 0
        now = self.clock()
        lease_until = now + self.config.lease_seconds
        bodies = batch.get("entries", [])
        for entry in self.journal.receive_many(bodies, lease_until=lease_until, now=now):
            logger.debug("entry %s %s received (%s)", entry.id, entry.event_type, entry.state)
        if bodies:
            logger.info("%d entries received in %.3f s", len(bodies), time.monotonic() - started)
        return len(bodies)

    def report_pending(self) -> int:
        """Send the decided outcomes, up to ``REPORT_BATCH`` per call; True results are
        marked reported in the journal, entries the core says are not ours any more dropped."""
        count = 0
        pending = self.journal.unreported()
        for start in range(0, len(pending), REPORT_BATCH):
            chunk = pending[start : start + REPORT_BATCH]
            started = time.monotonic()
            try:
                for entry in chunk:  # an entry's credentials reach the vault before its report
                    self._settle_credentials(entry)
            except CoreUnavailable as exc:
                logger.warning("core unavailable, credentials and reports kept for later: %s", exc)
                return count
            try:
                results = self.core.report_many(
                    [
                        {"entry": e.id, "outcome": e.outcome or "failure", **(e.outcome_body or {})}
                        for e in chunk
                    ]
                )
            except CoreUnavailable as exc:
                logger.warning("core unavailable, %d reports kept for later: %s", len(pending) - start, exc)
                return count
            except (CoreRefused, EntryGone) as exc:
                # one outcome the core cannot read (or a core without the batch call): one by one,
                # so the others still get through
                logger.warning("batch report refused (%s): reporting one by one", exc)
                sent = self._report_one_by_one(chunk)
                if sent is None:
                    return count
                count += sent
                continue
            now, reported = self.clock(), []
            for entry, result in zip(chunk, results, strict=False):
                if result.get("ok"):
                    reported.append(entry.id)
                    continue
                error = result.get("error") or {}
                why = f"{error.get('code', '')}: {error.get('message', '')}"[:MAX_REASON]
                logger.warning("entry %s is not ours any more, dropped: %s", entry.id, why)
                self.journal.dropped(entry.id, now=now, why=why)
            self.journal.reported_many(reported, now=now)
            logger.info("%d entries reported in %.3f s", len(reported), time.monotonic() - started)
            count += len(reported)
        return count

    def _report_one_by_one(self, entries: list[JournalEntry]) -> int | None:
        """The single-entry calls; None when the core went away meanwhile."""
        count = 0
        for entry in entries:
            try:
                self._settle_credentials(entry)
            except CoreUnavailable as exc:
                logger.warning("core unavailable, credentials of %s kept for later: %s", entry.id, exc)
                break
            try:
                self.core.report(entry.id, entry.outcome or "failure", entry.outcome_body or {})
            except CoreUnavailable as exc:
                logger.warning("core unavailable, %s reports kept for later: %s", entry.id, exc)
                return None
            except EntryGone as exc:
                logger.warning("entry %s is not ours any more, dropped: %s", entry.id, exc)
                self.journal.dropped(entry.id, now=self.clock(), why=str(exc)[:MAX_REASON])
                continue
            except CoreRefused as exc:
                logger.error("the core refused the report of entry %s: %s", entry.id, exc)
                continue
            self.journal.reported(entry.id, now=self.clock())
            logger.info("entry %s reported: %s", entry.id, entry.outcome)
            count += 1
        return count

    def _settle_credentials(self, entry: JournalEntry) -> None:
        """A succeeded entry's kept credentials go to the vault (``CoreUnavailable`` goes up);
        a failed entry's are dropped: a password kept for it was never in effect."""
        if entry.outcome == "success":
            self.store_credentials(entry.id)
            return
        for credential in self.journal.credentials_pending(entry.id):
            self.journal.credential_done(
                credential, state=REFUSED, now=self.clock(), error="the entry failed"
            )

    def store_credentials(self, entry_id: int) -> int:
        """Send the entry's kept credentials to the core's vault. ``CoreUnavailable`` goes up
        (everything stays kept); a refusal is logged (never the value) and not retried."""
        stored = 0
        for credential in self.journal.credentials_pending(entry_id):
            value = self._open_kept(credential)
            body = {"kind": credential.kind, "value": value, "account_id": credential.account_id}
            if credential.name:
                body["name"] = credential.name
            try:
                self.core.store_credential(entry_id, body)
            except (EntryGone, CoreRefused) as exc:
                logger.error(
                    "the core refused the %s of account %s (entry %s): %s",
                    credential.kind,
                    credential.account_id,
                    entry_id,
                    exc,
                )
                self.journal.credential_done(
                    credential, state=REFUSED, now=self.clock(), error=str(exc)[:MAX_REASON]
                )
                continue
            self.journal.credential_done(credential, state=STORED, now=self.clock())
            logger.info(
                "entry %s: %s of account %s stored in the vault",
                entry_id,
                credential.kind,
                credential.account_id,
            )
            stored += 1
        return stored

    def _open_kept(self, credential: JournalCredential) -> str:
        assert self._private_key is not None
        return open_own(
            credential.sealed,
            private_key_pem=self._private_key,
            entry_id=credential.entry_id,
            account_id=credential.account_id,
            kind=credential.kind,
        )

    def _keep_credential(self, entry_id: int, account_id: int, kind: str, value: str, name: str = "") -> str:
        """Keep a created credential (sealed) before it is used; a value kept by an earlier try
        of the entry wins, so every try sets the same one."""
        if self._private_key is None:
            raise FinalFailure("a credential was created but no private_key is configured to keep it")
        sealed = seal_own(
            value, private_key_pem=self._private_key, entry_id=entry_id, account_id=account_id, kind=kind
        )
        kept = self.journal.credential_keep(
            entry_id=entry_id, account_id=account_id, kind=kind, name=name, sealed=sealed, now=self.clock()
        )
        return open_own(
            kept, private_key_pem=self._private_key, entry_id=entry_id, account_id=account_id, kind=kind
        )

    def _initial_password(self, body: dict[str, Any]) -> str | None:
        password = self._secret(body, required=False)
        if password is not None or not self.config.initial_passwords or not body.get("account"):
            return password
        generated = password_generate(self.config.initial_password_length)
        return self._keep_credential(body["id"], body["account"]["id"], "ACCOUNT_PASSWORD", generated)

    def _keep_issued(self, body: dict[str, Any]) -> None:
        issued = self._connector().take_issued_credentials()  # this thread's connector did the work
        if not issued:
            return
        account = body.get("account")
        if not account:
            logger.error(
                "entry %s: the application issued credentials but the entry has no account", body["id"]
            )
            return
        for name, value in issued:
            self._keep_credential(body["id"], account["id"], "APPLICATION_CREDENTIAL", value, name=name)

    def _keep_lease(self, entry: JournalEntry) -> bool:
        """Extend the lease before a try when less than half of it is left. False when the
        core says another adapter holds the entry now (drop it); the core being down is fine."""
        now = self.clock()
        if entry.lease_until is not None and entry.lease_until - now > self.config.lease_seconds / 2:
            return True
        try:
            self.core.lease(entry.id, lease_seconds=self.config.lease_seconds)
        except CoreUnavailable:
            return True
        except (EntryGone, CoreRefused) as exc:
            self.journal.dropped(entry.id, now=now, why=str(exc)[:MAX_REASON])
            logger.warning("entry %s dropped before execution: %s", entry.id, exc)
            return False
        self.journal.set_lease(entry.id, now + self.config.lease_seconds)
        return True

    # --- execution ---------------------------------------------------------------------------

    def execute_due(self) -> int:
        started = time.monotonic()
        count = self._execute_due()
        if count:
            logger.info("%d entries executed in %.3f s", count, time.monotonic() - started)
        return count

    def _execute_due(self) -> int:
        ready = []
        for entry in self.journal.due(now=self.clock(), limit=self.config.batch_size):
            if self.stopping.is_set():
                break
            if self._keep_lease(entry):
                ready.append(entry)
        if self._pool is None or len(ready) <= 1:
            count = 0
            for entry in ready:
                if self.stopping.is_set():
                    break
                self.execute(entry)
                count += 1
            return count
        return sum(self._pool.map(self._execute_unless_stopping, ready))

    def _execute_unless_stopping(self, entry: JournalEntry) -> int:
        if self.stopping.is_set():
            return 0
        self.execute(entry)
        return 1

    def execute(self, entry: JournalEntry) -> None:
        now = self.clock()
        self.journal.try_started(entry.id, now=now)
        tries = entry.tries + 1
        first = entry.first_try_at or now
        try:
            self._connector().take_issued_credentials()  # nothing left over from another entry
            result = self.perform(entry.body)
            self._keep_issued(entry.body)
        except TransientError as exc:
            self._transient(entry, tries=tries, first=first, error=str(exc))
            return
        except (BadRequestError, FinalFailure, SecretError) as exc:
            self._fail(entry, str(exc))
            return
        except NotFoundError as exc:
            self._not_found(entry, str(exc))
            return
        except Exception as exc:  # a bug or an unexpected library error: do not loop on it
            logger.exception("entry %s: unexpected error", entry.id)
            self._fail(entry, f"adapter error: {type(exc).__name__}: {exc}")
            return
        self._succeed(entry, result)

    def _succeed(self, entry: JournalEntry, result: dict[str, Any]) -> None:
        body = {k: v for k, v in result.items() if v not in (None, "")}
        body.setdefault("detail", f"done by the adapter after {entry.tries + 1} tries")
        self.journal.done(entry.id, outcome="success", body=body, now=self.clock())
        logger.debug("entry %s %s succeeded", entry.id, entry.event_type)

    def _fail(self, entry: JournalEntry, reason: str) -> None:
        reason = reason[:MAX_REASON] or "failed"
        self.journal.done(
            entry.id,
            outcome="failure",
            body={"reason": reason, "final": True},
            now=self.clock(),
            error=reason,
        )
        logger.warning("entry %s %s failed: %s", entry.id, entry.event_type, reason)

    def _transient(self, entry: JournalEntry, *, tries: int, first: float, error: str) -> None:
        cfg, now = self.config, self.clock()
        delay = min(cfg.backoff_seconds * 2 ** (tries - 1), cfg.backoff_max_seconds)
        if tries >= cfg.attempts or now + delay > first + cfg.window_seconds:
            self._fail(entry, f"{error} (gave up after {tries} tries in {now - first:.0f} s)")
            return
        self.journal.retry_later(entry.id, at=now + delay, error=error[:MAX_REASON])
        logger.info("entry %s: %s; try %d of %d in %.1f s", entry.id, error, tries, cfg.attempts, delay)

    def _not_found(self, entry: JournalEntry, error: str) -> None:
        if entry.event_type in REMOVALS:
            self._forget_links(entry)
            self._succeed(entry, {"detail": f"already gone in the application ({error})"})
            return
        self._forget_links(entry)
        self._fail(entry, f"{error}: the object is gone from the application")

    def _forget_links(self, entry: JournalEntry) -> None:
        body = entry.body
        if entry.event_type in ("REVOKE_ACCOUNT", "CREATE_ACCOUNT", "UPDATE_ACCOUNT") and body.get("account"):
            self.journal.link_forget("account", body["account"]["id"])
        if entry.event_type in ("REMOVE_ENTITLEMENT", "UPDATE_ENTITLEMENT") and body.get("entitlement"):
            self.journal.link_forget("entitlement", body["entitlement"]["id"])

    # --- one entry → one connector call ------------------------------------------------------

    def _account_id(self, body: dict[str, Any]) -> tuple[int, str]:
        account = body.get("account")
        if not account:
            raise FinalFailure(f"{body['event_type']} without an account")
        remote = (
            self.journal.link("account", account["id"])
            or account.get("native_identifier")
            or self._connector().account_remote_id(account["identifier"])
        )
        return account["id"], remote

    def _entitlement_id(self, body: dict[str, Any]) -> tuple[int, str]:
        ent = body.get("entitlement")
        if not ent:
            raise FinalFailure(f"{body['event_type']} without an entitlement")
        remote = (
            self.journal.link("entitlement", ent["id"])
            or ent.get("native_identifier")
            or self._connector().entitlement_remote_id(ent["identifier"])
        )
        return ent["id"], remote

    def _secret(self, body: dict[str, Any], *, required: bool) -> str | None:
        if body.get("secret_error"):
            raise FinalFailure(f"the core could not deliver the secret: {body['secret_error']}")
        sealed = body.get("secret")
        if not sealed:
            if required:
                raise FinalFailure(f"{body['event_type']} without a secret")
            return None
        if self._private_key is None:
            raise FinalFailure("a secret arrived but no private_key is configured to open it")
        return secret_open(sealed, private_key_pem=self._private_key, entry_id=body["id"])

    @staticmethod
    def _account_data(body: dict[str, Any]) -> AccountData:
        account, user = body.get("account") or {}, body.get("user") or {}
        attributes = {
            **(account.get("attributes") or {}),
            **(body.get("payload", {}).get("attributes") or {}),
        }
        return AccountData(
            identifier=account.get("identifier") or user.get("username", ""),
            username=user.get("username", ""),
            email=user.get("email", ""),
            first_name=user.get("first_name", ""),
            last_name=user.get("last_name", ""),
            display_name=user.get("display_name", ""),
            attributes=attributes,
        )

    @staticmethod
    def _entitlement_data(body: dict[str, Any]) -> EntitlementData:
        ent, payload = body.get("entitlement") or {}, body.get("payload") or {}
        return EntitlementData(
            identifier=ent.get("identifier") or payload.get("entitlement", ""),
            name=payload.get("name") or ent.get("name", ""),
            attributes=ent.get("attributes") or {},
        )

    def perform(self, body: dict[str, Any]) -> dict[str, Any]:
        """Make the entry's change through the connector; what to report on success."""
        event, c = body["event_type"], self._connector()
        if event == "CREATE_ACCOUNT":
            local, _ = self._account_id(body)
            remote = c.create_account(self._account_data(body), password=self._initial_password(body))
            return self._account_linked(local, remote)
        if event == "UPDATE_ACCOUNT":
            local, remote = self._account_id(body)
            return self._account_linked(local, c.update_account(remote, self._account_data(body)))
        if event == "ACTIVATE_ACCOUNT":
            local, remote = self._account_id(body)
            return self._account_linked(local, c.enable_account(remote))
        if event == "INACTIVATE_ACCOUNT":
            local, remote = self._account_id(body)
            return self._account_linked(local, c.disable_account(remote))
        if event == "REVOKE_ACCOUNT":
            local, remote = self._account_id(body)
            c.delete_account(remote)
            self.journal.link_forget("account", local)
            return {"native_identifier": remote, "detail": "account deleted"}
        if event == "CHANGE_PASSWORD":
            _, remote = self._account_id(body)
            c.set_password(remote, self._secret(body, required=True) or "")
            return {"native_identifier": remote, "detail": "password set"}
        if event in ("GRANT_ENTITLEMENT", "REVOKE_ENTITLEMENT"):
            _, account = self._account_id(body)
            _, group = self._entitlement_id(body)
            (c.grant if event == "GRANT_ENTITLEMENT" else c.revoke)(account, group)
            return {"detail": f"{'added to' if event == 'GRANT_ENTITLEMENT' else 'removed from'} {group}"}
        if event == "CREATE_ENTITLEMENT":
            local, _ = self._entitlement_id(body)
            remote = c.create_entitlement(self._entitlement_data(body))
            self.journal.link_set("entitlement", local, remote)
            return {"native_identifier": remote}
        if event == "UPDATE_ENTITLEMENT":
            local, remote = self._entitlement_id(body)
            remote = c.update_entitlement(remote, self._entitlement_data(body))
            self.journal.link_set("entitlement", local, remote)
            return {"native_identifier": remote}
        if event == "REMOVE_ENTITLEMENT":
            local, remote = self._entitlement_id(body)
            c.delete_entitlement(remote)
            self.journal.link_forget("entitlement", local)
            return {"native_identifier": remote, "detail": "entitlement deleted"}
        raise FinalFailure(f"this adapter does not handle {event}")

    def _account_linked(self, local: int, remote: str) -> dict[str, Any]:
        self.journal.link_set("account", local, remote)
        return {"native_identifier": remote}
