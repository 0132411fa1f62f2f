"""Brute-force defence through the authcontract signals: the seed's three patterns, progressive
temporary locks, no user enumeration, audit, alerts and the retention purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from blazon.audit.models import AuditEvent
from blazon.authcontract import LoginRefused
from directory.models import ConsoleRole
from security.models import LoginAttempt, Pattern, SecurityAlert, Throttle, ThrottleKind
from security.services.bruteforce import attempts_purge, throttle_release
from security.tasks import purge_login_attempts
from tests.api.factories import UserFactory
from tests.security.conftest import attempt, fail

pytestmark = pytest.mark.django_db


def refused(username: str, ip: str) -> LoginRefused | None:
    try:
        attempt(username, ip)
    except LoginRefused as exc:
        return exc
    return None


def expire(throttle: Throttle) -> None:
    """Let a throttle run out (as if its time had passed)."""
    Throttle.objects.filter(pk=throttle.pk).update(until=timezone.now() - timedelta(seconds=1))


def test_many_failures_from_one_ip_throttle_that_ip_for_every_username(limits):
    for i in range(limits.ip_failure_threshold - 1):
        fail(["alice", "bob"][i % 2], "203.0.113.7")
    assert refused("carol", "203.0.113.7") is None
    fail("alice", "203.0.113.7")
    exc = refused("carol", "203.0.113.7")
    assert exc is not None and exc.message == "Too many attempts. Try again later."
    assert 0 < exc.retry_after <= limits.ip_throttle_seconds
    assert refused("carol", "198.51.100.1") is None  # another IP is not affected
    throttle = Throttle.objects.get(kind=ThrottleKind.IP, key="203.0.113.7")
    assert throttle.pattern == Pattern.IP_FAILURES


def test_many_usernames_from_one_ip_throttle_the_ip(limits):
    for name in ("ann", "ben", "cid")[: limits.ip_username_threshold]:
        fail(name, "203.0.113.8")
    assert refused("dan", "203.0.113.8") is not None
    assert Throttle.objects.get(kind=ThrottleKind.IP, key="203.0.113.8").pattern == Pattern.IP_USERNAMES


def test_one_account_from_many_ips_locks_the_account_temporarily_not_the_ips(limits):
    victim = UserFactory(username="victim")
    for n in range(limits.account_ip_threshold):
        fail("Victim", f"198.51.100.{n + 1}")  # case-folded: one account
    exc = refused("victim", "192.0.2.200")  # from any IP, even a new one
    assert exc is not None and exc.retry_after <= limits.account_lock_seconds
    lock = Throttle.objects.get(kind=ThrottleKind.ACCOUNT, key="victim")
    assert lock.pattern == Pattern.ACCOUNT_IPS
    assert refused("someone-else", "198.51.100.1") is None  # the IPs are not throttled
    victim.refresh_from_db()
    assert victim.login_locked is False  # a temporary lock, never the directory's login lock


def test_unknown_and_known_usernames_get_the_same_answer(limits):
    UserFactory(username="known")
    for name in ("known", "nobody-by-this-name"):
        for n in range(limits.account_failure_threshold):
            fail(name, f"192.0.2.{n + 10}" if name == "known" else f"192.0.2.{n + 40}")
    known, unknown = refused("known", "192.0.2.99"), refused("nobody-by-this-name", "192.0.2.98")
    assert known is not None and unknown is not None
    assert (known.message, known.retry_after) == (unknown.message, unknown.retry_after)


def test_locks_grow_progressively_up_to_the_maximum_and_stay_temporary(limits):
    lengths = []
    for _round in range(4):
        for n in range(limits.account_failure_threshold):
            fail("target", f"10.0.{_round}.{n}")
        lock = Throttle.objects.get(kind=ThrottleKind.ACCOUNT, key="target")
        lengths.append(round((lock.until - lock.since).total_seconds()))
        expire(lock)
    assert lengths == [30, 60, 120, 120]  # doubles, capped at account_lock_max_seconds
    assert refused("target", "10.9.9.9") is None  # after the lock the owner can log in again


def test_failures_already_punished_do_not_lock_again_at_once(limits):
    for n in range(limits.account_failure_threshold):
        fail("sam", f"10.1.0.{n}")
    lock = Throttle.objects.get(kind=ThrottleKind.ACCOUNT, key="sam")
    expire(lock)
    fail("sam", "10.1.0.50")  # one more failure after the lock: not a new lock
    assert refused("sam", "10.1.0.51") is None


def test_each_lock_is_audited_and_raises_an_alert_mailed_to_administrators(
    limits, django_capture_on_commit_callbacks
):
    UserFactory(username="secadmin", email="sec@example.com", console_role=ConsoleRole.ADMINISTRATOR)
    UserFactory(username="helper", email="help@example.com", console_role=ConsoleRole.HELPDESK)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(limits.account_ip_threshold):
            fail("carol", f"198.51.100.{n + 20}")
    alert = SecurityAlert.objects.get()
    assert (alert.pattern, alert.key) == (Pattern.ACCOUNT_IPS, "carol")
    event = AuditEvent.objects.get(action="security.throttle_imposed")
    assert event.new_values["key"] == "carol" and event.new_values["pattern"] == "account_ips"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["sec@example.com"]
    assert "One account from many IPs" in mail.outbox[0].subject


def test_release_ends_the_lock_now_is_audited_and_restarts_the_back_off(limits, admin_user):
    for n in range(limits.account_failure_threshold):
        fail("dora", f"10.2.0.{n}")
    lock = Throttle.objects.get(kind=ThrottleKind.ACCOUNT, key="dora")
    throttle_release(actor=admin_user, throttle=lock)
    assert refused("dora", "10.2.0.1") is None
    event = AuditEvent.objects.get(action="security.throttle_released")
    assert event.actor_id == admin_user.pk
    for n in range(limits.account_failure_threshold):
        fail("dora", f"10.2.1.{n}")
    lock.refresh_from_db()
    assert lock.level == 1


def test_attempts_are_recorded_and_purged_after_the_retention(limits):
    fail("eve", "10.3.0.1")
    LoginAttempt.objects.create(
        at=timezone.now() - timedelta(days=limits.attempt_retention_days + 1), ip="10.3.0.2", username="old"
    )
    assert LoginAttempt.objects.count() == 2
    assert purge_login_attempts.delay().get()["login_attempts"] == 1
    assert list(LoginAttempt.objects.values_list("username", flat=True)) == ["eve"]
    assert attempts_purge() == 0


def test_attempts_without_request_or_username_do_not_break_the_login(limits):
    from django.contrib.auth.signals import user_login_failed

    user_login_failed.send(sender="test", credentials={}, request=None)
    assert LoginAttempt.objects.get().username == ""


def test_an_attack_on_many_accounts_sends_one_alert_mail_per_pattern_not_one_per_account(
    limits, django_capture_on_commit_callbacks
):
    UserFactory(username="secadmin", email="sec@example.com", console_role=ConsoleRole.ADMINISTRATOR)
    with django_capture_on_commit_callbacks(execute=True):
        for victim in ("v1", "v2", "v3"):
            for n in range(limits.account_ip_threshold):
                fail(victim, f"100.64.{n}.{victim[1]}")
    assert SecurityAlert.objects.filter(pattern=Pattern.ACCOUNT_IPS).count() == 3
    assert len(mail.outbox) == 1
    assert "without another e-mail" in mail.outbox[0].body
