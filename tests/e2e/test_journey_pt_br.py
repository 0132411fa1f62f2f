"""The employee's journey in Brazilian Portuguese (issue 13 item 12, "one journey in pt-BR"):
someone whose language preference is Português (Brasil) logs in from an English browser, sees
the workspace in Portuguese, adds a role to the cart and submits the request."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from directory.models import RoleMembership, User
from requests_workflow.models import Request
from tests.e2e import data
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_employee_requests_a_role_in_portuguese(page):
    world = data.build()
    User.objects.filter(username="karina.dias").update(language="pt-br")
    log_in(page, "karina.dias", data.PASSWORD)  # the login page follows the browser: English
    expect(page.locator("html")).to_have_attribute("lang", "pt-br")
    nav = page.get_by_role("navigation", name="Workspace")
    expect(nav.get_by_role("link", name="Meus acessos")).to_be_visible()
    nav.get_by_role("link", name="Solicitar acesso").click()
    expect(page.get_by_role("heading", name="Solicitar acesso")).to_be_visible()
    page.get_by_role("button", name="Adicionar Sales reps ao carrinho").click()
    page.get_by_role("link", name=re.compile("^Ir para o carrinho")).click()
    expect(page.get_by_role("heading", name="Carrinho")).to_be_visible()
    page.get_by_label("Justificativa").fill("Vou cobrir a equipe de vendas este mês")
    page.get_by_role("button", name="Enviar 1 requisição").click()
    expect(page.get_by_role("heading", name="Minhas requisições")).to_be_visible()
    expect(page.get_by_text("Requisições que você fez, e requisições feitas para você.")).to_be_visible()
    karina = world["users"]["karina.dias"]
    req = Request.objects.get(type="GRANT_ROLE", beneficiary=karina)
    assert req.requester == karina and req.source == "workspace"
    assert req.justification == "Vou cobrir a equipe de vendas este mês"
    assert RoleMembership.objects.filter(user=karina, role__code="sales-reps").exists()
    # the dates on the page are Brazilian ones
    expect(page.locator("#my-requests")).to_contain_text(re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}"))
