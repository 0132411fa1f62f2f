"""The in-process runner: Blazon's embedded default executes the AUTOMATIC entries of resources
that have an in-process adapter (``InProcessAdapter``) itself, with the same ``Runtime`` and
connectors as the adapter process (docs/adapters.md, "In-process runner").

Only the transport differs: ``LocalCoreClient`` has the interface of
``provisioning.adapter.client.CoreClient`` but calls the adapter services directly — the same
input serializers, the same scope (the adapter's own ``AdapterClient``), the same leases and
reports — and maps their answers to the client's exceptions as HTTP would (404/409 →
``EntryGone``, other refusals → ``CoreRefused``, a database error → ``CoreUnavailable``).
Each adapter keeps its SQLite journal under ``<var>/adapters/``.

``Runner`` drives one ``Runtime`` per enabled adapter, picking up configuration changes; the
``run_adapters`` management command loops it (``bin/run`` starts it next to the web server).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, close_old_connections, connection
from rest_framework import serializers as drf

from blazon.errors import DomainError
from provisioning.adapter.client import CoreRefused, CoreUnavailable, EntryGone
from provisioning.adapter.config import Config
from provisioning.adapter.connectors import connector_from_settings
from provisioning.adapter.runtime import Runtime
from provisioning.api import serializers as s
from provisioning.api.views import _delivered, _report_results
from provisioning.models import AdapterClient, InProcessAdapter
from provisioning.services.adapter import (
    entries_pull,
    entry_lease_extend,
    entry_report_failure,
    entry_report_success,
)
from provisioning.services.credentials import adapter_credential_store
from provisioning.services.inprocess import (  # inprocess_dir: re-exported, it was defined here
    inprocess_connector_settings,
    inprocess_dir,
    inprocess_vault_values,
)
from provisioning.services.reports import entries_report_many

logger = logging.getLogger("blazon.adapter.inprocess")


def _release_connection() -> None:
    """Between rounds, give the database connection back like a request does (not inside a
    transaction: the tests run the runner in one)."""
    if not connection.in_atomic_block:
        close_old_connections()


def _plain(data: Any) -> Any:
    """What the HTTP client would have parsed: JSON types only (dates as text)."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


