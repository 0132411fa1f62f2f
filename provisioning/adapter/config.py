"""The adapter's configuration file (TOML), read once at start.

```toml
[core]
url = "https://blazon.example.com"
client_id = "q1Xw…"
client_secret_env = "BLAZON_ADAPTER_SECRET"   # or client_secret = "…" (not recommended)
private_key = "/etc/blazon-adapter/adapter.key.pem"
verify_tls = true                             # or a CA bundle path

[runtime]
journal = "/var/lib/blazon-adapter/journal.sqlite3"
journal_sync = "normal" # "full": also safe from power loss (a disk flush per journal write)
poll_seconds = 5
batch_size = 50
concurrency = 1         # entries of a batch executed at once (one connection each)
lease_seconds = 300
attempts = 5            # tries per entry before the failure is reported as final
backoff_seconds = 10    # first delay between tries, doubled each time…
backoff_max_seconds = 600
window_seconds = 3600   # …and no new try later than this after the first one
initial_passwords = false  # true: a CREATE_ACCOUNT without a password gets a generated one,
                           # stored in Blazon's vault through the API (needs private_key)

[connector]
type = "ldap"           # or "csv", "sql", "rest", "scim"; the rest is the connector's own settings
```
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The configuration file is missing something or holds a wrong value."""


@dataclass
class Config:
    core_url: str
    client_id: str
    client_secret: str
    private_key_path: str | None
    journal_path: str
    journal_sync: str = "normal"
    verify_tls: bool | str = True
    poll_seconds: float = 5.0
    batch_size: int = 50
    concurrency: int = 1
    lease_seconds: int = 300
    attempts: int = 5
    backoff_seconds: float = 10.0
    backoff_max_seconds: float = 600.0
    window_seconds: float = 3600.0
    http_timeout_seconds: float = 30.0
    initial_passwords: bool = False
    initial_password_length: int = 24
    connector: dict[str, Any] = field(default_factory=dict)

    def private_key(self) -> bytes | None:
        if not self.private_key_path:
            return None
        return Path(self.private_key_path).read_bytes()


def _secret(table: dict[str, Any], name: str, where: str) -> str:
    env = table.get(f"{name}_env")
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{where}.{name}_env names {env}, which is not set")
        return value
    value = table.get(name)
    if not value:
        raise ConfigError(f"{where}: set {name}_env (an environment variable's name) or {name}")
    return str(value)


def _number(table: dict[str, Any], name: str, default: float, *, minimum: float, kind: type = float) -> Any:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"runtime.{name} must be a number of at least {minimum}, not {value!r}")
    return kind(value)


def config_load(path: str | os.PathLike[str]) -> Config:
    """Read and check the configuration file; ``ConfigError`` says what is wrong."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Config:
    core, runtime, connector = data.get("core", {}), data.get("runtime", {}), data.get("connector", {})
    if not core.get("url") or not core.get("client_id"):
        raise ConfigError("[core] needs url and client_id")
    if not connector.get("type"):
        raise ConfigError("[connector] needs a type (ldap, csv, sql, rest, scim)")
    if not runtime.get("journal"):
        raise ConfigError("[runtime] needs journal (the path of the local SQLite file)")
    journal_sync = runtime.get("journal_sync", "normal")
    if journal_sync not in ("normal", "full"):
        raise ConfigError(f'runtime.journal_sync must be "normal" or "full", not {journal_sync!r}')
    return Config(
        core_url=str(core["url"]).rstrip("/"),
        client_id=str(core["client_id"]),
        client_secret=_secret(core, "client_secret", "core"),
        private_key_path=core.get("private_key"),
        verify_tls=core.get("verify_tls", True),
        journal_path=str(runtime["journal"]),
        journal_sync=journal_sync,
        poll_seconds=_number(runtime, "poll_seconds", 5, minimum=0),
        batch_size=_number(runtime, "batch_size", 50, minimum=1, kind=int),
        concurrency=_number(runtime, "concurrency", 1, minimum=1, kind=int),
        # the core refuses less than its BLAZON_ADAPTER_MIN_LEASE_SECONDS (10 s by default)
        lease_seconds=_number(runtime, "lease_seconds", 300, minimum=1, kind=int),
        attempts=_number(runtime, "attempts", 5, minimum=1, kind=int),
        backoff_seconds=_number(runtime, "backoff_seconds", 10, minimum=0),
        backoff_max_seconds=_number(runtime, "backoff_max_seconds", 600, minimum=0),
        window_seconds=_number(runtime, "window_seconds", 3600, minimum=0),
        http_timeout_seconds=_number(core, "timeout_seconds", 30, minimum=1),
        connector=dict(connector),
        initial_passwords=_flag(runtime, "initial_passwords"),
        initial_password_length=_number(runtime, "initial_password_length", 24, minimum=12, kind=int),
    )


def _flag(table: dict[str, Any], name: str) -> bool:
    value = table.get(name, False)
    if not isinstance(value, bool):
        raise ConfigError(f"runtime.{name} must be true or false, not {value!r}")
    return value
