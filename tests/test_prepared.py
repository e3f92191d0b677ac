"""Reads compiled once (`feeds.prepared`) answer what the ORM answers, with fresh parameters each
time; the organization settings' cached copy is dropped when they are saved."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest
from django.db.models import Exists, OuterRef
from django.test import override_settings

from accounts.models import OrganizationSettings
from feeds.link.views import _read_link
from feeds.models import Connection, Feed, SourceAccount
from feeds.prepared import Prepared
from tests.makers import make_account, make_company, make_connection, make_feed


def orm_accounts(connection_id):
    active = Feed.objects.active().filter(source_account=OuterRef("pk"))
    return list(
        SourceAccount.objects.filter(connection_id=connection_id)
        .annotate(fed=Exists(active))
        .order_by("created", "id")
        .values_list(
            "pk",
            "account_name",
            "account_type",
            "account_number",
            "currency",
            "balance",
            "status",
            "fed",
        )
    )


def link_request(connection_id, **data):
    """A request with a saved session bound to this connection (as `/link/start` binds it)."""
    from django.test import RequestFactory

    from linksite.sessions import SessionStore

    session = SessionStore()
    session["link"] = {"connection": str(connection_id), "generation": 1, **data}
    session.save()
    request = RequestFactory().get("/link/")
    request.session = SessionStore(session.session_key)
    return request


def read(connection_id, *, states_only=False):
    data, connection, accounts = _read_link(link_request(connection_id), states_only=states_only)
    return None if connection is None else (connection, accounts)


def test_the_link_read_answers_as_the_orm_for_each_connection(alice, bob):
    make_feed(alice.checking)
    card = make_account(alice.connection, "extra", balance=Decimal("-12.30"))
    for connection in (alice.connection, bob.connection, alice.connection):
        found, accounts = read(connection.pk)
        assert (found.pk, found.link_generation, found.status) == (
            connection.pk,
            connection.link_generation,
            connection.status,
        )
        assert found.company.name == connection.company.name
        expected = orm_accounts(connection.pk)
        assert [(a.pk, a.account_name, a.balance) for a in accounts] == [
            (row[0], row[1], row[5]) for row in expected
        ]
        assert [a.link_state == "connected" for a in accounts] == [row[7] for row in expected]
    shown = {a.pk: a for a in read(alice.connection.pk)[1]}
    assert shown[card.pk].balance == Decimal("-12.30")  # the ORM's converters ran
    assert shown[alice.checking.pk].link_state == "connected"
    assert read(uuid.uuid4()) is None
    empty = make_connection(bob.company)
    assert read(empty.pk)[1] == []  # no accounts: the connection all the same


def test_the_status_read_answers_as_the_full_read(alice, bob):
    make_feed(alice.checking)
    make_account(alice.connection, "extra")
    empty = make_connection(bob.company)
    for connection in (alice.connection, bob.connection, empty):
        full, accounts = read(connection.pk)
        found, states = read(connection.pk, states_only=True)
        assert (found.pk, found.status, found.link_generation, found.company.country) == (
            full.pk,
            full.status,
            full.link_generation,
            full.company.country,
        )
        assert [(s.pk, s.link_state) for s in states] == [(a.pk, a.link_state) for a in accounts]
    assert read(empty.pk, states_only=True)[1] == []
    assert read(uuid.uuid4(), states_only=True) is None


def test_the_link_read_hands_its_session_to_the_store_and_trusts_only_the_sessions_data(
    alice, django_assert_num_queries
):
    from feeds.models import BrowserSession

    for states_only in (False, True):
        request = link_request(alice.connection.pk, chosen=[alice.checking.pk])
        with django_assert_num_queries(1):  # the session, connection, company and accounts
            data, connection, _ = _read_link(request, states_only=states_only)
            assert request.session["link"]["chosen"] == [alice.checking.pk]  # no read again
        assert data["chosen"] == [alice.checking.pk] and connection.pk == alice.connection.pk
        # The column says another connection than the session's data: nothing is read of it.
        request = link_request(alice.connection.pk)
        other = make_connection(alice.company)
        BrowserSession.objects.filter(pk=request.session.session_key).update(connection=other)
        data, connection, _ = _read_link(request, states_only=states_only)
        assert data["connection"] == str(alice.connection.pk) and connection is None
        # No session, or an unknown key: no data, and a new session follows, as Django's store.
        from django.test import RequestFactory

        from linksite.sessions import SessionStore

        for key in (None, "unknown-session-key-000000000000"):
            request = RequestFactory().get("/link/")
            request.session = SessionStore(key)
            assert _read_link(request, states_only=states_only) == ({}, None, [])
            assert request.session.session_key is None


@pytest.mark.django_db(transaction=True)
def test_a_link_read_on_a_connection_broken_since_its_last_use_reconnects_and_answers(
    alice, monkeypatch
):
    """The read stands in for Django's health check of a reused connection (one round trip
    fewer): when the database ended the connection meanwhile, the read runs again on a new
    one."""
    from django.db import ProgrammingError, connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's connections do not break under the process")
    import psycopg

    make_feed(alice.checking)
    expected = read(alice.connection.pk, states_only=True)
    # On a live connection at a request's start: the read, and no check before it.
    checks = []
    usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or usable())
    request = link_request(alice.connection.pk)
    connection.health_check_done = False
    assert _read_link(request, states_only=True)[1] is not None and checks == []

    def end_this_connection() -> int:
        pid = connection.connection.info.backend_pid
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
            while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                time.sleep(0.01)
        connection.health_check_done = False  # as at the start of a request
        return pid

    request = link_request(alice.connection.pk)
    ended = end_this_connection()
    _data, found, states = _read_link(request, states_only=True)
    assert (found.pk, [(s.pk, s.link_state) for s in states]) == (
        expected[0].pk,
        [(s.pk, s.link_state) for s in expected[1]],
    )
    assert connection.connection.info.backend_pid != ended
    assert connection.health_check_done and read(alice.connection.pk) is not None

    # A transaction's start is checked by Django itself (set_autocommit), as before.
    end_this_connection()
    with transaction.atomic():
        assert read(alice.connection.pk) is not None
    # Any other failure of the read is not taken for a broken connection.
    kept = connection.connection.info.backend_pid
    connection.health_check_done = False
    with pytest.raises(ProgrammingError):
        Prepared(
            lambda pk: Connection.objects.filter(pk=pk).extra(where=["no_such_column = 1"]),
            (Connection._meta.pk, uuid.UUID(int=7)),
        ).rows(alice.connection.pk)
    assert connection.connection.info.backend_pid == kept
    connection.close()


def test_open_sessions_are_carried_over_to_the_browser_sessions(alice):
    import importlib

    from django.apps import apps
    from django.contrib.sessions.backends.db import SessionStore as DjangoStore

    from feeds.models import BrowserSession

    migration = importlib.import_module("feeds.migrations.0012_browser_sessions")
    old = []
    for data in ({"link": {"connection": str(alice.connection.pk)}}, {"_auth_user_id": "1"}):
        store = DjangoStore()
        store.update(data)
        store.create()
        old.append(store.session_key)
    BrowserSession.objects.all().delete()
    migration.carry_sessions_over(apps, None)
    carried = {s.session_key: s for s in BrowserSession.objects.all()}
    assert set(carried) == set(old)
    assert carried[old[0]].connection_id == alice.connection.pk
    assert carried[old[1]].connection_id is None
    assert carried[old[0]].get_decoded() == {"link": {"connection": str(alice.connection.pk)}}


def test_sessions_are_read_from_the_database_until_they_expire(db):
    import time_machine
    from django.utils import timezone

    from feeds.models import BrowserSession
    from linksite.sessions import SessionStore

    store = SessionStore()
    store["link"] = {"connection": "x"}
    store.set_expiry(60)
    store.save()
    assert SessionStore(store.session_key)["link"] == {"connection": "x"}
    row = BrowserSession.objects.get(pk=store.session_key)  # Django's format, in our table
    assert row.get_decoded()["link"] == {"connection": "x"} and row.connection_id is None
    assert SessionStore("not-a-session-key-at-all").load() == {}
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=61)):
        expired = SessionStore(store.session_key)
        assert expired.load() == {}
        assert expired.session_key is None  # as Django's own store: a new session follows


def test_a_parameter_used_twice_is_replaced_everywhere(db):
    company = make_company("Twice", "US", client="twice")
    first, second = make_connection(company), make_connection(company)
    read = Prepared(
        lambda pk: (
            Connection.objects.filter(pk=pk).exclude(pk=pk).values_list("pk")
            | Connection.objects.filter(pk=pk).values_list("pk")
        ),
        (Connection._meta.pk, uuid.UUID(int=7)),
    )
    assert read.rows(first.pk) == [(first.pk,)]
    assert read.rows(second.pk) == [(second.pk,)]


@override_settings(ORG_SETTINGS_CACHE_SECONDS=60)
def test_the_settings_cached_copy_is_dropped_when_they_are_saved(db):
    OrganizationSettings.forget_cached()
    org = OrganizationSettings.get()
    org.institution_name = "Maple Bank"
    org.save()
    assert OrganizationSettings.current().institution_name == "Maple Bank"
    # A change that bypasses save() is not seen while the copy lasts (what the setting trades)…
    OrganizationSettings.objects.filter(pk=1).update(institution_name="Behind the cache")
    assert OrganizationSettings.current().institution_name == "Maple Bank"
    # …and saving, as admin does, is seen at once.
    org.institution_name = "Banque Érable"
    org.save()
    assert OrganizationSettings.current().institution_name == "Banque Érable"
    OrganizationSettings.forget_cached()
