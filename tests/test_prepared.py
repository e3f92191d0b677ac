"""Reads compiled once (`feeds.prepared`) answer what the ORM answers, with fresh parameters each
time; the organization settings' cached copy is dropped when they are saved."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db.models import Exists, OuterRef
from django.test import override_settings

from accounts.models import OrganizationSettings
from feeds.link.views import ACCOUNTS_READ, CONNECTION_READ
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


def test_a_prepared_read_answers_as_the_orm_for_each_parameter(alice, bob):
    make_feed(alice.checking)
    card = make_account(alice.connection, "extra", balance=Decimal("-12.30"))
    for connection in (alice.connection, bob.connection, alice.connection):
        assert ACCOUNTS_READ.rows(connection.pk) == orm_accounts(connection.pk)
    rows = dict((r[0], r) for r in ACCOUNTS_READ.rows(alice.connection.pk))
    assert rows[card.pk][5] == Decimal("-12.30")  # the ORM's converters ran
    assert rows[alice.checking.pk][7] is True and rows[card.pk][7] is False
    assert ACCOUNTS_READ.rows(uuid.uuid4()) == []
    assert CONNECTION_READ.rows(bob.connection.pk)[0][0] == bob.connection.pk


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
