"""The caller's ``X-Correlation-ID`` is a log tag: kept when it has a safe shape (1 to 64 of
``A-Z a-z 0-9 . _ -``), replaced by a fresh id otherwise, and echoed in the response."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db
FRESH = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("incoming", ["a", "trace-42", "req.7_x-Y", "x" * 64])
def test_a_safe_correlation_id_is_kept_and_echoed(incoming):
    response = Client().get("/login/", HTTP_X_CORRELATION_ID=incoming)
    assert response["X-Correlation-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["", "x" * 65, "two words", "<script>", "line\nbreak", "quote'd", "request-1;drop", "é"],
)
def test_any_other_correlation_id_is_replaced_by_a_fresh_one(incoming):
    response = Client().get("/login/", HTTP_X_CORRELATION_ID=incoming)
    assert FRESH.fullmatch(response["X-Correlation-ID"])
    assert response["X-Correlation-ID"] != incoming
