"""linksite settings: one flat module, everything read from the environment.

Values come from environment variables and, when present, a `.env` file next to `manage.py`
(environment variables win). Defaults suit a production deployment except where `DEBUG` is on:
`make run` writes a `.env` with `DEBUG=1` for the local default run. The README lists every
variable.
"""

import datetime as dt
import os
import re
import secrets
import sys
import zoneinfo
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# ENV_FILE names another file to read, or none at all when empty.
ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
# Commands that sign nothing and serve nothing run without one (a random key for the process).
KEYLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate", "compilemessages"}
if not SECRET_KEY and not DEBUG and sys.argv[1:2] and sys.argv[1] in KEYLESS_COMMANDS:
    SECRET_KEY = secrets.token_urlsafe(50)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off linksite needs a long random SECRET_KEY in "
            "the environment or in .env, e.g. the output of: python3 -c "
            '"import secrets; print(secrets.token_urlsafe(50))"'
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789"  # noqa: S105

SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
_site_host = urlsplit(SITE_URL).hostname or "localhost"
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[_site_host, "localhost", "127.0.0.1", "[::1]"] if DEBUG else [_site_host],
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "accounts",
    "feeds",
    "qbo_sandbox",
    "linksite.apps.LinksiteAdminConfig",  # django.contrib.admin
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "ninja",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "linksite.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "feeds.link.ratelimit.LinkRateLimitMiddleware",
    "feeds.api.middleware.ApiMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "linksite.urls"
WSGI_APPLICATION = "linksite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: a SQLite file under var/ unless DATABASE_URL says otherwise. SQLite takes its write
# lock up front (IMMEDIATE) and waits for a busy lock instead of failing at once: web, worker and
# scheduler all write to the same file.
VAR_DIR.mkdir(exist_ok=True)


def _sqlite_options(database: dict) -> dict:
    if database["ENGINE"] == "django.db.backends.sqlite3":
        options = database.setdefault("OPTIONS", {})
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    return database


DATABASES = {
    "default": _sqlite_options(
        env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'linksite.sqlite3'}")
    ),
}
# The QBO sandbox's tables in a database of their own (`linksite.routers`), as QBO has: set by
# `make run` and the benchmarks on SQLite, where one file means one write lock for both.
if QBO_SANDBOX_DATABASE_URL := env.str("QBO_SANDBOX_DATABASE_URL", default=""):
    DATABASES["qbo_sandbox"] = _sqlite_options(env.db_url_config(QBO_SANDBOX_DATABASE_URL))
    DATABASE_ROUTERS = ["linksite.routers.SandboxRouter"]
