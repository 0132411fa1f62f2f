"""The governance apps' own texts (certification, SoD, reconciliation, privileged access, API
errors) in Brazilian Portuguese when the browser asks for it, and unchanged in English."""

from __future__ import annotations

import pytest

from directory.models import ConsoleRole
from tests.api.factories import UserFactory
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user():
    return UserFactory(username="console-admin", console_role=ConsoleRole.ADMINISTRATOR)


@pytest.mark.parametrize(
    ("url", "english", "portuguese"),
    [
        ("/console/sod/rules/new/", "Side C (optional)", "Lado C (opcional)"),
        (
            "/console/certification/policies/new/",
            "Certify role memberships",
            "Certificar associações a papéis",
        ),
        ("/console/reconciliation/profiles/new/", "Safety share", "Limite de segurança"),
        ("/console/privileged/rotation-policies/new/", "When a shared account", "Quando um membro da conta"),
    ],
)
def test_form_labels_follow_the_browser_language(admin_user, url, english, portuguese):
    page = logged_in(admin_user, HTTP_ACCEPT_LANGUAGE="pt-BR").get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert portuguese in text and english not in text
    text = logged_in(admin_user).get(url).content.decode()
    assert english in text and portuguese not in text


def test_a_refusal_is_told_in_the_page_language(admin_user):
    client = logged_in(admin_user, HTTP_ACCEPT_LANGUAGE="pt-BR")
    page = client.post(
        "/console/sod/rules/new/",
        {"code": "x", "name": "X", "severity": "HIGH", "side_a": "role:nope", "side_b": "role:none"},
    )
    assert "nenhum papel com o código &#x27;nope&#x27;" in page.content.decode()


def test_api_errors_follow_accept_language(admin_user):
    client = logged_in(admin_user, HTTP_ACCEPT_LANGUAGE="pt-BR")
    body = client.get("/api/v1/no-such-thing/").json()
    assert body["error"]["message"] == "Nenhum endpoint da API em /api/v1/no-such-thing/."
    body = logged_in(admin_user).get("/api/v1/no-such-thing/").json()
    assert body["error"]["message"] == "No API endpoint at /api/v1/no-such-thing/."
