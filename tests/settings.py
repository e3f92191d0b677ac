"""Test settings: production settings with what a test run needs changed, nothing else."""

import os

os.environ.setdefault("ENV_FILE", "")  # a developer's .env must not leak into tests
os.environ.setdefault("DATABASE_URL", "sqlite:///var/test.sqlite3")
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 40)
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("QBO_SANDBOX_ENABLED", "1")
os.environ.setdefault("QBO_PARTNER_KEY", "test-partner-key")
os.environ.setdefault("QBO_SIGNING_SECRET", "test-signing-secret-" + "s" * 32)

from linksite.settings import *  # noqa: E402,F403

# Plain HTTP between the test client, the live server and the browser.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = False
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
# No rate limit by default: the suite sends thousands of requests from one address and one
# key within a minute; the tests of the limits set them.
RATE_LIMIT_API = RATE_LIMIT_LINK = RATE_LIMIT_QBO = RATE_LIMIT_QBO_USERNAME = ""
# Tests change the settings row with queryset updates, which a cached copy would not see; the
# cache's own test switches it on (and `bench/` sets ORG_SETTINGS_CACHE_SECONDS, as deployed).
if "ORG_SETTINGS_CACHE_SECONDS" not in os.environ:
    ORG_SETTINGS_CACHE_SECONDS = 0
# A fast hasher keeps tests quick; production uses Django's default (PBKDF2).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Static files straight from the source folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not SQLite's in-memory default, so that a real `qcluster` subprocess started by a
    # test sees the same test database as the test and its live server.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-run.sqlite3")}  # noqa: F405
# Close each request's connection at its end: a live server's keep-alive handler thread must
# not hold a connection open past the test (PostgreSQL refuses to drop a database in use).
# (The benchmarks, which run these settings in servers and workers, keep production's
# persistent connections by setting CONN_MAX_AGE.)
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "0"))  # noqa: F405
