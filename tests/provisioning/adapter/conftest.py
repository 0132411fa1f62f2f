"""Fixtures of the adapter-runtime tests: a real slapd per test (fails under CI when slapd is
missing, skips elsewhere)."""

from __future__ import annotations

import pytest

from tests.conftest import require
from tests.provisioning.adapter.slapd import ADMIN_PASSWORD, Slapd, slapd_binary


@pytest.fixture
def slapd(tmp_path, monkeypatch):
    binary = slapd_binary()
    require(binary is not None, "OpenLDAP slapd (apt-get install slapd)")
    server = Slapd(tmp_path / "slapd", binary)
    server.start()
    server.seed()
    monkeypatch.setenv("TEST_LDAP_BIND_PASSWORD", ADMIN_PASSWORD)
    yield server
    server.stop()
