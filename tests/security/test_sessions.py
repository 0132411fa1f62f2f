"""Web sessions on both stores (database, Redis): the index, My sessions, log out everywhere,
absolute and idle timeouts, fingerprint and network binding, last-seen once a minute, and the
sessions of a user who loses the right to log in."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from blazon.audit.models import AuditEvent
from directory.models import ConsoleRole
from directory.services import lifecycle
from security.models import SecuritySettings, UserSession
from security.services.sessions import SESSION_META
from tests.console.conftest import PASSWORD, with_password

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
HOME = "/workspace/"


def browser(username: str, user_agent: str = FIREFOX, ip: str = "127.0.0.1") -> Client:
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    response = client.post(reverse("console:login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def is_logged_in(client: Client) -> bool:
    response = client.get(HOME)
    return response.status_code == 200


def sent_to_login(client: Client) -> bool:
    response = client.get(HOME)
    return response.status_code == 302 and response.url.startswith(reverse("authn:login"))


def shift(client: Client, **delta: float) -> None:
    """Move the session's recorded times into the past (``seen=-3600``)."""
    session = client.session
    meta = dict(session[SESSION_META])
    for key, value in delta.items():
        meta[key] = meta[key] + value
    session[SESSION_META] = meta
    session.save()


def store_has(key: str) -> bool:
    return import_module(settings.SESSION_ENGINE).SessionStore().exists(key)


@pytest.fixture
def worker(db):
    return with_password(username="worker")


