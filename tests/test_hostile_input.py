"""Hostile and careless input (issue 16): each surface answers with its own error and changes
nothing; nothing answers a 5xx."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from feeds import writes
from feeds.models import SourceAccount
from tests.conftest import Api, issue_key


@pytest.mark.parametrize("next_value", [None, "", "https://evil.example/", "//evil.example/"])
def test_a_failed_then_good_admin_login_lands_in_admin(client, operator, next_value):
    extra = {} if next_value is None else {"next": next_value}
    client.post("/admin/login/", {"username": "operator", "password": "wrong", **extra})
    response = client.post(
        "/admin/login/", {"username": "operator", "password": "ops-pass-123", **extra}
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T25:00:00Z",
        "2026-11-25T10:99:00Z",
        "2026-11-25T10:00:61Z",
        "2026-11-25T25:99+99:99",
        "2026-11-25T10:00+24:00",
        "2026-11-25T10:00-05:60",
        "2026-02-30",
    ],
)
def test_an_impossible_date_or_time_of_day_is_not_a_date(text):
    assert writes.parse_date(text) is None


@pytest.mark.parametrize(
    "text", ["2026-11-25", "2026-11-25T23:59:60Z", "2026-11-25 10:00", "2026-11-25T00:00-05:00"]
)
def test_a_possible_one_is(text):
    assert writes.parse_date(text) == dt.date(2026, 11, 25)


@pytest.mark.parametrize("bad", ["acc\x7f1", "acc\x851", "acc\x1b1", "a/b"])
def test_a_source_account_id_with_a_control_character_is_refused(client, alice, enabled, bad):
    api = Api(client, issue_key("alice"))
    with time_machine.travel(dt.datetime(2026, 11, 25, 17, tzinfo=dt.UTC), tick=False):
        response = api.post(
            f"/companies/{alice.company.pk}/connections/{alice.connection.pk}"
            "/connectionInfo/bankFeedAccounts",
            {
                "id": bad,
                "accountName": "x",
                "accountType": "checking",
                "accountNumber": "1",
                "currency": "USD",
                "balance": 1,
            },
        )
    assert response.status_code == 400, response.content
    assert response.json()["validation"]["errors"][0]["itemId"] == "id"
    assert not SourceAccount.objects.filter(account_id=bad).exists()


# Rate limits ----------------------------------------------------------------------------------


@pytest.fixture
def fresh_counts():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_the_api_limits_each_client_with_a_429_in_its_error_shape(
    client, alice, bob, enabled, settings, fresh_counts
):
    settings.RATE_LIMIT_API = "3/m"
    alice_api, bob_api = Api(client, issue_key("alice")), Api(client, issue_key("bob"))
    assert [alice_api.get("/companies").status_code for _ in range(3)] == [200] * 3
    refused = alice_api.get("/companies")
    assert refused.status_code == 429
    body = refused.json()
    assert (body["statusCode"], body["canBeRetried"], body["detailedErrorCode"]) == (
        429,
        "True",
        42900,
    )
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert bob_api.get("/companies").status_code == 200  # another client counts apart
    # A second key of the same client shares its count.
    assert Api(client, issue_key("alice")).get("/companies").status_code == 429


def test_the_link_pages_limit_each_address_in_the_users_language(
    client, alice, enabled, settings, fresh_counts
):
    settings.RATE_LIMIT_LINK = "2/m"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    for _ in range(2):
        assert client.get("/link/").status_code != 429
    refused = client.get("/link/")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert "Trop de requêtes" in refused.content.decode()
    other = client.get("/link/", REMOTE_ADDR="10.1.2.3")
    assert other.status_code != 429


def test_rates_that_are_not_rates_stop_linksite_at_start():
    import subprocess
    import sys

    from tests.imports import ROOT

    result = subprocess.run(
        [sys.executable, "-c", "import linksite.settings"],
        cwd=ROOT,
        env={"RATE_LIMIT_API": "1.5/m", "ENV_FILE": "", "DEBUG": "1", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "RATE_LIMIT_API must look like 600/m" in result.stderr


# /qbo/v1: limits, and refusals that cannot grow the database -----------------------------------


def test_qbo_is_limited_per_partner_key_and_per_username(
    client, alice, enabled, settings, fresh_counts
):
    from tests.test_qbo_protocol import call

    settings.RATE_LIMIT_QBO = "3/m"
    settings.RATE_LIMIT_QBO_USERNAME = "2/m"
    answers = [
        call(client, "/qbo/v1/credentials/verify", {"username": "ABCD-EFGH-JKLM", "password": "x"})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[2].json()["error"] == "rate_limited"
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    other = call(client, "/qbo/v1/institution", method="GET")
    assert other.status_code == 429  # the partner key's 3 a minute are spent too


def test_ten_thousand_junk_requests_add_a_bounded_handful_of_rows(client, enabled, settings):
    from django.db import connection

    from accounts.audit import MAX_SOURCES_PER_MINUTE
    from accounts.models import AuditEvent, RefusalTally

    path = "/qbo/v1/feeds/" + "x" * 8000 + "/refresh"
    start = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        for n in range(10_000):
            address = f"198.51.{n % 40}.7"  # 40 addresses: more than a minute's tally keeps
            response = client.post(
                path, b"junk", content_type="application/json", REMOTE_ADDR=address
            )
            assert response.status_code == 401
            clock.shift(0.012)  # 10,000 requests over 2 minutes
    tallies = list(RefusalTally.objects.all())
    assert sum(t.count for t in tallies) == 10_000
    minutes = {t.minute for t in tallies}
    assert len(minutes) == 2
    assert len(tallies) <= len(minutes) * (MAX_SOURCES_PER_MINUTE + 1)
    assert max(len(t.first["path"]) for t in tallies) <= 100
    assert AuditEvent.objects.filter(action="qbo.refused").count() == 0
    print(f"\n10,000 junk requests on {connection.vendor}: {len(tallies)} tally rows")


@pytest.mark.parametrize(
    ("lang", "title"), [("en", "could not be read"), ("fr", "n’a pas pu être lue")]
)
def test_too_many_form_fields_get_a_400_page_in_the_users_language(
    client, alice, enabled, settings, lang, title
):
    from tests.test_link import open_link

    open_link(client, alice.connection)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    fields = {f"f{n}": "1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 10)}
    response = client.post("/link/accounts", fields)
    assert response.status_code == 400
    assert title in response.content.decode()
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert ("Page not found" if lang == "en" else "Page introuvable") in missing.content.decode()