# Connections are kept between requests on both databases (opening one, with SQLite's pragmas,
# cost more than a Link status poll), checked before reuse.
for _database in DATABASES.values():
    _database.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    _database["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql") and env.bool(
    "DATABASE_PREPARED_READS", default=True
):
    # The few reads every Link request makes (`feeds.prepared`) become server-side prepared
    # statements on each connection after 2 runs: PostgreSQL plans them once, not on every
    # request. (The ORM's own queries bind on the client and are never prepared.) Behind a
    # pooler in transaction mode that cannot keep prepared statements, set
    # DATABASE_PREPARED_READS=0.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The only sign-in is the operators' admin: after it, and for any page that needs it, admin.
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Languages: Canadian English and French, so Django uses its en_CA / fr_CA format modules. Django
# has no fr_CA message catalog; its own strings fall back to fr.
LANGUAGE_CODE = "en-ca"
LANGUAGES = [("en-ca", _("English")), ("fr-ca", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["linksite.formats"]
USE_I18N = True
USE_TZ = True

TIME_ZONE = env.str("TIME_ZONE", default="America/Toronto")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(
        f"TIME_ZONE={TIME_ZONE!r} is not a known IANA time zone (e.g. America/Toronto)."
    ) from exc


def _local_time(name: str, default: str) -> dt.time:
    value = env.str(name, default=default)
    try:
        return dt.time.fromisoformat(value)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a time of day; use 24-hour HH:MM, e.g. {default}."
        ) from exc


# When the worker pushes every feed, and when it runs the daily maintenance, in TIME_ZONE.
DAILY_PUSH_TIME = _local_time("DAILY_PUSH_TIME", "02:00")
DAILY_MAINTENANCE_TIME = _local_time("DAILY_MAINTENANCE_TIME", "03:30")
# Days between QBO disabling a feed and the source account showing `disconnected`.
FEED_DISCONNECT_GRACE_DAYS = env.int("FEED_DISCONNECT_GRACE_DAYS", default=10)
# A pusher's claim on a feed lasts this long unless renewed (before a request to QBO, when what
# is left of it might not outlast the request's timeouts): after a crash on SQLite an Update waits
# at most this long (on PostgreSQL a row lock frees the feed at once); the push resume schedule
# (`feeds.tasks.resume_pushes`, every minute) re-queues a push cut short once it has run out.
FEED_PUSH_LEASE_SECONDS = env.int("FEED_PUSH_LEASE_SECONDS", default=120)
# A batch that meets a 5xx, a timeout or a dropped connection is sent again at once up to this
# many times in a run, after exponential backoff with full jitter (base, capped), then waits for
# the next run.
PUSH_ATTEMPTS_PER_RUN = env.int("PUSH_ATTEMPTS_PER_RUN", default=5)
PUSH_BACKOFF_BASE_SECONDS = env.float("PUSH_BACKOFF_BASE_SECONDS", default=1.0)
PUSH_BACKOFF_CAP_SECONDS = env.float("PUSH_BACKOFF_CAP_SECONDS", default=30.0)

STATIC_URL = "/static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Request bodies: an API write may carry 1000 transactions of up to 1000 characters of
# description each; uploads are kept in the database (the logo, at most 2 MB), so no MEDIA_ROOT
# is served.
API_MAX_BODY_BYTES = 4 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 3 * 1024 * 1024

# QuickBooks Online. Where the Link pages send the SMB user to sign in (a new tab).
QBO_APP_URL = env.str("QBO_APP_URL", default="https://qbo.intuit.com/app/banking")
# The wire protocol (product.md §6): the same partner key and signing secret on both sides.
# linksite pushes transactions to QBO_BASE_URL; the sandbox calls linksite at LINKSITE_URL.
QBO_PARTNER_KEY = env.str("QBO_PARTNER_KEY", default="")
QBO_SIGNING_SECRET = env.str("QBO_SIGNING_SECRET", default="")
QBO_SANDBOX_ENABLED = env.bool("QBO_SANDBOX_ENABLED", default=False)
QBO_BASE_URL = env.str(
    "QBO_BASE_URL",
    default=f"{SITE_URL}/qbo-sandbox/api/v1" if QBO_SANDBOX_ENABLED else "",
).rstrip("/")
LINKSITE_URL = env.str("LINKSITE_URL", default=SITE_URL).rstrip("/")
# Seconds: connecting, then reading the answer, for every request linksite sends to QBO.
QBO_CONNECT_TIMEOUT = env.float("QBO_CONNECT_TIMEOUT", default=5.0)
QBO_READ_TIMEOUT = env.float("QBO_READ_TIMEOUT", default=30.0)

# How QBO gets the data: "push" (linksite sends batches over the signed protocol of product.md
# §6, the default), "pull" (QBO reads the IDX partner API under /partners/intuit/idx/, §12), or
# both ("push,pull") while a deployment moves from one to the other.
QBO_DELIVERY = frozenset(env.list("QBO_DELIVERY", default=["push"]))
if not QBO_DELIVERY or QBO_DELIVERY - {"push", "pull"}:
    raise ImproperlyConfigured(
        f"QBO_DELIVERY={','.join(sorted(QBO_DELIVERY))!r} is not valid; "
        "use push, pull or push,pull."
    )
# Partner keys Intuit may send (as base64) in X-Partner-Key on IDX calls: comma-separated, so
# that a key can be rotated; operators may also add and revoke keys in admin (stored hashed).
IDX_PARTNER_KEYS = env.list("IDX_PARTNER_KEYS", default=[])
# Requests per minute per partner key on the IDX API; beyond it, 429 with Retry-After.
IDX_RATE_LIMIT_PER_MINUTE = env.int("IDX_RATE_LIMIT_PER_MINUTE", default=600)
if IDX_RATE_LIMIT_PER_MINUTE < 1:
    raise ImproperlyConfigured("IDX_RATE_LIMIT_PER_MINUTE must be at least 1.")
# The QBO sandbox in pull mode (QBO_DELIVERY includes pull): the partner key it sends to the IDX
# API (put it in IDX_PARTNER_KEYS too), the institution its search lists (Intuit's directory
# entry for the listing), and when, in TIME_ZONE, it pulls every linked account.
QBO_SANDBOX_PARTNER_KEY = env.str("QBO_SANDBOX_PARTNER_KEY", default="")
QBO_SANDBOX_INSTITUTION = env.str("QBO_SANDBOX_INSTITUTION", default="Maple Bank")
QBO_SANDBOX_PULL_TIME = _local_time("QBO_SANDBOX_PULL_TIME", "05:00")
# What that daily schedule runs (not from the environment; feeds/schedules.py reads it here, as
# linksite's apps name nothing of the sandbox).
QBO_SANDBOX_PULL_TASK = "qbo_sandbox.tasks.daily_pull"

# Webhooks to the client backend (product.md §13). Endpoints must be https unless
# WEBHOOK_ALLOW_HTTP, and go to public addresses only unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES
# (checked when saved and for every connection sent on): both for local runs and tests only.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
# Signing secrets are derived from a stored seed and this key (SECRET_KEY when empty): keep it
# when rotating SECRET_KEY, or every endpoint's secret changes.
WEBHOOK_SECRET_KEY = env.str("WEBHOOK_SECRET_KEY", default="")
# Seconds: connecting, then the whole answer, for every webhook request.
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=15.0)
# After the first attempt, the waits (seconds) before each retry: about 28 hours in all.
WEBHOOK_RETRY_DELAYS = tuple(
    env.list("WEBHOOK_RETRY_DELAYS", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000])
)
# An endpoint every attempt at which failed for this many days is disabled.
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)
# Deliveries (and events with none pending) are kept this many days.
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)
# A sender's claim on the deliveries it took runs out after this long (a crashed sender's
# deliveries are sent again by another after it).
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=120)
# Deliveries one sender takes at a time, and how many senders may work one endpoint at once.
WEBHOOK_CLAIM_SIZE = env.int("WEBHOOK_CLAIM_SIZE", default=100)
WEBHOOK_SENDERS_PER_ENDPOINT = env.int("WEBHOOK_SENDERS_PER_ENDPOINT", default=4)
if WEBHOOK_LEASE_SECONDS < WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_TIMEOUT + 10:
    raise ImproperlyConfigured(
        "WEBHOOK_LEASE_SECONDS must outlast one request: at least WEBHOOK_CONNECT_TIMEOUT + "
        "WEBHOOK_TIMEOUT + 10 seconds."
    )
