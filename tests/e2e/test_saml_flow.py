"""SAML single sign-on in a real browser: a tiny service provider (python3-saml behind a real HTTP
server on localhost) sends Chromium to Blazon, the user logs in on Blazon's login page, and the
SP receives a response it accepts, with the expected attributes."""

from __future__ import annotations

import html
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

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


class TinySP:
    """A service provider: /login starts SSO, /acs consumes the response and shows who logged in."""

    def __init__(self, idp_base: str, idp_cert: str):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.entity_id = self.base + "/metadata"
        self.settings = samlsp.settings_for(
            idp_base=idp_base, idp_cert=idp_cert, sp_entity=self.entity_id, acs_url=self.base + "/acs"
        )
        self.request_ids: list[str] = []
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
                if self.path == "/login":
                    auth = samlsp.auth_for(sp.settings, sp.base + "/login")
                    url = auth.login(return_to="/welcome")
                    sp.request_ids.append(auth.get_last_request_id())
                    return self._send(302, location=url)
                return self._send(404, "not found")

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                auth = samlsp.auth_for(sp.settings, sp.base + "/acs", post=form)
                auth.process_response(request_id=sp.request_ids[-1] if sp.request_ids else None)
                if not auth.is_authenticated():
                    return self._send(403, f"<h1>Refused</h1><p>{html.escape(str(auth.get_errors()))}</p>")
                attrs = auth.get_attributes()
                items = "".join(
                    f"<li>{html.escape(k)}: {html.escape(', '.join(v))}</li>"
                    for k, v in sorted(attrs.items())
                )
                return self._send(
                    200,
                    f"<h1>Test SP: signed in</h1><p id='relay'>{html.escape(form.get('RelayState', ''))}</p>"
                    f"<ul id='attributes'>{items}</ul>",
                )

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_sp_initiated_login_through_the_browser(page, live_server):
    resource = ResourceFactory(code="crm", name="CRM")
    user = UserFactory(username="marta", email="marta@example.com", first_name="Marta", department="Sales")
    user.set_password(PASSWORD)
    user.save()
    AccountFactory(owner=user, resource=resource, identifier="marta", status=AccountStatus.ACTIVE)
    cert = idp_key_ensure(key_size=2048).certificate
    with TinySP(live_server.url, cert) as sp:
        services.service_provider_create(
            actor=None,
            source="test",
            data={
                "name": "CRM",
                "entity_id": sp.entity_id,
                "acs_endpoints": [{"url": sp.base + "/acs", "binding": BINDING_POST}],
                "nameid_format": NameIDFormat.EMAIL,
                "attribute_mapping": {"mail": "email", "givenName": "first_name", "department": "department"},
                "access_rule": AccessRule.RESOURCE_ACCOUNT,
                "resource": resource,
            },
        )
        page.goto(sp.base + "/login")
        # Blazon's login page (the SP sent the browser here with a pending request)
        login = re.escape(django_settings.LOGIN_URL)
        expect(page).to_have_url(re.compile(login + r"\?next=(/|%2F)sso(/|%2F)saml(/|%2F)resume(/|%2F)"))
        page.get_by_label("Username").fill("marta")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        # back at the SP, which accepted the signed response
        expect(page.get_by_role("heading", name="Test SP: signed in")).to_be_visible()
        assert page.url == sp.base + "/acs"
        expect(page.locator("#relay")).to_have_text("/welcome")
        expect(page.locator("#attributes")).to_contain_text("mail: marta@example.com")
        expect(page.locator("#attributes")).to_contain_text("givenName: Marta")
        expect(page.locator("#attributes")).to_contain_text("department: Sales")
