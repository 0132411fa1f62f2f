"""Embedded mode (``./bin/run``, nothing configured) answers like production to strangers: DEBUG
is off unless ``BLAZON_DEBUG`` turns it on, an anonymous caller's 404 and 500 are console-style
pages (never Django's debug page with the URL list, the settings and the traceback), and the
static files are served by WhiteNoise without a collectstatic step (issue 12, item 18).

The checks run in a child process with a clean environment, as ``bin/run`` would start it (the
test runner itself forces DEBUG off, which would hide the default)."""

from __future__ import annotations

import json

from ._env import clean_env, run

PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
from django.urls import path
import blazon.urls

def broken(request):
    raise RuntimeError("a bug in a view")

blazon.urls.urlpatterns.append(path("__broken__/", broken))
client = Client(raise_request_exception=False)
out = {"debug": settings.DEBUG}
for name, url in (("404", "/no-such-page/"), ("500", "/__broken__/"), ("static", "/static/blazon/css/app.css")):
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    out[name] = {"status": response.status_code, "body": body.decode(errors="replace")[:20000],
                 "cid": response.get("X-Correlation-ID", "")}
print(json.dumps(out))
"""

DEBUG_PAGE_SIGNS = ("Traceback", "URLconf", "SECRET_KEY", "DEBUG = True", "technical_", "Request Method")


def probe(tmp_path, **env: str) -> dict:
    result = run(["-c", PROBE], clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **env))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_mode_shows_strangers_no_debug_page(tmp_path):
    out = probe(tmp_path)
    assert out["debug"] is False
    missing, broken = out["404"], out["500"]
    assert missing["status"] == 404 and broken["status"] == 500
    assert "<h1>Not found</h1>" in missing["body"] and "blazon/css/app.css" in missing["body"]
    assert "<h1>Something went wrong</h1>" in broken["body"] and "blazon/css/app.css" in broken["body"]
    # the reference in the page is the correlation id of the logged error
    assert broken["cid"] and f"<code>{broken['cid']}</code>" in broken["body"]
    for page in (missing, broken):
        for sign in DEBUG_PAGE_SIGNS:
            assert sign not in page["body"], sign
    assert "a bug in a view" not in broken["body"]
    # WhiteNoise serves the stylesheet from the app, no collectstatic needed
    assert out["static"]["status"] == 200 and "{" in out["static"]["body"]


def test_blazon_debug_turns_the_debug_page_on_for_development(tmp_path):
    out = probe(tmp_path, BLAZON_DEBUG="1")
    assert out["debug"] is True
    assert out["404"]["status"] == 404 and "URLconf" in out["404"]["body"]
    assert out["static"]["status"] == 200
