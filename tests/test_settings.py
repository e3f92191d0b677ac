"""Production settings: deploy checks, loud failures, security headers, migrations in sync."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k3v9-Qz8w_pL2mX7rT5yN1bH4jF6dS0aG8cV2xZ9uE3iO7qW5eR1tY6",
    "SITE_URL": "https://link.maplebank.example",
    "DATABASE_URL": "sqlite:////tmp/linksite-deploy-check.sqlite3",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # A clean environment: nothing from .env or the test settings leaks in.
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "ENV_FILE": "", "DJANGO_SETTINGS_MODULE": "linksite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_complains_when_debug_is_on():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "DEBUG": "1"}
    )
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TIME_ZONE", "Mars/Olympus", "is not a known IANA time zone"),
        ("DAILY_PUSH_TIME", "2am", "is not a time of day"),
    ],
)
def test_it_names_a_bad_setting_at_start(name, value, message):
    result = manage("check", env={**PRODUCTION, name: value})
    assert result.returncode != 0
    assert f"{name}={value!r} {message}" in result.stderr


def test_it_uses_redis_as_broker_when_redis_url_is_set():
    code = (
        "from django.conf import settings as s; "
        "print(s.Q_CLUSTER.get('redis'), s.Q_CLUSTER.get('orm'))"
    )
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={**PRODUCTION, "REDIS_URL": "redis://127.0.0.1:6379/3"},
    )
    assert result.stdout.split() == ["redis://127.0.0.1:6379/3", "None"], result.stderr
    result = manage("shell", "--no-imports", "-c", code, env=PRODUCTION)
    assert result.stdout.split() == ["None", "default"], result.stderr


def test_django_q_times_out_before_it_retries(settings):
    q = settings.Q_CLUSTER
    assert q["timeout"] < q["retry"]
    assert q["max_attempts"] > 0 and q["catch_up"] is False


def test_sqlite_takes_its_write_lock_up_front_and_waits_when_busy(settings):
    from linksite import settings as production

    if production.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        options = production.DATABASES["default"]["OPTIONS"]
        assert options["transaction_mode"] == "IMMEDIATE" and options["timeout"] >= 5


def test_migrations_match_the_models(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.parametrize("path", ["/admin/login/", "/branding/logo"])
def test_every_page_carries_the_security_headers(client, db, path):
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_health_check_answers_without_touching_the_database(
    client, db, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok\n")
    assert response["Cache-Control"] == "no-store"


SANDBOX_PUSH = """
from django.conf import settings
from django.test import Client
from tests.test_qbo_sandbox import KEY, SECRET, batch, make_feed, push, txn
settings.QBO_PARTNER_KEY, settings.QBO_SIGNING_SECRET = KEY, SECRET
feed = make_feed()
body = batch("b-1", txn("t-1"), txn("t-2"))
for _ in range(2):
    answer = push(Client(), feed.feed_id, body)
    assert answer.status_code == 200, answer.content
    print(answer.json()["accepted"], answer.json()["duplicates"])
"""


def test_the_sandbox_can_keep_its_tables_in_a_database_of_its_own(tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/linksite.sqlite3",
        "QBO_SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path}/qbo.sqlite3",
    }
    for database in ("default", "qbo_sandbox"):
        assert manage("migrate", "-v0", "--database", database, env=env).returncode == 0
    answer = manage("shell", "--no-imports", "-c", SANDBOX_PUSH, env=env)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.split() == ["2", "0", "0", "2"]

    def tables(name: str) -> set[str]:
        with sqlite3.connect(tmp_path / name) as db:
            return {
                row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }

    def sandbox(names: set[str]) -> set[str]:
        return {name for name in names if name.startswith("qbo_sandbox_")}

    linksite, qbo = tables("linksite.sqlite3"), tables("qbo.sqlite3")
    assert "qbo_sandbox_receivedtransaction" in qbo and not sandbox(linksite)
    assert "feeds_banktransaction" in linksite and qbo - sandbox(qbo) <= {
        "django_migrations",
        "sqlite_sequence",
    }
    with sqlite3.connect(tmp_path / "qbo.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM qbo_sandbox_receivedtransaction").fetchone() == (2,)
