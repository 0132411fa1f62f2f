"""Each factor on its own and through the flow: wrong, expired and replayed codes, attempt
limits, recovery codes, secret questions, the SMS gateway against a real local HTTP server,
and the TOTP seed sealed by the vault."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pyotp
import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from authn import factors, sms
from authn.models import OneTimeCode, RecoveryCode, SecretQuestion, TotpDevice
from tests.authn.conftest import email_code, enrol_totp, next_code, simple_policy, start_login, step

pytestmark = pytest.mark.django_db


# --- TOTP ----------------------------------------------------------------------------------------


def test_totp_code_is_accepted_once(alice):
    totp = enrol_totp(alice)
    code = next_code(totp, alice)
    assert factors.totp_verify(user=alice, code=code)
    assert not factors.totp_verify(user=alice, code=code)  # replay


def test_totp_old_and_wrong_codes_are_refused(alice):
    totp = enrol_totp(alice)
    old = totp.at(timezone.now() - timedelta(minutes=3))
    assert not factors.totp_verify(user=alice, code=old)
    assert not factors.totp_verify(user=alice, code="12345")
    assert not factors.totp_verify(user=alice, code="abcdef")


def test_totp_seed_is_sealed_at_rest(alice):
    device = factors.totp_enrol_start(user=alice)
    seed = factors.totp_seed(device)
    row = TotpDevice.objects.get(pk=device.pk)
    assert seed.encode() not in bytes(row.ciphertext)
    assert len(seed) >= 32


def test_enrolment_needs_a_valid_code(alice):
    factors.totp_enrol_start(user=alice)
    with pytest.raises(factors.DomainError):
        factors.totp_enrol_confirm(user=alice, code="000000")
    assert not TotpDevice.objects.get(user=alice).confirmed


def test_recovery_codes_are_hashed_and_single_use(alice):
    enrol_totp(alice)
    codes = factors.recovery_codes_regenerate(user=alice)
    assert len(codes) == 10
    stored = list(RecoveryCode.objects.filter(user=alice).values_list("code_hash", flat=True))
    assert not set(codes) & set(stored)
    assert factors.totp_verify(user=alice, code=codes[0])
    assert not factors.totp_verify(user=alice, code=codes[0])
    assert factors.totp_verify(user=alice, code=codes[1].upper())


def test_recovery_code_logs_in_through_the_totp_step(alice):
    enrol_totp(alice)
    codes = factors.recovery_codes_regenerate(user=alice)
    simple_policy(["password", "totp"])
    client = Client()
    start_login(client, "alice")
    assert step(client, code=codes[3]).url == reverse("workspace:home")
    client = Client()
    start_login(client, "alice")
    assert step(client, code=codes[3]).status_code == 200  # used
    assert "_auth_user_id" not in client.session


# --- e-mail codes ----------------------------------------------------------------------------------


def test_email_code_logs_in_once(alice):
    simple_policy(["password", "email"])
    client = Client()
    start_login(client, "alice")
    page = client.get(reverse("authn:step")).content.decode()
    assert "we sent it a code" in page
    code = email_code(mail.outbox)
    assert mail.outbox[0].to == ["alice@example.org"]
    assert OneTimeCode.objects.get().code_hash != code
    assert step(client, code=code).url == reverse("workspace:home")
    # the code cannot be replayed in another flow
    other = Client()
    start_login(other, "alice")
    other.get(reverse("authn:step"))
    assert step(other, code=code).status_code == 200
    assert "_auth_user_id" not in other.session


def test_expired_email_code_is_refused(alice):
    simple_policy(["password", "email"])
    client = Client()
    start_login(client, "alice")
    client.get(reverse("authn:step"))
    OneTimeCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = step(client, code=email_code(mail.outbox))
    assert response.status_code == 200 and "not valid or has expired" in response.content.decode()


def test_email_code_dies_after_too_many_wrong_guesses(alice, settings):
    settings.BLAZON_OTP_MAX_ATTEMPTS = 2
    simple_policy(["password", "email"])
    client = Client()
    start_login(client, "alice")
    client.get(reverse("authn:step"))
    right = email_code(mail.outbox)
    wrong = "000000" if right != "000000" else "111111"
    step(client, code=wrong)
    step(client, code=wrong)
    assert step(client, code=right).status_code == 200
    assert "_auth_user_id" not in client.session


def test_resend_replaces_the_code(alice, settings):
    settings.BLAZON_OTP_RESEND_SECONDS = 0
    simple_policy(["password", "email"])
    client = Client()
    start_login(client, "alice")
    client.get(reverse("authn:step"))
    first = email_code(mail.outbox)
    client.post(reverse("authn:resend"))
    second = email_code(mail.outbox)
    assert len(mail.outbox) == 2
    if first != second:
        assert step(client, code=first).status_code == 200
    assert step(client, code=second).url == reverse("workspace:home")


def test_unknown_user_gets_the_same_code_page_and_no_mail(alice):
    simple_policy(["email"])
    known, unknown = Client(), Client()
    assert start_login(known, "alice", "").url == reverse("authn:step")
    assert start_login(unknown, "ghost", "").url == reverse("authn:step")
    assert "we sent it a code" in unknown.get(reverse("authn:step")).content.decode()
    assert step(unknown, code="123456").status_code == 200
    known.get(reverse("authn:step"))
    assert len(mail.outbox) == 1


# --- SMS -------------------------------------------------------------------------------------------


class _SmsApi(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append({"auth": self.headers.get("Authorization"), **body})
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "m-1"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def sms_api(settings):
    _SmsApi.received, _SmsApi.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _SmsApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.BLAZON_SMS_GATEWAY = "http"
    settings.BLAZON_SMS_URL = f"http://127.0.0.1:{server.server_port}/v1/messages"
    settings.BLAZON_SMS_TOKEN = "sms-test-token"
    yield _SmsApi
    server.shutdown()
    server.server_close()


def test_sms_code_through_a_real_http_gateway(alice, sms_api, django_capture_on_commit_callbacks):
    alice.attributes = {"mobile": "+5511999990000"}
    alice.save(update_fields=["attributes"])
    simple_policy(["password", "sms"])
    client = Client()
    start_login(client, "alice")
    with django_capture_on_commit_callbacks(execute=True):
        client.get(reverse("authn:step"))
    [message] = sms_api.received
    assert message["to"] == "+5511999990000" and message["auth"] == "Bearer sms-test-token"
    code = message["message"].split("code is ")[1][:6]
    assert step(client, code=code).url == reverse("workspace:home")


def test_sms_gateway_errors_are_typed(sms_api, settings):
    sms_api.status = 503
    gateway = sms.gateway()
    with pytest.raises(sms.SmsError, match="HTTP 503"):
        gateway.send(to="+1555", message="x")
    unreachable = sms.HttpJsonSmsGateway(url="http://127.0.0.1:9/none", timeout=2)
    with pytest.raises(sms.SmsError, match="unreachable"):
        unreachable.send(to="+1555", message="x")


# --- secret questions ------------------------------------------------------------------------------

QUESTIONS = [
    ("Where were you born?", "São Paulo"),
    ("First school?", "Escola Estadual"),
    ("Favourite teacher?", "Dona Maria"),
]


def test_answers_are_normalised_and_hashed(alice):
    factors.questions_set(user=alice, pairs=QUESTIONS)
    rows = list(SecretQuestion.objects.filter(user=alice))
    assert len(rows) == 3 and all("Paulo" not in r.answer_hash for r in rows)
    picked = [rows[0].pk]
    assert factors.questions_verify(user=alice, picked=picked, answers=["  sao paulo! "])
    assert not factors.questions_verify(user=alice, picked=picked, answers=["Rio"])


def test_too_few_questions_are_refused(alice):
    with pytest.raises(factors.DomainError, match="at least 3"):
        factors.questions_set(user=alice, pairs=QUESTIONS[:2])
    assert not SecretQuestion.objects.exists()


def test_questions_step_asks_k_of_n(alice, settings):
    settings.BLAZON_SECRET_QUESTIONS_ASK = 2
    factors.questions_set(user=alice, pairs=QUESTIONS)
    simple_policy(["password", "questions"])
    client = Client()
    start_login(client, "alice")
    page = client.get(reverse("authn:step")).content.decode()
    # answer_0, answer_1 follow the order the (randomly picked) questions appear on the page
    asked = sorted((q for q, _ in QUESTIONS if q in page), key=page.index)
    assert len(asked) == 2
    answers = {q: a for q, a in QUESTIONS}
    response = step(client, answer_0=answers[asked[0]].upper(), answer_1=answers[asked[1]])
    assert response.url == reverse("workspace:home")


def test_wrong_answer_is_refused(alice):
    factors.questions_set(user=alice, pairs=QUESTIONS)
    simple_policy(["password", "questions"])
    client = Client()
    start_login(client, "alice")
    client.get(reverse("authn:step"))
    response = step(client, answer_0="wrong", answer_1="wrong")
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_unknown_user_sees_the_same_decoy_questions_each_time(alice):
    simple_policy(["questions"])
    pages = []
    for _ in range(2):
        client = Client()
        start_login(client, "ghost", "")
        pages.append(
            [q for q in factors.DECOY_QUESTIONS if q in client.get(reverse("authn:step")).content.decode()]
        )
    assert pages[0] == pages[1] and len(pages[0]) == 2


def test_pyotp_is_the_reference(alice):
    # the enrolment URI is the standard otpauth one an authenticator app reads
    device = factors.totp_enrol_start(user=alice)
    uri = factors.totp_uri(alice, factors.totp_seed(device))
    parsed = pyotp.parse_uri(uri)
    assert uri.startswith("otpauth://totp/Blazon:alice") and parsed.secret == factors.totp_seed(device)
