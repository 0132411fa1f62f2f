"""CSV exports speak the reader's language too: the header row of the console's exports is in
Brazilian Portuguese for a pt-BR administrator, and stays the columns' keys in English (what
scripts have always read)."""

from __future__ import annotations

import pytest

from tests.console.conftest import logged_in
from tests.e2e import data
from tests.i18n.english import english_lines

pytestmark = pytest.mark.django_db

EXPORTS = [
    "/console/users/",
    "/console/accounts/",
    "/console/sod/violations/",
    "/console/sod/exceptions/",
    "/console/privileged/groups/",
    "/console/privileged/requests/",
    "/console/reconciliation/profiles/",
    "/console/siem/destinations/",
]


def _header(client, url: str) -> str:
    response = client.get(url + "?export=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv"), url
    return b"".join(response.streaming_content).decode().splitlines()[0]


def test_export_headers_follow_the_language():
    world = data.build()
    english = logged_in(world["admin"])
    portuguese = logged_in(world["admin"], HTTP_ACCEPT_LANGUAGE="pt-BR")
    left = {}
    for url in EXPORTS:
        en, pt = _header(english, url), _header(portuguese, url)
        assert en != pt, f"{url}: the header is the same in both languages: {en}"
        found = english_lines(pt.replace(",", "\n"))
        if found:
            left[url] = found
    assert left == {}, left
    assert _header(english, "/console/users/").startswith("username,first_name,last_name,email")
    assert _header(portuguese, "/console/users/").startswith("Nome de usuário,")
