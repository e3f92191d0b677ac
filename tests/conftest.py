"""Personas: an operator; alice, a US company with two source accounts; bob, a Canadian company
that must never see alice's data."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

from accounts.models import ApiClient, ApiKey, OrganizationSettings
from tests.makers import make_account, make_company, make_connection
from tests.worker_harness import broker, clusters  # noqa: F401 - fixtures for worker tests


@pytest.fixture(scope="session", autouse=True)
def _no_stray_database_sessions(django_db_setup, django_db_blocker):
    """Before the test database is dropped, name and end any PostgreSQL session still using it
    (a leaked connection would otherwise fail the whole run at teardown)."""
    yield
    from django.db import connection

    from feeds.delivery import claim

    claim.drop_lock_connection()  # kept for the next push, which will not come
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, state, left(query, 200) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for row in cursor.fetchall():
            print(f"\nwarning: a database session outlived the tests: {row}", file=sys.stderr)
            cursor.execute("SELECT pg_terminate_backend(%s)", [row[0]])
    connection.close()


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator", "ops@example.com", "ops-pass-123")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def alice(db):
    company = make_company("Alice Bakery", "US", client="alice")
    connection = make_connection(company)
    checking = make_account(connection, "alice-chk", account_name="Alice Checking")
    card = make_account(
        connection, "alice-visa", account_name="Alice Visa", account_type="creditCard"
    )
    return SimpleNamespace(company=company, connection=connection, checking=checking, card=card)


@pytest.fixture
def bob(db):
    company = make_company("Bob Plomberie", "CA", client="bob")
    connection = make_connection(company)
    chequing = make_account(connection, "bob-chq", account_name="Bob Chèques", currency="CAD")
    return SimpleNamespace(company=company, connection=connection, chequing=chequing)


class Api:
    """The JSON API as a client backend calls it: a key, JSON bodies, parsed answers."""

    def __init__(self, client, key: str | None) -> None:
        self.client = client
        self.key = key

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**headers, **(extra or {})}

    def get(self, path: str, params: dict | None = None, **headers):
        return self.client.get("/api/v1" + path, params or {}, headers=self.headers(headers))

    def send(self, method: str, path: str, body=None, raw: bytes | None = None, **headers):
        data = raw if raw is not None else (b"" if body is None else json.dumps(body))
        return getattr(self.client, method)(
            "/api/v1" + path,
            data=data,
            content_type=headers.pop("content_type", "application/json"),
            headers=self.headers(headers),
        )

    def post(self, path: str, body=None, **headers):
        return self.send("post", path, body, **headers)

    def patch(self, path: str, body=None, **headers):
        return self.send("patch", path, body, **headers)

    def delete(self, path: str, **headers):
        return self.client.delete("/api/v1" + path, headers=self.headers(headers))


def issue_key(client_name: str) -> str:
    api_client, _ = ApiClient.objects.get_or_create(name=client_name)
    return ApiKey.issue(api_client, "test")[1]


@pytest.fixture
def enabled(db):
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"integration_enabled": True, "institution_name": "Maple Bank"}
    )


@pytest.fixture
def alice_api(client, alice, enabled):
    return Api(client, issue_key("alice"))


@pytest.fixture
def bob_api(client, bob, enabled):
    return Api(client, issue_key("bob"))


@pytest.fixture
def keep_connection():
    """Around each request Django closes a database connection left in a transaction; inside a
    test that would break the test's transaction (on PostgreSQL). Django's test client unhooks
    the same handlers; requests sent straight to the WSGI handler (the fuzz tests) need it done
    here."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
