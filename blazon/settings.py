"""Blazon settings, all from the environment (12-factor).

Two modes share this file:
- embedded default (no variables set): SQLite, tasks run in-process, DEBUG off (BLAZON_DEBUG=1
  turns it on), static files served by WhiteNoise;
- production (``BLAZON_ENV=production``): PostgreSQL, Redis + Celery, and a start-up check
  that refuses DEBUG, the default secret key or a missing vault key.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BLAZON_ENV = os.environ.get("BLAZON_ENV", "embedded").strip().lower()
if BLAZON_ENV not in {"embedded", "production"}:
    # A typo ("prod") must not silently start the insecure embedded mode.
    raise ImproperlyConfigured(f"BLAZON_ENV must be 'embedded' or 'production', not {BLAZON_ENV!r}")
PRODUCTION = BLAZON_ENV == "production"

DEFAULT_SECRET_KEY = "blazon-embedded-insecure-secret-key-change-me"  # noqa: S105
SECRET_KEY = os.environ.get("BLAZON_SECRET_KEY", DEFAULT_SECRET_KEY)
# Off in both modes: Django's debug page shows the URL list, the settings and tracebacks to
# anyone. BLAZON_DEBUG=1 turns it on for development (never in production: refused below).
DEBUG = env_bool("BLAZON_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Vault master keys: "version:base64key,version:base64key"; the highest version wraps new secrets.
# The embedded default derives a development key so the demo runs with nothing configured.
BLAZON_VAULT_KEYS = os.environ.get("BLAZON_VAULT_KEYS", "")

# Audit chain keys (HMAC): "id:base64key,id:base64key", the FIRST keys new events, the others
# verify older ones. Unset in embedded mode: a random key in BLAZON_AUDIT_KEY_FILE, created on
# first use (docs/configuration.md, "Audit log keys"). Checkpoints are signed with the Ed25519
# key in BLAZON_AUDIT_SIGNING_KEY_FILE (embedded default: var/audit-signing-key.pem).
BLAZON_AUDIT_KEYS = os.environ.get("BLAZON_AUDIT_KEYS", "")
BLAZON_AUDIT_KEY_FILE = os.environ.get("BLAZON_AUDIT_KEY_FILE") or str(BASE_DIR / "var" / "audit-chain.keys")
BLAZON_AUDIT_SIGNING_KEY_FILE = os.environ.get("BLAZON_AUDIT_SIGNING_KEY_FILE", "")
BLAZON_AUDIT_DEFAULT_SIGNING_KEY_FILE = str(BASE_DIR / "var" / "audit-signing-key.pem")

if PRODUCTION:
    problems = []
    if DEBUG:
        problems.append("DEBUG must be off in production (unset BLAZON_DEBUG)")
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("BLAZON_SECRET_KEY must be set to a random value of at least 50 characters")
    if not BLAZON_VAULT_KEYS:
        problems.append("BLAZON_VAULT_KEYS must be set (see docs/configuration.md)")
    if not BLAZON_AUDIT_KEYS:
        problems.append("BLAZON_AUDIT_KEYS must be set (see docs/configuration.md)")
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://", "pgsql://")):
        problems.append("DATABASE_URL must point at PostgreSQL (postgres://user:password@host:5432/name)")
    if not os.environ.get("CELERY_BROKER_URL"):
        problems.append(
            "CELERY_BROKER_URL must point at Redis (tasks would otherwise run in the web process)"
        )
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must list the host names Blazon is served under")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production mode: " + "; ".join(problems))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "blazon",
    "directory",
    "worklist",
    "vault",
    "provisioning",
    "requests_workflow",
    "sod",
    "privileged",
    "security",
    "oidc",
    "passwords",
    "sso",
    "authn",
    "scim",
    "certification",
    "reconciliation",
    "siem",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content-Security-Policy (with a per-request nonce) and no-store on logged-in/HTML pages
    "blazon.csp.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # the language: the ``django_language`` cookie (set from the user's preference), else the
    # browser's Accept-Language, else LANGUAGE_CODE (docs/configuration.md, "Languages")
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # the logged-in user's language preference wins over the cookie and Accept-Language
    "blazon.language.UserLanguageMiddleware",
    "security.middleware.SessionControlMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # a logged-in user with an expired or temporary password is sent to "Change password"
    "passwords.middleware.PasswordChangeRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "blazon.middleware.RequestContextMiddleware",
    # NUL characters in the path, the query string or a form post: 400 before any view runs
    "blazon.middleware.SafeInputMiddleware",
]

ROOT_URLCONF = "blazon.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "blazon.csp.csp_nonce",
                "django.template.context_processors.i18n",
            ],
            # {% translate %} and {% blocktranslate %} in every template without {% load i18n %}
            "builtins": ["django.templatetags.i18n"],
        },
    },
]

WSGI_APPLICATION = "blazon.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'var' / 'blazon.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded mode's web process and run_adapters write to one SQLite file. SQLite has one
    # writer at a time; what must never reach a user is "database is locked":
    # - every transaction starts with BEGIN IMMEDIATE, so it takes the write lock when it starts
    #   (waiting for it under the busy timeout) instead of upgrading a read lock half way through,
    #   which SQLite refuses at once, without waiting, when another connection writes;
    # - the busy timeout ("timeout", seconds) is how long a writer waits for the lock;
    # - WAL lets readers go on while one connection writes (and a reader never blocks a writer);
    #   synchronous=NORMAL is durable in WAL mode across application crashes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": int(os.environ.get("BLAZON_SQLITE_BUSY_SECONDS", "30")),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    )
    (BASE_DIR / "var").mkdir(exist_ok=True)

AUTH_USER_MODEL = "directory.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Password hashing (docs/passwords.md): Argon2id by default; the first hasher hashes new
# passwords, the others still verify old hashes, which are re-hashed with the first at the next
# successful login. BLAZON_PASSWORD_HASHERS (comma-separated dotted paths) replaces the list.
PASSWORD_HASHERS = env_list(
    "BLAZON_PASSWORD_HASHERS",
    ",".join(
        [
            "passwords.hashers.BlazonArgon2idPasswordHasher",
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
            "django.contrib.auth.hashers.ScryptPasswordHasher",
        ]
    ),
)
# Argon2id cost: passes over memory, memory in KiB, lanes. The default is OWASP's recommended
# Argon2id setting (m=19 MiB, t=2, p=1: ~36 ms of CPU per check, B10 in docs/benchmarks.md);
# RFC 9106's second option (t=3, m=64 MiB, p=4) costs ~260 ms of CPU per login and caps 2 cores at
# ~7 logins/s. Tune with the B10 benchmark.
BLAZON_ARGON2_TIME_COST = int(os.environ.get("BLAZON_ARGON2_TIME_COST", "2"))
BLAZON_ARGON2_MEMORY_KIB = int(os.environ.get("BLAZON_ARGON2_MEMORY_KIB", "19456"))
BLAZON_ARGON2_PARALLELISM = int(os.environ.get("BLAZON_ARGON2_PARALLELISM", "1"))
# Help-desk password reset links expire after this many hours (they also work only once).
BLAZON_PASSWORD_RESET_LINK_HOURS = int(os.environ.get("BLAZON_PASSWORD_RESET_LINK_HOURS", "24"))

# English and Brazilian Portuguese (the seeds' language). The catalog is locale/pt_BR; the .mo
# files are compiled by `manage.py compilemessages` (bin/run, bin/test), never committed.
LANGUAGE_CODE = os.environ.get("BLAZON_LANGUAGE", "en")
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# the pages' short date formats per language (blazon/formats: 2026-12-08 / 08/12/2026)
FORMAT_MODULE_PATH = ["blazon.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "blazon" / "static"]
# WhiteNoise serves the static files in both modes (runserver does not when DEBUG is off).
# Production serves the collected, hashed and compressed files of STATIC_ROOT (collectstatic);
# the embedded mode serves them straight from the apps, with no collectstatic step.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG and not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# One login flow for the console, the workspace and SSO (authn; docs/authentication.md).
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/console/"
# Proxies (CIDR) whose X-Forwarded-For is believed for the client address; empty: REMOTE_ADDR only.
BLAZON_TRUSTED_PROXIES = env_list("BLAZON_TRUSTED_PROXIES")
BLAZON_DEVICE_COOKIE_DAYS = int(os.environ.get("BLAZON_DEVICE_COOKIE_DAYS", "30"))
BLAZON_LOGIN_FLOW_SECONDS = int(os.environ.get("BLAZON_LOGIN_FLOW_SECONDS", "600"))
BLAZON_LOGIN_MAX_FAILURES = int(os.environ.get("BLAZON_LOGIN_MAX_FAILURES", "5"))
BLAZON_OTP_CODE_SECONDS = int(os.environ.get("BLAZON_OTP_CODE_SECONDS", "300"))
BLAZON_OTP_MAX_ATTEMPTS = int(os.environ.get("BLAZON_OTP_MAX_ATTEMPTS", "5"))
BLAZON_OTP_RESEND_SECONDS = int(os.environ.get("BLAZON_OTP_RESEND_SECONDS", "30"))
BLAZON_SECRET_QUESTIONS_MIN = int(os.environ.get("BLAZON_SECRET_QUESTIONS_MIN", "3"))
BLAZON_SECRET_QUESTIONS_ASK = int(os.environ.get("BLAZON_SECRET_QUESTIONS_ASK", "2"))
BLAZON_TOTP_ISSUER = os.environ.get("BLAZON_TOTP_ISSUER", "Blazon")
# SMS: "http" (generic JSON API at BLAZON_SMS_URL with BLAZON_SMS_TOKEN), "console" (log only,
# embedded mode) or the dotted path of a class with send(*, to, message).
BLAZON_SMS_GATEWAY = os.environ.get("BLAZON_SMS_GATEWAY", "http" if PRODUCTION else "console")
BLAZON_SMS_URL = os.environ.get("BLAZON_SMS_URL", "")
BLAZON_SMS_TOKEN = os.environ.get("BLAZON_SMS_TOKEN", "")
BLAZON_SMS_PHONE_ATTRIBUTE = os.environ.get("BLAZON_SMS_PHONE_ATTRIBUTE", "mobile")

# Web sessions (docs/sessions-and-lockouts.md): in the database (default) or Redis, so any web
# node serves any user. The console can override the timeouts and the IP binding.
BLAZON_SESSION_STORE = os.environ.get("BLAZON_SESSION_STORE", "database").strip().lower()
if BLAZON_SESSION_STORE not in {"database", "redis"}:
    raise ImproperlyConfigured(
        f"BLAZON_SESSION_STORE must be 'database' or 'redis', not {BLAZON_SESSION_STORE!r}"
    )
BLAZON_REDIS_URL = os.environ.get("BLAZON_REDIS_URL", "")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if BLAZON_SESSION_STORE == "redis":
    if not BLAZON_REDIS_URL:
        raise ImproperlyConfigured("BLAZON_SESSION_STORE=redis needs BLAZON_REDIS_URL (redis://host:6379/1)")
    CACHES["sessions"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": BLAZON_REDIS_URL,
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    SESSION_CACHE_ALIAS = "sessions"
else:
    SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Absolute and idle timeouts; 0 = sessions are not bound to the client's network, else the IPv4
# prefix length they are bound to (IPv6: the /64).
BLAZON_SESSION_ABSOLUTE_HOURS = int(os.environ.get("BLAZON_SESSION_ABSOLUTE_HOURS", "8"))
BLAZON_SESSION_IDLE_MINUTES = int(os.environ.get("BLAZON_SESSION_IDLE_MINUTES", "30"))
BLAZON_SESSION_BIND_IP_PREFIX = int(os.environ.get("BLAZON_SESSION_BIND_IP_PREFIX", "0"))
# The cookie lives as long as the absolute timeout allows; the middleware enforces both limits.
SESSION_COOKIE_AGE = int(os.environ.get("BLAZON_SESSION_AGE", str(BLAZON_SESSION_ABSOLUTE_HOURS * 3600)))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # "__Host-": the browser only accepts the cookie over HTTPS, for this exact host and path
    # "/", so a sibling subdomain cannot plant or overwrite it (session fixation, CSRF tossing).
    # no script reads the CSRF cookie (forms and htmx take the token from the page)
    CSRF_COOKIE_HTTPONLY = True
    if env_bool("BLAZON_COOKIE_HOST_PREFIX", True):
        SESSION_COOKIE_NAME = "__Host-blazon_session"
        CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_SSL_REDIRECT = env_bool("BLAZON_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("BLAZON_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# E-mail
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Blazon <blazon@localhost>")
# The reply inbox of privileged access approvals (docs/privileged-access.md): approvers answer
# APPROVE/DISAPPROVE to BLAZON_REPLY_ADDRESS (sub-addressed: box+tag@domain); Blazon reads it over
# IMAP. Both the host and the address must be set, else the e-mails carry no reply instructions.
BLAZON_REPLY_ADDRESS = os.environ.get("BLAZON_REPLY_ADDRESS", "")
BLAZON_REPLY_IMAP_HOST = os.environ.get("BLAZON_REPLY_IMAP_HOST", "")
BLAZON_REPLY_IMAP_TLS = os.environ.get("BLAZON_REPLY_IMAP_TLS", "ssl")  # ssl | starttls | none
BLAZON_REPLY_IMAP_PORT = int(
    os.environ.get("BLAZON_REPLY_IMAP_PORT", "993" if BLAZON_REPLY_IMAP_TLS == "ssl" else "143")
)
# a CA bundle (PEM) to verify the IMAP server's certificate with; empty: the system's
BLAZON_REPLY_IMAP_CA_FILE = os.environ.get("BLAZON_REPLY_IMAP_CA_FILE", "")
BLAZON_REPLY_IMAP_USER = os.environ.get("BLAZON_REPLY_IMAP_USER", "")
BLAZON_REPLY_IMAP_PASSWORD = os.environ.get("BLAZON_REPLY_IMAP_PASSWORD", "")
BLAZON_REPLY_IMAP_MAILBOX = os.environ.get("BLAZON_REPLY_IMAP_MAILBOX", "INBOX")
BLAZON_REPLY_IMAP_DONE_MAILBOX = os.environ.get("BLAZON_REPLY_IMAP_DONE_MAILBOX", "")
BLAZON_REPLY_IMAP_TIMEOUT = int(os.environ.get("BLAZON_REPLY_IMAP_TIMEOUT", "30"))

# Celery: Redis in production; the embedded default runs tasks in-process (eager).
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
# In-process (eager) mode never talks to a broker; "memory://" keeps kombu from looking for one.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
# Durability (docs/deployment.md, "What survives what"). A message is acknowledged after its
# task ran (acks late), and one whose worker process died is put back (reject on worker lost):
# every project task is idempotent, so a second run is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# The longest task may run BLAZON_TASK_TIME_LIMIT seconds (then it is killed, and retried by the
# outbox). Redis hands an unacknowledged message out again after the visibility timeout, so it
# must exceed the longest task, or a running task would be started a second time: time limit +
# 5 minutes. A message held by a worker that was SIGKILLed comes back only then; outbox work does
# not wait for it (the outbox relay hands it out again after BLAZON_OUTBOX_LEASE_SECONDS).
BLAZON_TASK_TIME_LIMIT = int(os.environ.get("BLAZON_TASK_TIME_LIMIT", "1800"))
CELERY_TASK_TIME_LIMIT = BLAZON_TASK_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = max(BLAZON_TASK_TIME_LIMIT - 30, 1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": BLAZON_TASK_TIME_LIMIT + 300,
    # a broker that does not answer must not hold a web request for long: the outbox keeps the
    # work, the relay sends it later
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}

# The transactional outbox (blazon/outbox): a delivery not completed within the lease is handed
# out again by the relay (every BLAZON_OUTBOX_RELAY_SECONDS); after BLAZON_OUTBOX_MAX_ATTEMPTS
# failures a row is dead-lettered (console: Operations -> Dead letters). Completed rows are kept
# BLAZON_OUTBOX_KEEP_DAYS days. Work in an intermediate state (a request NEW, APPROVED, …)
# older than BLAZON_STUCK_AFTER_SECONDS is re-driven by the sweep and shown on the dashboard.
BLAZON_OUTBOX_LEASE_SECONDS = int(os.environ.get("BLAZON_OUTBOX_LEASE_SECONDS", "60"))
BLAZON_OUTBOX_RELAY_SECONDS = float(os.environ.get("BLAZON_OUTBOX_RELAY_SECONDS", "10"))
BLAZON_OUTBOX_MAX_ATTEMPTS = int(os.environ.get("BLAZON_OUTBOX_MAX_ATTEMPTS", "10"))
BLAZON_OUTBOX_RETRY_SECONDS = int(os.environ.get("BLAZON_OUTBOX_RETRY_SECONDS", "10"))
BLAZON_OUTBOX_KEEP_DAYS = int(os.environ.get("BLAZON_OUTBOX_KEEP_DAYS", "7"))
BLAZON_STUCK_AFTER_SECONDS = int(os.environ.get("BLAZON_STUCK_AFTER_SECONDS", "300"))
BLAZON_SWEEP_SECONDS = float(os.environ.get("BLAZON_SWEEP_SECONDS", "60"))
# /readyz answers 503 when the oldest undone outbox work is older than this
BLAZON_READY_MAX_LAG_SECONDS = int(os.environ.get("BLAZON_READY_MAX_LAG_SECONDS", "600"))
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# SIEM forwarding (siem/, docs/siem.md): a run every BLAZON_SIEM_FORWARD_SECONDS (Celery beat) or
# every BLAZON_SIEM_POLL_SECONDS (manage.py forward_audit --loop) sends batches of BLAZON_SIEM_BATCH
# events for at most BLAZON_SIEM_RUN_SECONDS per destination; a failed batch is retried after
# BLAZON_SIEM_RETRY_SECONDS, doubling up to BLAZON_SIEM_RETRY_MAX_SECONDS.
BLAZON_SIEM_FORWARD_SECONDS = float(os.environ.get("BLAZON_SIEM_FORWARD_SECONDS", "10"))
BLAZON_SIEM_POLL_SECONDS = float(os.environ.get("BLAZON_SIEM_POLL_SECONDS", "1"))
BLAZON_SIEM_BATCH = int(os.environ.get("BLAZON_SIEM_BATCH", "1000"))
BLAZON_SIEM_RUN_SECONDS = float(os.environ.get("BLAZON_SIEM_RUN_SECONDS", "50"))
BLAZON_SIEM_RETRY_SECONDS = int(os.environ.get("BLAZON_SIEM_RETRY_SECONDS", "10"))
BLAZON_SIEM_RETRY_MAX_SECONDS = int(os.environ.get("BLAZON_SIEM_RETRY_MAX_SECONDS", "600"))
BLAZON_SIEM_TIMEOUT_SECONDS = float(os.environ.get("BLAZON_SIEM_TIMEOUT_SECONDS", "10"))
# one UDP datagram per event, cut to this size (rsyslog's default maximum is 8 KiB)
BLAZON_SIEM_UDP_MAX_BYTES = int(os.environ.get("BLAZON_SIEM_UDP_MAX_BYTES", "8192"))
# HOSTNAME of the syslog header
BLAZON_SIEM_HOSTNAME = os.environ.get("BLAZON_SIEM_HOSTNAME", "blazon")
CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {
        "task": "blazon.outbox.relay",
        "schedule": timedelta(seconds=BLAZON_OUTBOX_RELAY_SECONDS),
    },
    "work-sweep": {
        "task": "blazon.outbox.sweep",
        "schedule": timedelta(seconds=BLAZON_SWEEP_SECONDS),
    },
    "directory-auto-revoke-inactive": {
        "task": "directory.tasks.auto_revoke_inactive_users",
        "schedule": timedelta(hours=1),
    },
    "directory-auto-remove-revoked": {
        "task": "directory.tasks.auto_remove_revoked_users",
        "schedule": timedelta(hours=1),
    },
    "directory-purge-removed": {
        "task": "directory.tasks.purge_removed_users",
        "schedule": timedelta(hours=6),
    },
    "directory-expire-temporary-accounts": {
        "task": "directory.tasks.expire_temporary_accounts",
        "schedule": timedelta(minutes=15),
    },
    "requests-start-due": {
        "task": "requests_workflow.tasks.start_due_requests",
        "schedule": timedelta(minutes=5),
    },
    "requests-notify-expiring-access": {
        "task": "requests_workflow.tasks.notify_expiring_access",
        "schedule": timedelta(hours=1),
    },
    "requests-end-expired-access": {
        "task": "requests_workflow.tasks.end_expired_access",
        "schedule": timedelta(minutes=5),
    },
    "requests-escalate-due-tasks": {
        "task": "requests_workflow.tasks.escalate_due_tasks",
        "schedule": timedelta(minutes=5),
    },
    "authn-purge-login-records": {
        "task": "authn.tasks.purge_login_records",
        "schedule": timedelta(hours=6),
    },
    # safety net: MANUAL entries whose on-commit task was lost get their task here
    "security-purge-login-attempts": {
        "task": "security.tasks.purge_login_attempts",
        "schedule": timedelta(hours=1),
    },
    "provisioning-open-manual-tasks": {
        "task": "provisioning.tasks.open_manual_tasks",
        "schedule": timedelta(minutes=5),
    },
    # detective segregation of duties: every active user against every active rule
    "sod-scan-violations": {
        "task": "sod.tasks.scan_violations",
        "schedule": timedelta(minutes=int(os.environ.get("BLAZON_SOD_SCAN_MINUTES", "60"))),
    },
    # privileged access: windows that are over give their credential back (rotated)
    "privileged-expire-windows": {
        "task": "privileged.tasks.expire_access_windows",
        "schedule": timedelta(minutes=1),
    },
    # privileged access: approvers' APPROVE/DISAPPROVE e-mail replies (nothing without an inbox)
    "privileged-poll-reply-inbox": {
        "task": "privileged.tasks.poll_reply_inbox",
        "schedule": timedelta(seconds=int(os.environ.get("BLAZON_REPLY_POLL_SECONDS", "60"))),
    },
    "privileged-rotate-due-passwords": {
        "task": "privileged.tasks.rotate_due_passwords",
        "schedule": timedelta(hours=1),
    },
    # certification: finish ended campaigns, start the campaigns of due policies
    "certification-run": {
        "task": "certification.tasks.run_certification",
        "schedule": timedelta(minutes=int(os.environ.get("BLAZON_CERTIFICATION_RUN_MINUTES", "60"))),
    },
    # reconciliation profiles with a cron schedule: start the runs due this minute
    "reconciliation-start-scheduled-runs": {
        "task": "reconciliation.tasks.start_scheduled_runs",
        "schedule": timedelta(minutes=1),
    },
    # the per-code records of the OIDC provider (auth_time/amr, code-replay revocation)
    "oidc-purge-authorizations": {
        "task": "oidc.tasks.purge_authorizations",
        "schedule": timedelta(hours=1),
    },
    # SIEM forwarding: every enabled destination sends the audit events after its cursor
    "siem-forward-audit-events": {
        "task": "siem.tasks.forward_audit_events",
        "schedule": timedelta(seconds=BLAZON_SIEM_FORWARD_SECONDS),
    },
}

# Segregation of duties: the longest exception an owner may grant.
BLAZON_SOD_EXCEPTION_MAX_DAYS = int(os.environ.get("BLAZON_SOD_EXCEPTION_MAX_DAYS", "365"))
# The approval steps of a role change (seed 004, docs/roles-and-sod.md); each can be switched off.
BLAZON_ROLE_CHANGE_OWNER_APPROVAL = env_bool("BLAZON_ROLE_CHANGE_OWNER_APPROVAL", True)
BLAZON_ROLE_CHANGE_SOD_CHECK = env_bool("BLAZON_ROLE_CHANGE_SOD_CHECK", True)
BLAZON_ROLE_CHANGE_ACCESS_OWNER_APPROVAL = env_bool("BLAZON_ROLE_CHANGE_ACCESS_OWNER_APPROVAL", True)
BLAZON_ROLE_CHANGE_INTRA_ROLE_CHECK = env_bool("BLAZON_ROLE_CHANGE_INTRA_ROLE_CHECK", True)

# Directory life-cycle knobs.
BLAZON_AUTO_REVOKE_INACTIVE_DAYS = int(os.environ.get("BLAZON_AUTO_REVOKE_INACTIVE_DAYS", "90"))
BLAZON_AUTO_REMOVE_REVOKED_DAYS = int(os.environ.get("BLAZON_AUTO_REMOVE_REVOKED_DAYS", "30"))
BLAZON_PURGE_REMOVED_AFTER_DAYS = int(os.environ.get("BLAZON_PURGE_REMOVED_AFTER_DAYS", "30"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "blazon.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["blazon.api.permissions.AdminRolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "blazon.api.filters.FieldFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "blazon.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "blazon.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # NUL characters, lone surrogates and JSON nested too deep: 400 before any view runs
    "DEFAULT_PARSER_CLASSES": [
        "blazon.api.parsers.SafeJSONParser",
        "blazon.api.parsers.SafeFormParser",
        "blazon.api.parsers.SafeMultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Blazon API",
    "DESCRIPTION": "Identity governance and privileged access — REST API v1.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc assets are served locally (on-premise, often air-gapped: no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "OAUTH2_FLOWS": ["clientCredentials"],
    "OAUTH2_TOKEN_URL": "/o/token/",
    # every error response an operation can give is in the schema (blazon/api/schema.py)
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "blazon.api.schema.add_error_responses",
    ],
    # Choice sets that share a field name ("status", "management", "source") get stable names.
    "ENUM_NAME_OVERRIDES": {
        "UserStatusEnum": "directory.models.UserStatus",
        "AccountStatusEnum": "directory.models.AccountStatus",
        "RoleChangeStatusEnum": "directory.models.RoleChangeStatus",
        "ManagementEnum": "directory.models.Management",
        "RoleMembershipManagementEnum": "directory.models.RoleMembershipManagement",
        "SourceEnum": "directory.models.Source",
        "ProvisioningEventEnum": "directory.models.ProvisioningEvent",
        "EntryStatusEnum": "provisioning.models.EntryStatus",
        # an SoD rule's severity has the values of a criticality: one enum
        "CriticalityEnum": "directory.models.Criticality",
        "SoDItemKindEnum": "sod.models.ItemKind",
        "SoDViolationStatusEnum": "sod.models.ViolationStatus",
        "AccessStatusEnum": "privileged.models.AccessStatus",
        "AccessLevelApproverEnum": "privileged.models.LevelApprover",
        "CredentialTypeEnum": "privileged.models.CredentialType",
        "ItsmKindEnum": "privileged.models.ItsmKind",
        "AccountTypeEnum": "directory.models.AccountType",
        "CertificationObjectKindEnum": "certification.models.ObjectKind",
        "CertificationReviewerKindEnum": "certification.models.ReviewerKind",
        "CertificationUndecidedActionEnum": "certification.models.UndecidedAction",
        "CertificationCampaignStatusEnum": "certification.models.CampaignStatus",
        "CertificationDecisionEnum": "certification.models.Decision",
        "CertificationDecideEnum": "certification.models.DECIDE_CHOICES",
        # a directory event's decision keeps the name it had before certification's decisions came
        "DecisionEnum": "directory.models.DirectoryEventDecision",
        "CertificationOutcomeEnum": "certification.models.Outcome",
        "ReconciliationRunStatusEnum": "reconciliation.models.RunStatus",
        "ReconciliationSituationEnum": "reconciliation.models.Situation",
        "ReconciliationActionEnum": "reconciliation.models.Action",
        "ReconciliationProfileKindEnum": "reconciliation.models.ProfileKind",
    },
}

# Generated OAuth2 client secrets are verified by their own hasher (oidc.hashers; always last in
# the list, so never used for a person's password, whatever BLAZON_PASSWORD_HASHERS says).
if "oidc.hashers.ClientSecretHasher" not in PASSWORD_HASHERS:
    PASSWORD_HASHERS.append("oidc.hashers.ClientSecretHasher")

# OpenID Connect provider (oidc app, docs/sso-oidc.md). Custom claims released per scope:
# BLAZON_OIDC_SCOPE_CLAIMS='{"org": {"department": "department", "cost_center": "cost_center"}}'
# maps scope -> {claim: user field or key of User.attributes}.
BLAZON_OIDC_SCOPE_CLAIMS: dict[str, dict[str, str]] = json.loads(
    os.environ.get("BLAZON_OIDC_SCOPE_CLAIMS", "") or "{}"
)
# An RS256 private key (PEM) given by the environment signs ID tokens instead of the stored keys.
BLAZON_OIDC_RSA_PRIVATE_KEY = os.environ.get("BLAZON_OIDC_RSA_PRIVATE_KEY", "")
# How long a replaced signing key stays in the JWKS (longer than any ID token lives).
BLAZON_OIDC_KEY_OVERLAP_SECONDS = int(os.environ.get("BLAZON_OIDC_KEY_OVERLAP_SECONDS", str(7 * 24 * 3600)))

# OAuth2 (django-oauth-toolkit): resource adapters authenticate with client credentials at
# /o/token/ and call /api/v1/adapter/ with the "adapter" scope (docs/adapters.md); OIDC clients
# use the authorization code with PKCE (docs/sso-oidc.md). oidc.scopes keeps the two apart.
OAUTH2_PROVIDER: dict[str, Any] = {
    "SCOPES": {
        "adapter": "Resource adapter: pull provisioning entries and report their outcome",
        "openid": "Sign you in with your Blazon identity",
        "profile": "Your name and username",
        "email": "Your e-mail address",
        **{scope: f"Your {', '.join(claims)}" for scope, claims in BLAZON_OIDC_SCOPE_CLAIMS.items()},
    },
    "DEFAULT_SCOPES": ["adapter"],
    "SCOPES_BACKEND_CLASS": "oidc.scopes.BlazonScopes",
    "OAUTH2_VALIDATOR_CLASS": "oidc.validators.BlazonOAuth2Validator",
    "CLIENT_SECRET_HASHER": "blazon_client_secret",
    "OIDC_ENABLED": True,
    # empty: derived from the request as <origin>/o (set it behind a proxy that rewrites hosts)
    "OIDC_ISS_ENDPOINT": os.environ.get("BLAZON_OIDC_ISSUER", ""),
    "ID_TOKEN_EXPIRE_SECONDS": int(os.environ.get("BLAZON_OIDC_ID_TOKEN_SECONDS", "3600")),
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS": False,
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("BLAZON_ADAPTER_TOKEN_SECONDS", "3600")),
    # RFC 9700 (OAuth 2.0 Security BCP), every recommendation on: no implicit or password grant,
    # S256 PKCE only, tokens never in the query string and stored hashed, https redirect URIs,
    # refresh-token replay revokes the family. Adapters use client credentials only.
    **{
        f"COMPLIANT_BCP_RFC9700_{name}": True
        for name in (
            "IMPLICIT_GRANT",
            "PASSWORD_GRANT",
            "PKCE_METHOD",
            "ACCESS_TOKEN_TRANSPORT",
            "AUTHZ_RESPONSE_ISS",
            "TOKEN_STORAGE",
            "REFRESH_TOKEN",
            "REDIRECT_URI_SCHEME",
            "REDIRECT_URI_MATCHING",
            "PKCE_REQUIRED",
        )
    },
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
# Adapter leases and retries (provisioning.services.adapter).
BLAZON_ADAPTER_LEASE_SECONDS = int(os.environ.get("BLAZON_ADAPTER_LEASE_SECONDS", "300"))
# The shortest lease an adapter may ask for (tests of dead adapters lower it to seconds).
BLAZON_ADAPTER_MIN_LEASE_SECONDS = int(os.environ.get("BLAZON_ADAPTER_MIN_LEASE_SECONDS", "10"))
BLAZON_ADAPTER_MAX_TRANSIENT_FAILURES = int(os.environ.get("BLAZON_ADAPTER_MAX_TRANSIENT_FAILURES", "5"))
# Where the in-process adapters (run_adapters) keep their journals and CSV applications; empty: var/.
BLAZON_INPROCESS_DIR = os.environ.get("BLAZON_INPROCESS_DIR", "")
# An entry PENDING longer than this is "stuck" (console dashboard tile, adapter health).
BLAZON_PROVISIONING_STUCK_MINUTES = int(os.environ.get("BLAZON_PROVISIONING_STUCK_MINUTES", "60"))

# SAML identity provider (docs/sso-saml.md). BLAZON_BASE_URL is the public https URL Blazon is
# reached at (endpoints in the metadata and Destination checks); empty: the request's host.
BLAZON_BASE_URL = os.environ.get("BLAZON_BASE_URL", "").rstrip("/")
BLAZON_SAML_ENTITY_ID = os.environ.get("BLAZON_SAML_ENTITY_ID", "")
BLAZON_SAML_KEY_SIZE = int(os.environ.get("BLAZON_SAML_KEY_SIZE", "3072"))
BLAZON_SAML_ASSERTION_MINUTES = int(os.environ.get("BLAZON_SAML_ASSERTION_MINUTES", "5"))
BLAZON_SAML_PENDING_SECONDS = int(os.environ.get("BLAZON_SAML_PENDING_SECONDS", "600"))
BLAZON_SAML_CLOCK_SKEW = int(os.environ.get("BLAZON_SAML_CLOCK_SKEW", "60"))
BLAZON_SAML_ALLOW_HTTP = env_bool("BLAZON_SAML_ALLOW_HTTP", False)  # http:// SP URLs in production (labs)
# "inprocess" (default): responses signed with the xmlsec binding; "xmlsec1": pysaml2 runs the binary
BLAZON_SAML_SIGNER = os.environ.get("BLAZON_SAML_SIGNER", "inprocess")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "blazon.logging.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [cid=%(correlation_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("BLAZON_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # pysaml2 loads XML schemas at import and logs each at INFO
        "xmlschema": {"level": "WARNING"},
        # embedded mode runs every task in-process: one "Task … succeeded" line per task and
        # kombu's in-memory broker warning are noise there; a real worker keeps its INFO lines
        **(
            {"celery.app.trace": {"level": "WARNING"}, "kombu.connection": {"level": "ERROR"}}
            if CELERY_TASK_ALWAYS_EAGER
            else {}
        ),
    },
}
