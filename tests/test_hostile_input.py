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
