"""Console pages of the security app (lockouts, alerts, settings) and the console login wired to
the brute-force controls, each with its denied case."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from blazon.audit.models import AuditEvent
from security.models import LoginAttempt, SecuritySettings, Throttle, ThrottleKind
from tests.security.conftest import PASSWORD, fail, logged_in, with_password

pytestmark = pytest.mark.django_db
XSS = "<script>alert(1)</script>"


def console_login(username: str, password: str, ip: str = "203.0.113.50"):
    return Client(REMOTE_ADDR=ip).post(reverse("console:login"), {"username": username, "password": password})


def test_console_login_is_refused_once_locked_with_the_same_answer_for_unknown_users(limits):
    with_password(username="real")
    for _ in range(limits.account_failure_threshold):
        response = console_login("real", "wrong", ip="203.0.113.1")
        assert response.status_code == 200
    for _ in range(limits.account_failure_threshold):
        console_login("ghost", "wrong", ip="198.51.100.1")
    assert LoginAttempt.objects.filter(success=False).count() == 2 * limits.account_failure_threshold
    known = console_login("real", PASSWORD, ip="192.0.2.1")  # even the right password
    unknown = console_login("ghost", "whatever", ip="192.0.2.2")
    for response in (known, unknown):
        assert response.status_code == 429
        assert "Too many attempts. Try again later." in response.content.decode()
        assert 0 < int(response["Retry-After"]) <= limits.account_lock_seconds
    assert "_auth_user_id" not in known.client.session


def test_console_login_from_a_throttled_ip_is_refused_before_the_password_is_checked(limits):
    with_password(username="real")
    for name in ("a1", "a2", "a3"):
        console_login(name, "wrong", ip="203.0.113.99")
    before = LoginAttempt.objects.count()
    response = console_login("real", PASSWORD, ip="203.0.113.99")
    assert response.status_code == 429
    assert LoginAttempt.objects.count() == before  # refused attempts are not factor failures
    assert console_login("real", PASSWORD, ip="203.0.113.100").status_code == 302


def test_a_successful_login_is_recorded(limits):
    with_password(username="real")
    assert console_login("real", PASSWORD).status_code == 302
    assert LoginAttempt.objects.get().success is True


def test_lockouts_page_lists_active_locks_and_alerts_escaped(limits, auditor):
    for _ in range(limits.account_failure_threshold):
        fail(XSS, "10.4.0.1")
    page = auditor.get(reverse("console_security:lockouts"))
    html = page.content.decode()
    assert page.status_code == 200
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Account temporarily locked" in html and "Many failed logins for one account" in html
    assert "Release</button>" not in html  # the auditor may look, not release


def test_release_from_the_console(limits, helpdesk):
    for n in range(limits.account_failure_threshold):
        fail("frank", f"10.5.0.{n}")
    lock = Throttle.objects.get(kind=ThrottleKind.ACCOUNT, key="frank")
    response = helpdesk.post(reverse("console_security:lockout_release", args=[lock.pk]), follow=True)
    assert "Released" in response.content.decode()
    assert AuditEvent.objects.filter(action="security.throttle_released").count() == 1
    again = helpdesk.post(reverse("console_security:lockout_release", args=[lock.pk]), follow=True)
    assert "no longer active" in again.content.decode()
    assert AuditEvent.objects.filter(action="security.throttle_released").count() == 1


def test_release_is_denied_without_manage_users_and_needs_csrf(limits, auditor, plain, admin_user):
    for n in range(limits.account_failure_threshold):
        fail("gina", f"10.6.0.{n}")
    lock = Throttle.objects.get(kind=ThrottleKind.ACCOUNT, key="gina")
    url = reverse("console_security:lockout_release", args=[lock.pk])
    assert auditor.post(url).status_code == 403
    assert plain.post(url).status_code == 403
    assert plain.get(reverse("console_security:lockouts")).status_code == 403
    assert Client().get(reverse("console_security:lockouts")).status_code == 302
    assert logged_in(admin_user, enforce_csrf_checks=True).post(url).status_code == 403
    assert logged_in(admin_user).get(url).status_code == 405
    lock.refresh_from_db()
    assert lock.released_at is None


def test_settings_are_edited_and_audited(admin):
    url = reverse("console_security:settings")
    form = admin.get(url).context["form"]
    data = {
        name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields
    }
    data.update(ip_failure_threshold=50, session_idle_minutes=15, alert_emails="on")
    response = admin.post(url, data)
    assert response.status_code == 302
    row = SecuritySettings.objects.get(pk=1)
    assert (row.ip_failure_threshold, row.session_idle_minutes) == (50, 15)
    event = AuditEvent.objects.get(action="security.settings_updated")
    assert event.new_values == {"ip_failure_threshold": 50, "session_idle_minutes": 15}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ip_failure_threshold", "0", "greater than or equal to 1"),
        ("account_lock_max_seconds", "5", "at least the first lock"),
        ("session_bind_ip_prefix", "33", "less than or equal to 32"),
        ("session_idle_minutes", "soon", "Enter a whole number"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(admin, field, value, message):
    url = reverse("console_security:settings")
    form = admin.get(url).context["form"]
    data = {
        name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields
    }
    data[field] = value
    response = admin.post(url, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert SecuritySettings.objects.get(pk=1).ip_failure_threshold == 20
    assert not AuditEvent.objects.filter(action="security.settings_updated").exists()


def test_settings_are_denied_to_non_administrators(helpdesk, auditor):
    url = reverse("console_security:settings")
    assert helpdesk.get(url).status_code == 403
    assert auditor.post(url, {"ip_failure_threshold": 1}).status_code == 403
    assert not SecuritySettings.objects.filter(ip_failure_threshold=1).exists()


def test_lockouts_page_queries_do_not_grow_with_the_rows(limits, auditor, django_assert_max_num_queries):
    fail("first", "10.7.0.1")
    for _ in range(limits.account_failure_threshold):
        fail("first", "10.7.0.1")
    with django_assert_max_num_queries(12) as few:
        auditor.get(reverse("console_security:lockouts"))
    for name in ("u1", "u2", "u3", "u4", "u5"):
        for _ in range(limits.account_failure_threshold):
            fail(name, f"10.8.0.{len(name)}{name[-1]}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = auditor.get(reverse("console_security:lockouts"))
    assert page.content.decode().count("Release") == 0 and len(page.context["throttles"]) >= 6


def test_every_security_form_needs_the_csrf_token(limits, admin_user):
    worker = with_password(username="worker")
    session_client = Client()
    session_client.force_login(worker)
    for _ in range(limits.account_failure_threshold):
        fail("hank", "10.9.0.1")
    lock = Throttle.objects.get(kind=ThrottleKind.ACCOUNT, key="hank")
    strict = logged_in(admin_user, enforce_csrf_checks=True)
    posts = [
        (reverse("console_security:lockout_release", args=[lock.pk]), {}),
        (reverse("console_security:settings"), {"ip_failure_threshold": 1}),
        (reverse("console_security:user_sessions_end", args=[worker.pk]), {}),
        (reverse("workspace_security:sessions_end"), {"scope": "all"}),
    ]
    for url, data in posts:
        assert strict.post(url, data).status_code == 403, url
    lock.refresh_from_db()
    assert lock.released_at is None
    assert SecuritySettings.objects.get(pk=1).ip_failure_threshold == limits.ip_failure_threshold
    assert session_client.get("/workspace/").status_code == 200
