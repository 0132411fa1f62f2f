"""Authentication policies: the issue's example (office network / elsewhere / outside hours),
policy matching by organization and attribute, the client address behind a trusted proxy, the
remembered device and the recent-failures context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from authn.context import DEVICE_COOKIE, LoginContext, client_ip
from authn.models import LoginFailure
from authn.policies import decide
from authn.services import policy_create
from tests.api.factories import OrganizationFactory
from tests.authn.conftest import enrol_totp, example_policy, next_code, simple_policy, start_login, step
from tests.console.conftest import PASSWORD, with_password

pytestmark = pytest.mark.django_db

# 12:00 and 23:30 in São Paulo (UTC-3)
NOON = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
LATE = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)


def test_example_policy_office_network_password_only(alice):
    example_policy()
    decision = decide(alice, LoginContext(ip="10.20.5.9", at=NOON))
    assert decision.allowed and decision.factors == ["password"]


def test_example_policy_elsewhere_password_and_totp(alice):
    example_policy()
    decision = decide(alice, LoginContext(ip="203.0.113.7", at=NOON))
    assert decision.allowed and decision.factors == ["password", "totp"]


@pytest.mark.parametrize("ip", ["10.20.5.9", "203.0.113.7"])
def test_example_policy_denies_outside_hours_from_anywhere(alice, ip):
    example_policy()
    assert not decide(alice, LoginContext(ip=ip, at=LATE)).allowed
    # 05:59 local is still outside, 06:00 inside
    assert not decide(alice, LoginContext(ip=ip, at=datetime(2026, 11, 23, 8, 59, tzinfo=UTC))).allowed
    assert decide(alice, LoginContext(ip=ip, at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC))).allowed


def test_denied_login_is_refused_on_the_page_and_audited(alice):
    policy_create(
        actor=None, source="console", data={"name": "closed", "is_default": True}, rules=[{"outcome": "DENY"}]
    )
    client = Client()
    response = start_login(client, "alice")
    assert response.status_code == 200 and "not allowed from your network" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert LoginFailure.objects.get(user=alice).reason == "policy_denied"


def test_office_network_over_http_logs_in_with_password_only_and_elsewhere_asks_totp(alice):
    policy_create(
        actor=None,
        source="console",
        data={"name": "office", "is_default": True},
        rules=[
            {"networks": ["10.20.0.0/16"], "outcome": "ALLOW", "factors": ["password"]},
            {"outcome": "ALLOW", "factors": ["password", "totp"]},
        ],
    )
    inside = Client(REMOTE_ADDR="10.20.1.1")
    assert start_login(inside, "alice").url == reverse("workspace:home")
    outside = Client(REMOTE_ADDR="198.51.100.4")
    assert start_login(outside, "alice").url == reverse("authn:step")
    # a forged X-Forwarded-For from an untrusted client changes nothing
    forged = Client(REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="10.20.1.1")
    assert start_login(forged, "alice").url == reverse("authn:step")


def test_x_forwarded_for_only_from_a_trusted_proxy(settings):
    rf = RequestFactory()
    request = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.20.1.1")
    assert client_ip(request) == "192.0.2.1"
    settings.BLAZON_TRUSTED_PROXIES = ["192.0.2.0/24"]
    assert client_ip(request) == "10.20.1.1"
    # the client prepends a fake hop: the right-most untrusted address is taken
    request = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.20.1.1, 198.51.100.9, 192.0.2.7")
    assert client_ip(request) == "198.51.100.9"


def test_policy_by_organization_and_by_attribute(alice):
    simple_policy(["password"])
    finance = OrganizationFactory(code="fin", name="Finance")
    policy_create(
        actor=None,
        source="console",
        data={"name": "finance", "priority": 1, "organization_id": finance.pk},
        rules=[{"outcome": "ALLOW", "factors": ["password", "email"]}],
    )
    policy_create(
        actor=None,
        source="console",
        data={
            "name": "contractors",
            "priority": 2,
            "attribute_name": "employee_type",
            "attribute_value": "contractor",
        },
        rules=[{"outcome": "ALLOW", "factors": ["password", "totp"]}],
    )
    ctx = LoginContext(ip="192.0.2.1", at=timezone.now())
    assert decide(alice, ctx).factors == ["password"]
    alice.organization = finance
    assert decide(alice, ctx).factors == ["password", "email"]
    alice.organization = None
    alice.employee_type = "contractor"
    assert decide(alice, ctx).factors == ["password", "totp"]
    # an unknown user gets the default policy
    assert decide(None, ctx).factors == ["password"]


def test_remembered_device_skips_totp_and_is_bound_to_the_user(alice):
    totp = enrol_totp(alice)
    policy_create(
        actor=None,
        source="console",
        data={"name": "devices", "is_default": True},
        rules=[
            {"device": "KNOWN", "outcome": "ALLOW", "factors": ["password"]},
            {"outcome": "ALLOW", "factors": ["password", "totp"]},
        ],
    )
    client = Client()
    start_login(client, "alice")
    response = step(client, code=next_code(totp, alice), remember="1")
    cookie = response.cookies[DEVICE_COOKIE]
    assert cookie["httponly"] and cookie.value
    fresh = Client()
    fresh.cookies[DEVICE_COOKIE] = cookie.value
    assert start_login(fresh, "alice").url == reverse("workspace:home")
    # the same cookie does not make the device known for someone else, nor when tampered
    with_password(username="bob")
    other = Client()
    other.cookies[DEVICE_COOKIE] = cookie.value
    assert start_login(other, "bob").url == reverse("authn:step")
    tampered = Client()
    tampered.cookies[DEVICE_COOKIE] = cookie.value[:-2] + "xx"
    assert start_login(tampered, "alice").url == reverse("authn:step")
    # a password change forgets the remembered devices
    alice.set_password(PASSWORD + "!")
    alice.save(update_fields=["password"])
    after = Client()
    after.cookies[DEVICE_COOKIE] = cookie.value
    assert start_login(after, "alice", PASSWORD + "!").url == reverse("authn:step")


def test_no_device_cookie_without_remember_or_without_a_second_factor(alice):
    response = start_login(Client(), "alice", remember="1")
    assert DEVICE_COOKIE not in response.cookies


def test_recent_failures_raise_the_bar(alice):
    policy_create(
        actor=None,
        source="console",
        data={"name": "failures", "is_default": True},
        rules=[
            {
                "failures_at_least": 3,
                "failures_minutes": 10,
                "outcome": "ALLOW",
                "factors": ["password", "email"],
            },
            {"outcome": "ALLOW", "factors": ["password"]},
        ],
    )
    for _ in range(3):
        start_login(Client(), "alice", "wrong")
    assert LoginFailure.objects.filter(user=alice).count() == 3
    assert start_login(Client(), "alice").url == reverse("authn:step")
    # failures older than the window no longer count
    LoginFailure.objects.update(at=timezone.now() - timedelta(minutes=11))
    assert start_login(Client(), "alice").url == reverse("workspace:home")


def test_old_failures_and_codes_are_purged(alice):
    from authn.models import OneTimeCode
    from authn.tasks import purge_login_records

    LoginFailure.objects.create(user=alice, at=timezone.now() - timedelta(days=2), reason="password")
    LoginFailure.objects.create(user=alice, at=timezone.now(), reason="password")
    OneTimeCode.objects.create(
        user=alice, channel="email", flow_id="f", code_hash="x", expires_at=timezone.now() - timedelta(days=2)
    )
    assert purge_login_records() == 2
    assert LoginFailure.objects.count() == 1 and not OneTimeCode.objects.exists()
