"""Workspace pages where a user sets up their factors: TOTP enrolment with a locally drawn QR
code and recovery codes shown once, and secret questions."""

from __future__ import annotations

import re

import pyotp
import pytest
from django.test import Client
from django.urls import reverse

from authn.models import RecoveryCode, SecretQuestion, TotpDevice
from blazon.audit.models import AuditEvent
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db


def test_totp_enrolment(alice):
    client = logged_in(alice)
    page = client.get(reverse("authn:totp_enrol")).content.decode()
    assert "<svg" in page and "https://" not in page.split("<svg", 1)[1].split("</svg>")[0].replace(
        "http://www.w3.org", ""
    )
    seed = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    response = client.post(reverse("authn:totp_enrol"), {"code": pyotp.TOTP(seed).now()})
    codes = re.findall(r"<code>([0-9a-f]{8}-[0-9a-f]{8})</code>", response.content.decode())
    assert len(codes) == 10
    assert TotpDevice.objects.get(user=alice).confirmed
    assert RecoveryCode.objects.filter(user=alice).count() == 10
    assert AuditEvent.objects.filter(action="authn.totp_enrolled", subject_user_id=alice.pk).exists()
    # codes are not shown again
    assert codes[0] not in client.get(reverse("authn:security")).content.decode()


def test_wrong_enrolment_code_is_explained(alice):
    client = logged_in(alice)
    client.get(reverse("authn:totp_enrol"))
    response = client.post(reverse("authn:totp_enrol"), {"code": "000000"})
    assert response.status_code == 200 and "That code is not valid" in response.content.decode()
    assert not TotpDevice.objects.get(user=alice).confirmed


def test_remove_totp(alice):
    from tests.authn.conftest import enrol_totp

    enrol_totp(alice)
    client = logged_in(alice)
    client.post(reverse("authn:totp_remove"))
    assert not TotpDevice.objects.filter(user=alice).exists()
    assert not RecoveryCode.objects.filter(user=alice).exists()


def test_secret_questions_page(alice):
    client = logged_in(alice)
    data = {}
    for i, (q, a) in enumerate([("Pet?", "Rex"), ("City?", "Recife"), ("Car?", "Fusca")]):
        data[f"question_{i}"], data[f"answer_{i}"] = q, a
    response = client.post(reverse("authn:questions"), data)
    assert response.status_code == 302
    assert SecretQuestion.objects.filter(user=alice).count() == 3
    data["question_1"] = "Pet?"
    response = client.post(reverse("authn:questions"), data)
    assert "Each question must be different" in response.content.decode()
    assert set(SecretQuestion.objects.values_list("question", flat=True)) == {"Pet?", "City?", "Car?"}


def test_pages_need_a_logged_in_active_user(alice):
    for name in ("authn:security", "authn:totp_enrol", "authn:questions"):
        response = Client().get(reverse(name))
        assert response.status_code == 302 and response.url.startswith("/login/?next=")
    type(alice).objects.filter(pk=alice.pk).update(login_locked=True)
    assert logged_in(alice).get(reverse("authn:security")).status_code in (302, 403)


def test_help_desk_resets_a_users_factors_and_others_cannot(alice, helpdesk, auditor, plain):
    from authn import factors
    from tests.authn.conftest import enrol_totp

    enrol_totp(alice)
    factors.questions_set(user=alice, pairs=[("a?", "aa"), ("b?", "bb"), ("c?", "cc")])
    url = reverse("authn:user_factors_reset", args=[alice.pk])
    for client in (auditor, plain):
        assert client.post(url).status_code == 403
    assert TotpDevice.objects.filter(user=alice).exists()
    assert helpdesk.get(url).status_code == 405
    response = helpdesk.post(url)
    assert response.status_code == 302 and response.url == reverse("console:user_detail", args=[alice.pk])
    assert not TotpDevice.objects.filter(user=alice).exists()
    assert not SecretQuestion.objects.filter(user=alice).exists()
    event = AuditEvent.objects.get(action="authn.factors_reset")
    assert event.old_values == {"authenticator_app": True, "questions": 3}
