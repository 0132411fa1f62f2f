"""HTTP client of the core's adapter API (docs/adapters.md): token, pull, lease, reports.

``CoreUnavailable``: no answer, a 5xx or a 429 — the core is down or busy; try again later.
``EntryGone``: the entry is not ours any more (404, 409) — drop it locally.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

logger = logging.getLogger("blazon.adapter.client")


class CoreUnavailable(Exception):
    """The core did not answer usefully; nothing is lost, try again later."""


class CoreRefused(Exception):
    """The core refused the call for a reason retrying will not fix (400, 403: configuration)."""


class EntryGone(Exception):
    """The entry is not leased to us any more (another replica holds it, or it is finished)."""


class CoreClient:
    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        verify: bool | str = True,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify
        self.session.headers["User-Agent"] = "blazon-adapter/1"
        self._token: str | None = None
        self._token_until = 0.0

    def close(self) -> None:
        self.session.close()

    def _fetch_token(self) -> str:
        try:
            response = self.session.post(
                f"{self.url}/o/token/",
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self._secret),
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise CoreUnavailable(f"token: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise CoreUnavailable(f"token: HTTP {response.status_code}")
        if response.status_code != 200:
            raise CoreRefused(f"token refused (HTTP {response.status_code}): check client_id and secret")
        body = response.json()
        self._token = body["access_token"]
        self._token_until = time.monotonic() + max(int(body.get("expires_in", 3600)) - 30, 10)
        return self._token

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for again in (True, False):
            token = (
                self._token if self._token and time.monotonic() < self._token_until else self._fetch_token()
            )
            try:
                response = self.session.post(
                    f"{self.url}{path}",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                raise CoreUnavailable(f"{path}: {exc}") from exc
            if response.status_code == 401 and again:  # expired or revoked token: get a new one
                self._token = None
                continue
            if response.status_code >= 500 or response.status_code == 429:
                raise CoreUnavailable(f"{path}: HTTP {response.status_code}")
            if response.status_code in (404, 409):
                raise EntryGone(_message(response))
            if response.status_code != 200:
                raise CoreRefused(f"{path}: HTTP {response.status_code}: {_message(response)}")
            return response.json()
        raise CoreRefused(f"{path}: the core refuses our token (HTTP 401)")

    def pull(self, *, limit: int, lease_seconds: int) -> dict[str, Any]:
        return self._post("/api/v1/adapter/pull/", {"limit": limit, "lease_seconds": lease_seconds})

    def lease(self, entry_id: int, *, lease_seconds: int) -> dict[str, Any]:
        return self._post(f"/api/v1/adapter/entries/{entry_id}/lease/", {"lease_seconds": lease_seconds})

    def report(self, entry_id: int, outcome: str, body: dict[str, Any]) -> dict[str, Any]:
        assert outcome in ("success", "failure")
        return self._post(f"/api/v1/adapter/entries/{entry_id}/{outcome}/", body)

    def store_credential(self, entry_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Put a credential the adapter created into the core's vault (idempotent)."""
        return self._post(f"/api/v1/adapter/entries/{entry_id}/credentials/", body)

    def report_many(self, reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several outcomes in one call (``{"entry": id, "outcome": …, …}`` each); one result
        per report, in order: ``{"entry", "ok", "state", "error": {"code", "message"}}``."""
        return self._post("/api/v1/adapter/reports/", {"reports": reports})["results"]


def _message(response: requests.Response) -> str:
    try:
        error = response.json().get("error", {})
        return f"{error.get('code', '')}: {error.get('message', '')}"
    except ValueError:
        return f"HTTP {response.status_code}"