if min(WEBHOOK_CLAIM_SIZE, WEBHOOK_SENDERS_PER_ENDPOINT, WEBHOOK_RETENTION_DAYS) < 1:
    raise ImproperlyConfigured(
        "WEBHOOK_CLAIM_SIZE, WEBHOOK_SENDERS_PER_ENDPOINT and WEBHOOK_RETENTION_DAYS must be at "
        "least 1."
    )

# Security. Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER=true (it then trusts
# X-Forwarded-Proto) and leave SECURE_SSL_REDIRECT on, or switch it off if the proxy redirects.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Sessions stay in the database (server-side); `linksite.sessions` only reads them faster.
SESSION_ENGINE = "linksite.sessions"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# Background work (django-q2). The ORM broker on the default database unless REDIS_URL is set.
# `timeout` < `retry`, or a long task is handed to a second worker while the first still runs;
# attempts are bounded, failures are acknowledged (the task's own state records them), and a
# worker that was down does not replay every missed day (`catch_up`).
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="linksite"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=300),
    "retry": env.int("Q_RETRY", default=360),
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "time_zone": TIME_ZONE,
    "label": _("Background tasks"),
}
# One push task stops taking new batches after this long and queues its continuation, so that it
# ends well inside the worker's timeout.
PUSH_TASK_BUDGET_SECONDS = env.int("PUSH_TASK_BUDGET_SECONDS", default=Q_CLUSTER["timeout"] // 2)
# The daily push hands the feeds to the worker this many to a task (one after another in it): a
# task per feed costs the queue more than delivering a small feed does.
PUSH_FEEDS_PER_TASK = env.int("PUSH_FEEDS_PER_TASK", default=20)
if PUSH_FEEDS_PER_TASK < 1:
    raise ImproperlyConfigured("PUSH_FEEDS_PER_TASK must be at least 1.")
# A task pushes its feeds this many at a time (threads, each under the feed's own claim): one
# feed's database work overlaps another's request to QBO.
PUSH_FEEDS_THREADS = env.int("PUSH_FEEDS_THREADS", default=2)
if PUSH_FEEDS_THREADS < 1:
    raise ImproperlyConfigured("PUSH_FEEDS_THREADS must be at least 1.")
if Q_CLUSTER["timeout"] >= Q_CLUSTER["retry"]:
    raise ImproperlyConfigured("Q_TIMEOUT must be smaller than Q_RETRY.")
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.5

# Rate limits ("<count>/<s|m|h|d>"; empty: none), counted in the cache below. Per API client on
# the client API; per client address on the Link pages; per partner key on /qbo/v1, and per
# username on its credential check. Behind a proxy, RATE_LIMIT_TRUST_X_FORWARDED_FOR makes the
# address the last one of X-Forwarded-For (set it only if the proxy always sets that header).
RATE_LIMIT_API = env.str("RATE_LIMIT_API", default="1200/m")
RATE_LIMIT_LINK = env.str("RATE_LIMIT_LINK", default="120/m")
RATE_LIMIT_QBO = env.str("RATE_LIMIT_QBO", default="3000/m")
RATE_LIMIT_QBO_USERNAME = env.str("RATE_LIMIT_QBO_USERNAME", default="10/m")
RATE_LIMIT_TRUST_X_FORWARDED_FOR = env.bool("RATE_LIMIT_TRUST_X_FORWARDED_FOR", default=False)
for _name in ("RATE_LIMIT_API", "RATE_LIMIT_LINK", "RATE_LIMIT_QBO", "RATE_LIMIT_QBO_USERNAME"):
    if globals()[_name] and not re.fullmatch(r"[1-9]\d*/[smhd]", globals()[_name]):
        raise ImproperlyConfigured(f"{_name} must look like 600/m (a count per s, m, h or d).")
# A cache that cannot count lets requests through rather than refusing everyone.
RATELIMIT_FAIL_OPEN = True

# How long a process may keep the organization settings (logo aside) in the cache below before
# reading them again: every Link page reads them. Saving them drops the cached copy; with a cache
# in process memory (no REDIS_URL) other processes see a change within these seconds.
ORG_SETTINGS_CACHE_SECONDS = env.int("ORG_SETTINGS_CACHE_SECONDS", default=5)

# The cache counts IDX requests per partner key. In process memory unless REDIS_URL is set;
# then in Redis, so that every web process and host shares one count.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own console handler would print each of its records a second time.
    "loggers": {
        "django": {"handlers": [], "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}
