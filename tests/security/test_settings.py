"""Session store and cookie settings as an operator sets them (a child process per
environment, like tests/platform/test_production_settings.py)."""

from __future__ import annotations

from tests.platform._env import clean_env, production_env, run

SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SESSION_ENGINE, s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE, "
    "s.SESSION_COOKIE_HTTPONLY, s.CACHES.get('sessions', {}).get('BACKEND', '-'), "
    "getattr(s, 'SESSION_CACHE_ALIAS', '-'), s.SESSION_COOKIE_AGE, s.CSRF_COOKIE_HTTPONLY)"
)


def show(env):
    result = run(["-c", SHOW], env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def test_production_cookies_are_secure_and_host_prefixed():
    engine, session_cookie, csrf_cookie, secure, httponly, _, _, age, csrf_httponly = show(production_env())
    assert engine == "django.contrib.sessions.backends.db"
    assert (session_cookie, csrf_cookie) == ("__Host-blazon_session", "__Host-csrftoken")
    assert (secure, httponly, csrf_httponly) == ("True", "True", "True")
    assert age == str(8 * 3600)


def test_host_prefix_can_be_turned_off_behind_a_shared_cookie_domain():
    _, session_cookie, csrf_cookie, secure, *_ = show(production_env(BLAZON_COOKIE_HOST_PREFIX="false"))
    assert (session_cookie, csrf_cookie, secure) == ("sessionid", "csrftoken", "True")


def test_redis_session_store():
    env = production_env(
        BLAZON_SESSION_STORE="redis", BLAZON_REDIS_URL="redis://redis.example.internal:6379/1"
    )
    engine, *_, backend, alias, _, _ = show(env)
    assert engine == "django.contrib.sessions.backends.cache"
    assert (backend, alias) == ("django.core.cache.backends.redis.RedisCache", "sessions")


def test_session_store_mistakes_are_refused_at_start_up():
    typo = run(["-c", SHOW], clean_env(BLAZON_SESSION_STORE="memcache"))
    assert typo.returncode != 0 and "BLAZON_SESSION_STORE must be 'database' or 'redis'" in typo.stderr
    no_url = run(["-c", SHOW], clean_env(BLAZON_SESSION_STORE="redis"))
    assert no_url.returncode != 0 and "needs BLAZON_REDIS_URL" in no_url.stderr
