"""Single logout in a real browser when one service provider never answers: two tiny SPs
(python3-saml behind real HTTP servers on 127.0.0.1, another site than Blazon's localhost), both
with a single-logout time limit. The user signs in to both through Blazon, then logs out at
Blazon: SP A answers its LogoutRequest inside Blazon's frame, SP B shows a page and never answers.
Chromium must not be left at SP B: after SP B's limit Blazon's page goes on by itself and ends on
Blazon's login page, naming SP B (and only SP B) as possibly still signed in."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from directory.models import AccountStatus
from sso import services
from sso.keys import idp_key_ensure
from sso.models import BINDING_POST, AccessRule, NameIDFormat
from tests.api.factories import AccountFactory, ResourceFactory, UserFactory
from tests.sso import samlsp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # noqa: S105 - test credential


class LogoutSP:
    """/login starts SSO, /acs accepts the response, /sls answers Blazon's LogoutRequest (or,
    with ``answers=False``, shows a page and never answers)."""

    def __init__(self, name: str, idp_base: str, idp_cert: str, *, answers: bool):
        self.name = name
        self.answers = answers
        self.logout_requests = 0
        self.request_ids: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.entity_id = self.base + "/metadata"
        self.settings = samlsp.settings_for(
            idp_base=idp_base,
            idp_cert=idp_cert,
            sp_entity=self.entity_id,
            acs_url=self.base + "/acs",
            slo_url=self.base + "/sls",
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self):
        sp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                return

            def _send(self, status: int, body: str = "", location: str = ""):
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path == "/login":
                    auth = samlsp.auth_for(sp.settings, sp.base + "/login")
                    url = auth.login()
                    sp.request_ids.append(auth.get_last_request_id())
                    return self._send(302, location=url)
                if parts.path == "/sls":
                    sp.logout_requests += 1
                    if not sp.answers:
                        return self._send(200, f"<h1>{sp.name}: logging out…</h1>")
                    get = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    auth = samlsp.auth_for(sp.settings, sp.base + "/sls", get=get)
                    back = auth.process_slo(keep_local_session=True)
                    if auth.get_errors():
                        return self._send(400, f"<h1>{sp.name}: refused</h1>")
                    return self._send(302, location=back)
                return self._send(404, "not found")

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                auth = samlsp.auth_for(sp.settings, sp.base + "/acs", post=form)
                auth.process_response(request_id=sp.request_ids[-1] if sp.request_ids else None)
                if not auth.is_authenticated():
                    return self._send(
                        403, f"<h1>Refused</h1><p>{auth.get_errors()} {auth.get_last_error_reason()}</p>"
                    )
                return self._send(200, f"<h1>{sp.name}: signed in</h1>")

        return Handler

    def register(self, resource, timeout: int):
        services.service_provider_create(
            actor=None,
            source="test",
            data={
                "name": self.name,
                "entity_id": self.entity_id,
                "acs_endpoints": [{"url": self.base + "/acs", "binding": BINDING_POST}],
                "slo_url": self.base + "/sls",
                "slo_timeout_seconds": timeout,
                "nameid_format": NameIDFormat.PERSISTENT,
                "attribute_mapping": {"mail": "email"},
                "access_rule": AccessRule.RESOURCE_ACCOUNT,
                "resource": resource,
            },
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_single_logout_goes_on_past_an_sp_that_never_answers(page, live_server):
    resource = ResourceFactory(code="crm", name="CRM")
    user = UserFactory(username="marta", email="marta@example.com")
    user.set_password(PASSWORD)
    user.save()
    AccountFactory(owner=user, resource=resource, identifier="marta", status=AccountStatus.ACTIVE)
    cert = idp_key_ensure(key_size=2048).certificate
    with (
        LogoutSP("Wiki", live_server.url, cert, answers=True) as answering,
        LogoutSP("Payroll", live_server.url, cert, answers=False) as silent,
    ):
        answering.register(resource, timeout=10)
        silent.register(resource, timeout=3)

        page.goto(answering.base + "/login")
        page.get_by_label("Username").fill("marta")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Wiki: signed in")).to_be_visible()
        page.goto(silent.base + "/login")  # Blazon's session signs in to the second SP at once
        expect(page.get_by_role("heading", name="Payroll: signed in")).to_be_visible()

        page.goto(live_server.url + "/workspace/")
        page.get_by_role("button", name="Log out").click()
        # Blazon's own login page after SP B's 3 s limit (the browser never sits at SP B)
        expect(page).to_have_url(re.compile(re.escape(django_settings.LOGIN_URL) + "$"), timeout=20_000)
        notice = page.get_by_text("These applications may still have you signed in")
        expect(notice).to_contain_text("Payroll")
        expect(notice).not_to_contain_text("Wiki")  # SP A's answer in the frame was taken
        assert answering.logout_requests == 1 and silent.logout_requests == 1
        # the Blazon session is over
        page.goto(live_server.url + "/workspace/")
        expect(page).to_have_url(re.compile(re.escape(django_settings.LOGIN_URL)))
