"""Signed Link URLs: valid one hour, bound to one connection, revocable."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from feeds.link_urls import LinkTokenError, link_url, make_token, read_token
from feeds.models import Connection


def test_a_link_url_points_at_the_start_page_with_a_token(alice, settings):
    settings.SITE_URL = "https://link.example.com"
    url = urlsplit(link_url(alice.connection))
    assert (url.scheme, url.netloc, url.path) == ("https", "link.example.com", "/link/start")
    assert read_token(parse_qs(url.query)["token"][0]) == alice.connection


def test_a_token_is_valid_for_one_hour(alice):
    start = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        token = make_token(alice.connection)
    with time_machine.travel(start + dt.timedelta(minutes=59, seconds=59), tick=False):
        assert read_token(token) == alice.connection
    late = start + dt.timedelta(hours=1, seconds=1)
    with time_machine.travel(late, tick=False), pytest.raises(LinkTokenError) as exc:
        read_token(token)
    assert exc.value.reason == "expired"


@pytest.mark.parametrize(
    "damage", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: "x" + t, lambda t: ""]
)
def test_a_tampered_token_is_invalid(alice, damage):
    with pytest.raises(LinkTokenError) as exc:
        read_token(damage(make_token(alice.connection)))
    assert exc.value.reason == "invalid"


def test_raising_the_generation_revokes_earlier_tokens(alice):
    token = make_token(alice.connection)
    Connection.objects.filter(pk=alice.connection.pk).update(link_generation=2)
    with pytest.raises(LinkTokenError) as exc:
        read_token(token)
    assert exc.value.reason == "revoked"
    alice.connection.refresh_from_db()
    assert read_token(make_token(alice.connection)) == alice.connection


def test_a_token_of_a_deleted_connection_is_revoked(alice):
    token = make_token(alice.connection)
    alice.connection.delete()
    with pytest.raises(LinkTokenError) as exc:
        read_token(token)
    assert exc.value.reason == "revoked"


def test_tokens_of_two_connections_never_cross(alice, bob):
    assert read_token(make_token(alice.connection)) == alice.connection
    assert read_token(make_token(bob.connection)) == bob.connection
