"""The language of the pages and e-mails: the user's own preference (a workspace profile setting)
wins over the browser's Accept-Language, which wins over BLAZON_LANGUAGE; pt-BR dates and numbers;
nobody changes another user's preference."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.conf import settings
from django.template import Context, Template
from django.test import Client
from django.utils import translation

from blazon.audit.models import AuditEvent
from blazon.errors import NotAllowed, ValidationFailed
from directory.models import User
from directory.services.users.language import user_language_set
from requests_workflow.models import Request, RequestType
from tests.api.factories import UserFactory
from tests.authn.conftest import start_login
from tests.console.conftest import logged_in, with_password

pytestmark = pytest.mark.django_db

COOKIE = settings.LANGUAGE_COOKIE_NAME


def _home(client: Client, **headers: str) -> str:
    response = client.get("/workspace/", **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_english_by_default():
    page = _home(logged_in(UserFactory(username="ana")))
    assert '<html lang="en">' in page and "My accesses" in page and "Meus acessos" not in page


def test_accept_language_is_used_without_a_preference():
    page = _home(logged_in(UserFactory(username="ana")), HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.9,en;q=0.5")
    assert '<html lang="pt-br">' in page and "Meus acessos" in page and "My accesses" not in page


def test_the_preference_wins_over_accept_language():
    client = logged_in(UserFactory(username="ana", language="pt-br"))
    page = _home(client, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "Meus acessos" in page and "My accesses" not in page
    # and the other way round: an English preference over a Portuguese browser
    client = logged_in(UserFactory(username="bia", language="en"))
    page = _home(client, HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert "My accesses" in page and "Meus acessos" not in page


def test_the_login_page_follows_accept_language():
    page = Client().get("/login/", HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert "Entrar" in page and "Esqueceu sua senha?" in page
    page = Client().get("/login/").content.decode()
    assert "Log in" in page and "Forgot your password?" in page


def test_logging_in_sets_the_language_cookie_from_the_preference():
    with_password(username="alice", language="pt-br")
    client = Client()
    response = start_login(client, "alice")
    assert response.status_code == 302
    assert response.cookies[COOKIE].value == "pt-br"
    # the login page after logging out stays in the user's language (the cookie)
    client.post("/console/logout/")
    assert "Esqueceu sua senha?" in client.get("/login/").content.decode()


def test_saving_the_preference_sets_the_cookie_audits_and_shows_the_next_page_in_it():
    user = UserFactory(username="ana")
    client = logged_in(user)
    assert "Language" in _home(client)  # the profile's setting
    response = client.post("/workspace/language/", {"language": "pt-br", "next": "/workspace/accesses/"})
    assert response.status_code == 302 and response.url == "/workspace/accesses/"
    assert response.cookies[COOKIE].value == "pt-br"
    user.refresh_from_db()
    assert user.language == "pt-br"
    event = AuditEvent.objects.get(action="user.language_changed")
    assert event.subject_user_id == user.pk and event.actor_id == user.pk
    assert event.old_values == {"language": ""} and event.new_values == {"language": "pt-br"}
    page = client.get("/workspace/accesses/").content.decode()
    assert "Seu idioma foi salvo." in page and "Meus acessos" in page
    # back to the browser's language: the cookie goes, Accept-Language decides again
    response = client.post("/workspace/language/", {"language": ""})
    assert response.cookies[COOKIE].value == "" and response.url == "/workspace/"
    client.cookies.pop(COOKIE, None)
    assert "My accesses" in _home(client, HTTP_ACCEPT_LANGUAGE="en")
    assert "Meus acessos" in _home(client, HTTP_ACCEPT_LANGUAGE="pt-BR")


def test_an_unknown_language_changes_nothing():
    user = UserFactory(username="ana")
    client = logged_in(user)
    response = client.post("/workspace/language/", {"language": "xx"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == ""
    assert not AuditEvent.objects.filter(action="user.language_changed").exists()
    with pytest.raises(ValidationFailed):
        user_language_set(actor=user, source="workspace", user=user, language="klingon")


def test_nobody_changes_another_users_preference():
    ana = UserFactory(username="ana")
    admin = UserFactory(username="root", is_superuser=True)
    with pytest.raises(NotAllowed):
        user_language_set(actor=admin, source="console", user=ana, language="pt-br")
    # the page only ever changes the logged-in user's own preference
    client = logged_in(admin)
    client.post("/workspace/language/", {"language": "pt-br", "user": ana.pk, "username": "ana"})
    ana.refresh_from_db()
    assert ana.language == ""
    assert User.objects.get(pk=admin.pk).language == "pt-br"
    # and it is no console or API user field
    assert "language" not in client.get(f"/api/v1/users/{ana.pk}/").content.decode()


def test_the_preference_needs_a_login():
    response = Client().post("/workspace/language/", {"language": "pt-br"})
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_pt_br_dates_and_numbers_on_the_pages():
    user = UserFactory(username="ana", language="pt-br")
    req = Request.objects.create(
        type=RequestType.UPDATE_USER, requester=user, beneficiary=user, justification="Team change"
    )
    Request.objects.filter(pk=req.pk).update(created_at=datetime(2026, 12, 8, 14, 5, tzinfo=UTC))
    page = logged_in(user).get("/workspace/requests/").content.decode()
    assert "08/12/2026 14:05" in page and "2026-12-08" not in page
    # in English the same page keeps the ISO dates
    page = logged_in(user).get("/workspace/requests/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Meus" in page.content.decode()  # the preference still wins
    english = UserFactory(username="bia")
    Request.objects.filter(pk=req.pk).update(requester=english, beneficiary=english)
    assert "2026-12-08 14:05" in logged_in(english).get("/workspace/requests/").content.decode()
    # numbers and dates Django formats itself follow the active language's formats
    context = Context({"d": date(2026, 12, 8), "x": 1234.5})
    template = Template("{{ d }} | {{ x|floatformat:2 }}")
    with translation.override("pt-br"):
        assert template.render(context).lower() == "8 de dezembro de 2026 | 1234,50"
    with translation.override("en"):
        assert template.render(context) == "Dec. 8, 2026 | 1234.50"
