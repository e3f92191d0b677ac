"""Personas: an operator; alice, a US company with two source accounts; bob, a Canadian company
that must never see alice's data."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

from tests.makers import make_account, make_company, make_connection


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