class LocalCoreClient:
    """``CoreClient`` without HTTP: the adapter services, called as the adapter's client."""

    def __init__(self, client_pk: int) -> None:
        self.client_pk = client_pk

    def close(self) -> None:
        _release_connection()

    def _client(self) -> AdapterClient:
        client = AdapterClient.objects.filter(pk=self.client_pk, active=True).first()
        if client is None:
            raise CoreRefused("the in-process adapter's client is gone or revoked")
        return client

    def _call(self, serializer_class: type[drf.Serializer], body: dict[str, Any], action: Any) -> Any:
        data = serializer_class(data=body)
        try:
            if not data.is_valid():
                raise CoreRefused(f"invalid: {json.dumps(data.errors, default=str)}")
            return action(self._client(), data.validated_data)
        except DomainError as exc:
            if exc.status in (404, 409):
                raise EntryGone(f"{exc.code}: {exc.message}") from exc
            raise CoreRefused(f"{exc.code}: {exc.message}") from exc
        except DatabaseError as exc:  # locked (SQLite) or unreachable: like a 5xx, try later
            _release_connection()
            raise CoreUnavailable(f"database: {exc}") from exc

    def pull(self, *, limit: int, lease_seconds: int) -> dict[str, Any]:
        def act(client: AdapterClient, data: dict[str, Any]) -> dict[str, Any]:
            batch = entries_pull(client=client, limit=data["limit"], lease_seconds=data.get("lease_seconds"))
            out = {"lease_until": batch.lease_until, "entries": [_delivered(e, batch) for e in batch.entries]}
            return _plain(s.PullOutputSerializer(out).data)

        return self._call(s.PullInputSerializer, {"limit": limit, "lease_seconds": lease_seconds}, act)

    def lease(self, entry_id: int, *, lease_seconds: int) -> dict[str, Any]:
        def act(client: AdapterClient, data: dict[str, Any]) -> dict[str, Any]:
            entry = entry_lease_extend(
                client=client, entry_id=entry_id, lease_seconds=data.get("lease_seconds")
            )
            return _plain(s.EntryStateSerializer(entry).data)

        return self._call(s.LeaseInputSerializer, {"lease_seconds": lease_seconds}, act)

    def report(self, entry_id: int, outcome: str, body: dict[str, Any]) -> dict[str, Any]:
        service = entry_report_success if outcome == "success" else entry_report_failure
        serializer = s.SuccessInputSerializer if outcome == "success" else s.FailureInputSerializer

        def act(client: AdapterClient, data: dict[str, Any]) -> dict[str, Any]:
            return _plain(s.EntryStateSerializer(service(client=client, entry_id=entry_id, **data)).data)

        return self._call(serializer, body, act)

    def report_many(self, reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def act(client: AdapterClient, data: dict[str, Any]) -> list[dict[str, Any]]:
            results = entries_report_many(client=client, reports=data["reports"])
            return _plain(_report_results(results))["results"]

        return self._call(s.ReportsInputSerializer, {"reports": reports}, act)

    def store_credential(self, entry_id: int, body: dict[str, Any]) -> dict[str, Any]:
        def act(client: AdapterClient, data: dict[str, Any]) -> dict[str, Any]:
            credential, stored = adapter_credential_store(client=client, entry_id=entry_id, **data)
            return {"secret_id": str(credential.secret_id), "stored": stored}

        return self._call(s.CredentialInputSerializer, body, act)


def runtime_for(adapter: InProcessAdapter) -> Runtime:
    """The ``Runtime`` of one in-process adapter (its secrets read from the vault once)."""

    stored = inprocess_vault_values(adapter)
    connector = inprocess_connector_settings(adapter, stored["settings"])
    config = Config(
        core_url="in-process",
        client_id=adapter.client.name,
        client_secret="",  # noqa: S106 - no token: the services are called directly
        private_key_path=None,
        journal_path=str(
            inprocess_dir() / "adapters" / f"inprocess-{adapter.pk}-{adapter.connector_type}.sqlite3"
        ),
        poll_seconds=0,
        initial_passwords=adapter.initial_passwords,
        connector=connector,
    )
    return Runtime(
        config,
        connector=connector_from_settings(connector),
        core=LocalCoreClient(adapter.client_id),  # type: ignore[arg-type]  # same interface
        private_key=stored["private_key"].encode() or None,
    )


class Runner:
    """One ``Runtime`` per enabled in-process adapter; rebuilt when its configuration changes."""

    def __init__(self, *, poll_seconds: float = 2.0) -> None:
        self.poll_seconds = poll_seconds
        self.runtimes: dict[int, tuple[Any, Runtime]] = {}
        self.broken: dict[int, Any] = {}  # adapters that failed to start, until changed again
        self.stopping = threading.Event()

    def refresh(self) -> None:
        adapters = {
            a.pk: a
            for a in InProcessAdapter.objects.filter(enabled=True, client__active=True).select_related(
                "client", "secret", "resource"
            )
        }
        for pk in [
            pk
            for pk, (stamp, _) in self.runtimes.items()
            if adapters.get(pk) is None or adapters[pk].updated_at != stamp
        ]:
            self.runtimes.pop(pk)[1].close()
        for pk, adapter in adapters.items():
            if pk in self.runtimes or self.broken.get(pk) == adapter.updated_at:
                continue
            try:
                self.runtimes[pk] = (adapter.updated_at, runtime_for(adapter))
            except Exception:  # a broken configuration must not stop the other resources
                logger.exception("in-process adapter of %s cannot start", adapter.resource.code)
                self.broken[pk] = adapter.updated_at
            else:
                logger.info(
                    "in-process %s adapter of %s started", adapter.connector_type, adapter.resource.code
                )

    def run_once(self) -> bool:
        """One round of every adapter; True when any did something."""
        try:
            self.refresh()
        except DatabaseError as exc:
            logger.warning("cannot read the in-process adapters: %s", exc)
            _release_connection()
            return False
        busy = False
        for _, runtime in list(self.runtimes.values()):
            if self.stopping.is_set():
                break
            try:
                busy = runtime.run_once() or busy
            except Exception:  # one adapter's bug must not stop the others; next round retries
                logger.exception("in-process adapter %s: round failed", runtime.config.client_id)
        _release_connection()
        return busy

    def run(self, *, iterations: int | None = None) -> None:
        done = 0
        while not self.stopping.is_set() and (iterations is None or done < iterations):
            busy = self.run_once()
            done += 1
            if not busy:
                self.stopping.wait(self.poll_seconds)

    def stop(self) -> None:
        self.stopping.set()
        for _, runtime in self.runtimes.values():
            runtime.stop()

    def close(self) -> None:
        for _, runtime in self.runtimes.values():
            runtime.close()
        self.runtimes.clear()
