"""Blazon settings, all from the environment (12-factor).

Two modes share this file:
- embedded default (no variables set): SQLite, tasks run in-process, DEBUG on;
- production (``BLAZON_ENV=production``): PostgreSQL, Redis + Celery, and a start-up check
  that refuses DEBUG, the default secret key or a missing vault key.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

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
DEBUG = env_bool("BLAZON_DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Vault master keys: "version:base64key,version:base64key"; the highest version wraps new secrets.
# The embedded default derives a development key so the demo runs with nothing configured.
BLAZON_VAULT_KEYS = os.environ.get("BLAZON_VAULT_KEYS", "")

if PRODUCTION:
    problems = []
    if DEBUG:
        problems.append("DEBUG must be off in production (unset BLAZON_DEBUG)")
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("BLAZON_SECRET_KEY must be set to a random value of at least 50 characters")
    if not BLAZON_VAULT_KEYS:
        problems.append("BLAZON_VAULT_KEYS must be set (see docs/configuration.md)")
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
    "vault",
    "provisioning",
    "requests_workflow",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "blazon.middleware.RequestContextMiddleware",
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
            ],
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
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    (BASE_DIR / "var").mkdir(exist_ok=True)

AUTH_USER_MODEL = "directory.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "blazon" / "static"]
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

LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"

# Sessions in the database so any web node serves any user.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = int(os.environ.get("BLAZON_SESSION_AGE", str(8 * 3600)))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
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

# Celery: Redis in production; the embedded default runs tasks in-process (eager).
CELERY_TASK_ALWAYS_EAGER = not os.environ.get("CELERY_BROKER_URL")
# In-process (eager) mode never talks to a broker; "memory://" keeps kombu from looking for one.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "directory-auto-revoke-inactive": {
        "task": "directory.tasks.auto_revoke_inactive_users",
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
    # safety net: MANUAL entries whose on-commit task was lost get their task here
    "provisioning-open-manual-tasks": {
        "task": "provisioning.tasks.open_manual_tasks",
        "schedule": timedelta(minutes=5),
    },
}

# Directory life-cycle knobs.
BLAZON_AUTO_REVOKE_INACTIVE_DAYS = int(os.environ.get("BLAZON_AUTO_REVOKE_INACTIVE_DAYS", "90"))
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
    },
}

# OAuth2 (django-oauth-toolkit): resource adapters authenticate with client credentials at
# /o/token/ and call /api/v1/adapter/ with the "adapter" scope (docs/adapters.md).
OAUTH2_PROVIDER = {
    "SCOPES": {"adapter": "Resource adapter: pull provisioning entries and report their outcome"},
    "DEFAULT_SCOPES": ["adapter"],
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
# An entry PENDING longer than this is "stuck" (console dashboard tile, adapter health).
BLAZON_PROVISIONING_STUCK_MINUTES = int(os.environ.get("BLAZON_PROVISIONING_STUCK_MINUTES", "60"))

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
        # embedded mode runs every task in-process: one "Task … succeeded" line per task and
        # kombu's in-memory broker warning are noise there; a real worker keeps its INFO lines
        **(
            {"celery.app.trace": {"level": "WARNING"}, "kombu.connection": {"level": "ERROR"}}
            if CELERY_TASK_ALWAYS_EAGER
            else {}
        ),
    },
}
