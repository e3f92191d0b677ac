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
# A fast hasher keeps tests quick; production uses Django's default (PBKDF2).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Static files straight from the source folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
