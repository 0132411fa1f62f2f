"""A real SCIM 2.0 service for the tests: scim2-server's WSGI application (the one its
``scim2-server`` command serves: RFC 7643 schemas, User and Group, in-memory storage, static
bearer tokens) on a free localhost port, in a thread.

A thin WSGI layer in front records each call (method, path, query, Authorization header, body)
and can be told to answer the next calls with an error or to be slow, for the fault tests; every
other call reaches the SCIM service unchanged."""

from __future__ import annotations

import json
import threading
import time
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class ScimServer:
    def __init__(self, *, bearer_tokens: tuple[str, ...] = ()) -> None:
        config = load_default_service_provider_config()
        if bearer_tokens:
            config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
        provider = ScimProvider.from_discovery(
            load_default_schemas().values(), load_default_resource_types().values(), config=config
        )
        self.storage = InMemoryStorage()
        self.app = BearerTokenApplication(
            self.storage, provider, service=ScimService(provider), bearer_tokens=bearer_tokens
        )
        self.calls: list[dict[str, Any]] = []
        self.fail: list[tuple[int, dict[str, Any] | None]] = []
        self.delay = 0.0
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, server_class=ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v2"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def _wsgi(self, environ: dict[str, Any], start_response: Any):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = BytesIO(raw)
        self.calls.append(
            {
                "method": environ["REQUEST_METHOD"],
                "path": environ.get("PATH_INFO", ""),
                "query": {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()},
                "auth": environ.get("HTTP_AUTHORIZATION"),
                "body": json.loads(raw) if raw else None,
            }
        )
        if self.fail:
            status, answer = self.fail.pop(0)
            data = json.dumps(answer or {"schemas": [ERROR_SCHEMA], "status": str(status)}).encode()
            start_response(f"{status} Told to fail", [("Content-Type", "application/scim+json")])
            return [data]
        if self.delay:
            time.sleep(self.delay)
        return self.app(environ, start_response)

    def start(self) -> ScimServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what the service holds, read from its storage -------------------------------------

    def users(self) -> dict[str, Any]:
        """userName → the stored User."""
        return {r.user_name: r for r in self.storage.resources if r.meta.resource_type == "User"}

    def groups(self) -> dict[str, Any]:
        """displayName → the stored Group."""
        return {r.display_name: r for r in self.storage.resources if r.meta.resource_type == "Group"}

    def members(self, group: str) -> list[str]:
        return sorted(m.value for m in (self.groups()[group].members or []))