def test_a_login_is_indexed_and_my_sessions_marks_this_one(store, worker):
    laptop, phone = browser("worker", FIREFOX), browser("worker", CHROME, ip="192.0.2.9")
    page = laptop.get(reverse("workspace_security:sessions"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Firefox on Linux" in html and "Chrome on Windows" in html and "192.0.2.9" in html
    assert html.count("This session") == 1
    rows = UserSession.objects.filter(user=worker)
    assert rows.count() == 2
    assert all(store_has(k) for k in rows.values_list("session_key", flat=True))
    assert is_logged_in(phone)


def test_ending_one_session_sends_that_browser_to_the_login(store, worker):
    laptop, phone = browser("worker", FIREFOX), browser("worker", CHROME)
    other = UserSession.objects.get(user=worker, user_agent=CHROME)
    response = laptop.post(reverse("workspace_security:sessions_end"), {"session": other.pk})
    assert response.status_code == 302
    assert sent_to_login(phone)
    assert is_logged_in(laptop)
    assert not store_has(other.session_key)
    event = AuditEvent.objects.get(action="session.ended")
    assert event.new_values == {"reason": "ended by the user", "sessions": 1}
    assert event.subject_user_id == worker.pk and event.source == "workspace"


def test_log_out_other_sessions_keeps_this_one(store, worker):
    laptop, phone, tablet = browser("worker"), browser("worker", CHROME), browser("worker", CHROME)
    laptop.post(reverse("workspace_security:sessions_end"), {"scope": "others"})
    assert is_logged_in(laptop)
    assert sent_to_login(phone) and sent_to_login(tablet)
    assert UserSession.objects.filter(user=worker).count() == 1


def test_log_out_everywhere_ends_this_one_too(store, worker):
    laptop, phone = browser("worker"), browser("worker", CHROME)
    response = laptop.post(reverse("workspace_security:sessions_end"), {"scope": "all"})
    assert response.url == reverse("authn:login")
    assert sent_to_login(laptop) and sent_to_login(phone)
    assert not UserSession.objects.filter(user=worker).exists()


def test_i_cannot_end_someone_elses_session(store, worker):
    with_password(username="neighbour")
    neighbour = browser("neighbour", CHROME)
    theirs = UserSession.objects.get(user__username="neighbour")
    mine = browser("worker")
    response = mine.post(reverse("workspace_security:sessions_end"), {"session": theirs.pk}, follow=True)
    assert "That session is no longer open." in response.content.decode()
    assert is_logged_in(neighbour)
    assert (
        mine.post(reverse("workspace_security:sessions_end"), {"session": "not-a-number"}).status_code == 302
    )
    assert not AuditEvent.objects.filter(action="session.ended").exists()


def test_my_sessions_needs_a_login_and_csrf(store, worker):
    assert Client().get(reverse("workspace_security:sessions")).status_code == 302
    client = Client(enforce_csrf_checks=True)
    client.force_login(worker)
    assert client.post(reverse("workspace_security:sessions_end"), {"scope": "all"}).status_code == 403
    assert is_logged_in(client)


def test_idle_timeout_ends_the_session(store, worker):
    client = browser("worker")
    shift(client, seen=-(settings.BLAZON_SESSION_IDLE_MINUTES * 60 + 1))
    key = client.session.session_key
    assert sent_to_login(client)
    assert not store_has(key)
    assert AuditEvent.objects.get(action="session.ended").new_values["reason"] == "idle_timeout"


def test_absolute_timeout_ends_even_an_active_session(store, worker):
    client = browser("worker")
    shift(client, started=-(settings.BLAZON_SESSION_ABSOLUTE_HOURS * 3600 + 1))
    assert sent_to_login(client)
    assert AuditEvent.objects.get(action="session.ended").new_values["reason"] == "absolute_timeout"


def test_a_stolen_cookie_used_from_another_browser_ends_the_session(store, worker):
    client = browser("worker", FIREFOX)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    thief = Client(HTTP_USER_AGENT=CHROME)
    thief.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert sent_to_login(thief)
    assert sent_to_login(client)  # the owner re-authenticates too: the session is gone
    assert AuditEvent.objects.get(action="session.ended").new_values["reason"] == "fingerprint_mismatch"


def test_sessions_bound_to_the_client_network_when_configured(store, worker):
    SecuritySettings.objects.update_or_create(pk=1, defaults={"session_bind_ip_prefix": 24})
    client = browser("worker", ip="10.20.30.5")
    assert client.get(HOME, REMOTE_ADDR="10.20.30.77").status_code == 200  # same /24
    assert client.get(HOME, REMOTE_ADDR="10.20.31.5").status_code == 302
    assert AuditEvent.objects.get(action="session.ended").new_values["reason"] == "ip_changed"


def test_last_seen_is_written_at_most_once_a_minute(store, worker):
    client = browser("worker")
    row = UserSession.objects.get(user=worker)
    for _ in range(3):
        assert is_logged_in(client)
    assert UserSession.objects.get(pk=row.pk).last_seen == row.last_seen
    shift(client, seen=-61)
    assert is_logged_in(client)
    assert UserSession.objects.get(pk=row.pk).last_seen > row.last_seen


def test_console_limits_override_the_environment_at_the_next_touch(store, worker):
    client = browser("worker")
    SecuritySettings.objects.update_or_create(pk=1, defaults={"session_idle_minutes": 5})
    shift(client, seen=-61)
    assert is_logged_in(client)
    assert client.session[SESSION_META]["idle"] == 300
    shift(client, seen=-301)
    assert sent_to_login(client)


@pytest.mark.parametrize(
    ("service", "reason"),
    [
        (lifecycle.user_inactivate, "user inactivated"),
        (lifecycle.user_revoke, "user revoked"),
        (lifecycle.user_lock, "login locked"),
        (lifecycle.user_remove, "user revoked"),
    ],
)
def test_losing_the_right_to_log_in_ends_every_session(store, worker, admin_user, service, reason):
    laptop, phone = browser("worker"), browser("worker", CHROME)
    service(actor=admin_user, source="console", user=worker)
    assert sent_to_login(laptop) and sent_to_login(phone)
    assert not UserSession.objects.filter(user=worker).exists()
    event = AuditEvent.objects.filter(action="session.ended").get()
    assert event.new_values == {"reason": reason, "sessions": 2}
    assert event.actor_id == admin_user.pk


def test_logging_out_removes_the_session_from_the_index(store, worker):
    client = browser("worker")
    client.post(reverse("console:logout"))
    assert not UserSession.objects.filter(user=worker).exists()


def test_console_lists_and_ends_a_users_sessions(store, worker, admin, auditor, plain):
    laptop, phone = browser("worker"), browser("worker", CHROME)
    url = reverse("console_security:user_sessions", args=[worker.pk])
    end = reverse("console_security:user_sessions_end", args=[worker.pk])
    page = auditor.get(url)
    assert page.status_code == 200 and "Chrome on Windows" in page.content.decode()
    assert "End all sessions" not in page.content.decode()
    assert auditor.post(end).status_code == 403  # reading is not operating
    assert plain.get(url).status_code == 403
    assert is_logged_in(laptop) and is_logged_in(phone)
    one = UserSession.objects.get(user=worker, user_agent=CHROME)
    admin.post(end, {"session": one.pk})
    assert sent_to_login(phone) and is_logged_in(laptop)
    admin.post(end)
    assert sent_to_login(laptop)
    assert AuditEvent.objects.filter(action="session.ended", source="console").count() == 2


def test_helpdesk_may_end_sessions_but_not_other_users_of_a_missing_pk(store, helpdesk):
    assert helpdesk.post(reverse("console_security:user_sessions_end", args=[999999])).status_code == 404


def test_administrator_role_is_not_needed_to_see_my_own_sessions(store):
    with_password(username="boss", console_role=ConsoleRole.ADMINISTRATOR)
    client = browser("boss")
    assert client.get(reverse("workspace_security:sessions")).status_code == 200
