"""Settings for smsgateway, read from the environment (twelve-factor).

Every setting the operator may change is read here and only here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-in-production")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Absolute base (scheme, host, optional port) used to build the DLR callback URLs
# that providers call; it must be reachable from the provider.
SMSGATEWAY_BASE_URL = env.str("SMSGATEWAY_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# When true, provider endpoints may be http:// and may resolve to loopback or private
# addresses. Only the local demo and the tests turn this on.
SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = env.bool("SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS", default=False)
# The built-in sandbox provider (a fake Sinch India endpoint) is served only when enabled.
SMSGATEWAY_SANDBOX_ENABLED = env.bool("SMSGATEWAY_SANDBOX_ENABLED", default=False)
SMSGATEWAY_SANDBOX_USERNAME = env.str("SMSGATEWAY_SANDBOX_USERNAME", default="sandbox-user")
SMSGATEWAY_SANDBOX_PASSWORD = env.str("SMSGATEWAY_SANDBOX_PASSWORD", default="sandbox-pass")
# Seconds between the sandbox accepting a message and posting its delivery report.
SMSGATEWAY_SANDBOX_DLR_DELAY = env.float("SMSGATEWAY_SANDBOX_DLR_DELAY", default=2.0)
# Fernet keys (url-safe base64, 32 bytes) for provider secrets; the first encrypts,
# all decrypt, so a new key can be put in front while old rows are re-encrypted.
# Without it, a key is derived from SECRET_KEY.
SMSGATEWAY_ENCRYPTION_KEYS = env.list("SMSGATEWAY_ENCRYPTION_KEYS", default=[])
# Outbound HTTP timeouts in seconds (connect, read).
SMSGATEWAY_CONNECT_TIMEOUT = env.float("SMSGATEWAY_CONNECT_TIMEOUT", default=5.0)
SMSGATEWAY_READ_TIMEOUT = env.float("SMSGATEWAY_READ_TIMEOUT", default=15.0)
# A message in `sending` longer than this was abandoned by a worker that died and is
# requeued (default: four times connect + read timeout, at least two minutes); each
# worker looks for such messages every SMSGATEWAY_HOUSEKEEPING_SECONDS.
SMSGATEWAY_STUCK_AFTER_SECONDS = env.float("SMSGATEWAY_STUCK_AFTER_SECONDS", default=0) or None
SMSGATEWAY_HOUSEKEEPING_SECONDS = env.float("SMSGATEWAY_HOUSEKEEPING_SECONDS", default=60.0)
# /healthz and /metrics: a db_worker not seen for this long counts as gone (its running
# tasks are then run again). Workers beat every SMSGATEWAY_HOUSEKEEPING_SECONDS.
SMSGATEWAY_WORKER_STALE_SECONDS = env.float("SMSGATEWAY_WORKER_STALE_SECONDS", default=180.0)
# Bearer token with which Prometheus may read /metrics; empty: staff sessions only.
SMSGATEWAY_METRICS_TOKEN = env.str("SMSGATEWAY_METRICS_TOKEN", default="")
# How many times a transient send failure is retried before the message fails.
SMSGATEWAY_MAX_SEND_ATTEMPTS = env.int("SMSGATEWAY_MAX_SEND_ATTEMPTS", default=5)
# Backoff for retries: base and cap, in seconds (full jitter between 0 and the capped value).
SMSGATEWAY_RETRY_BASE_SECONDS = env.float("SMSGATEWAY_RETRY_BASE_SECONDS", default=2.0)
SMSGATEWAY_RETRY_MAX_SECONDS = env.float("SMSGATEWAY_RETRY_MAX_SECONDS", default=300.0)
# Campaigns: the largest recipient file accepted (refused before parsing), the size
# up to which a file is imported during the upload request, and messages in flight per
# worker and provider (one event loop, so hundreds cost little: a provider answering in
# 100 ms needs about 400 in flight for 4,000 messages a second; a batch request counts
# its records, with at least 4 requests in flight).
SMSGATEWAY_MAX_UPLOAD_BYTES = env.int("SMSGATEWAY_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
SMSGATEWAY_INLINE_IMPORT_BYTES = env.int("SMSGATEWAY_INLINE_IMPORT_BYTES", default=2 * 1024 * 1024)
SMSGATEWAY_SEND_CONCURRENCY = env.int("SMSGATEWAY_SEND_CONCURRENCY", default=512)
# How often a worker's dispatcher looks for due messages when nothing woke it (queued
# messages wake it at once: NOTIFY on PostgreSQL, a check of the file on SQLite).
SMSGATEWAY_DISPATCH_POLL_SECONDS = env.float("SMSGATEWAY_DISPATCH_POLL_SECONDS", default=1.0)
# An OAuth 2.0 provider whose token endpoint fails (refuses the credentials, is down)
# holds its messages, queued, and each worker asks it again after this many seconds.
SMSGATEWAY_OAUTH_RETRY_SECONDS = env.float("SMSGATEWAY_OAUTH_RETRY_SECONDS", default=120.0)
# How long a web process trusts what it looked up for the DLR callback and the API (a
# provider, an API token) before asking the database again (changes saved through
# another process show after this).
SMSGATEWAY_LOOKUP_CACHE_SECONDS = env.float(
    "SMSGATEWAY_LOOKUP_CACHE_SECONDS",
    # Its earlier name, when it served the DLR callback alone.
    default=env.float("SMSGATEWAY_CALLBACK_CACHE_SECONDS", default=2.0),
)
# Promotional messages to Indian numbers wait outside this window (IST, "HH:MM-HH:MM").
SMSGATEWAY_PROMOTIONAL_WINDOW = env.str("SMSGATEWAY_PROMOTIONAL_WINDOW", default="09:00-21:00")
# India DLT: the longest value of an untyped {#var#} and of an {#alphanumeric#} variable.
# Sources differ; the defaults are the stricter readings (dlt/rules.py cites them).
SMSGATEWAY_DLT_VAR_MAX_LENGTH = env.int("SMSGATEWAY_DLT_VAR_MAX_LENGTH", default=30)
SMSGATEWAY_DLT_ALPHANUMERIC_MAX_LENGTH = env.int(
    "SMSGATEWAY_DLT_ALPHANUMERIC_MAX_LENGTH", default=40
)
# A reply whose first word is one of these opts its number out, or back in (any case).
SMSGATEWAY_OPT_OUT_KEYWORDS = env.list(
    "SMSGATEWAY_OPT_OUT_KEYWORDS",
    default=["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"],
)
SMSGATEWAY_OPT_IN_KEYWORDS = env.list("SMSGATEWAY_OPT_IN_KEYWORDS", default=["START", "UNSTOP"])
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Before django_tasks_db: providers' db_worker wraps the original one.
    "dlt",
    "providers",
    "campaigns",
    "django_tasks",
    "django_tasks_db",
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
    "smsgateway.middleware.ContentSecurityPolicyMiddleware",
    "smsgateway.middleware.CallbackErrorMiddleware",
    # Last, as django-axes asks: it turns a lockout into its answer.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a login while its username and address are locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: after this many failures for one username from one address, that
# pair is locked out for the cool-off period (the dashboard and the admin alike).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# No start-up banner in every process's log (lockouts and logins are still logged).
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("PROXY_COUNT", default=0) or None

# Every page: scripts and styles only from this site (no inline script anywhere).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
X_FRAME_OPTIONS = "DENY"

# Behind https (production): secure cookies, HSTS, http redirected to https. The
# health check stays reachable over plain http for load balancers.
SMSGATEWAY_HTTPS = env.bool("SMSGATEWAY_HTTPS", default=False)
if SMSGATEWAY_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

ROOT_URLCONF = "smsgateway.urls"
WSGI_APPLICATION = "smsgateway.wsgi.application"

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while the worker writes; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on the busy timeout instead of failing mid-transaction.
    # The log is copied back into the database every 10,000 pages (40 MB), not every
    # 1,000: a set of delivery reports or sends dirties about that many, and SQLite's
    # default made nearly every such commit copy them all (DLR sets 11,300 -> 13,300
    # reports/s, single reports 1,350 -> 1,550 requests/s; p99 50 -> 75 ms).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                " PRAGMA wal_autocheckpoint=10000;"
            ),
        }
    )
    # Tests use a file too, not SQLite's in-memory database: its connections fail at once
    # on a lock instead of waiting, unlike the product's (workers and web in parallel).
    # One file per test run, so that two runs in one checkout never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"smsgateway-test-{os.getpid()}.sqlite3")
    }
# Connections kept between requests: opening one (and, on SQLite, running its PRAGMAs)
# costs more than a DLR callback's whole work.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Kolkata")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Tests and DEBUG serve files straight from the finders, no collectstatic needed.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)

TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "providers.api.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "smsgateway.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "smsgateway API",
    "DESCRIPTION": "SMS providers, messages and delivery reports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from the installed sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status`; each set of choices gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "providers.models.Message.Status",
        "DltHeaderStatusEnum": "dlt.models.Header.Status",
        "DltTemplateStatusEnum": "dlt.models.Template.Status",
    },
}

# Error reports: e-mailed to these addresses (outside DEBUG), with every credential hidden.
ADMINS = [("", address) for address in env.list("SMSGATEWAY_ADMIN_EMAILS", default=[])]
SERVER_EMAIL = env.str("SERVER_EMAIL", default="smsgateway@localhost")
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_EXCEPTION_REPORTER_FILTER = "smsgateway.errors.SecretsReporterFilter"

# Log lines as plain text (default) or one JSON object per line (LOG_FORMAT=json).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "smsgateway.logging.UtcFormatter"},
        "json": {"()": "smsgateway.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
