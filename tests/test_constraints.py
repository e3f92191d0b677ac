"""The database itself enforces the uniqueness rules and enum values, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent, Company, OrganizationSettings
from feeds.models import (
    BankTransaction,
    Connection,
    CredentialSet,
    DeliveryBatch,
    Feed,
    PushOperation,
    SourceAccount,
)
from tests.makers import (
    make_account,
    make_batch,
    make_connection,
    make_credentials,
    make_feed,
    make_push,
    make_transaction,
)


def refused(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_a_source_account_id_is_unique_per_connection(alice, bob):
    assert refused(lambda: make_account(alice.connection, "alice-chk"))
    # The same id on another connection is fine.
    make_account(bob.connection, "alice-chk", currency="CAD")
    make_account(make_connection(alice.company), "alice-chk")


def test_a_source_account_id_cannot_be_empty(alice):
    assert refused(lambda: make_account(alice.connection, ""))


def test_a_transaction_id_is_unique_per_source_account(alice):
    make_transaction(alice.checking, "t-1")
    assert refused(lambda: make_transaction(alice.checking, "t-1"))
    make_transaction(alice.card, "t-1")  # another account may reuse it
    assert BankTransaction.objects.filter(transaction_id="t-1").count() == 2


def test_a_transaction_amount_cannot_be_zero(alice):
    assert refused(lambda: make_transaction(alice.checking, "t-0", amount=0))


def test_a_delivered_transaction_needs_its_delivery_time(alice):
    assert refused(lambda: make_transaction(alice.checking, "t-d", delivery_state="delivered"))
    make_transaction(alice.checking, "t-ok", delivery_state="delivered", delivered=timezone.now())


def test_a_source_account_has_at_most_one_active_feed(alice):
    first = make_feed(alice.checking)
    assert refused(lambda: make_feed(alice.checking))
    # Once QBO disabled the first feed, the account can be linked again.
    Feed.objects.filter(pk=first.pk).update(disabled_on_utc=timezone.now())
    make_feed(alice.checking)
    assert alice.checking.feeds.count() == 2


def test_batches_of_a_feed_take_distinct_places_in_its_sequence(alice):
    feed = make_feed(alice.checking)
    assert [make_batch(feed).sequence for _ in range(3)] == [1, 2, 3]
    assert refused(lambda: make_batch(feed, sequence=2))
    assert make_batch(make_feed(alice.card), sequence=2).sequence == 2


def test_usernames_of_credential_sets_are_unique(alice, bob):
    make_credentials(alice.connection, "AAAA-BBBB-CCCC")
    assert refused(lambda: make_credentials(bob.connection, "AAAA-BBBB-CCCC"))


def test_organization_settings_is_a_singleton(db):
    OrganizationSettings.get()
    assert refused(lambda: OrganizationSettings.objects.bulk_create([OrganizationSettings(pk=2)]))
    again = OrganizationSettings(institution_name="Other")
    again.save()  # saving any instance writes the one row
    assert OrganizationSettings.objects.get().institution_name == "Other"


BAD_VALUES = [
    (Company, "country", "FR"),
    (Connection, "status", "Pending"),
    (Connection, "platform_key", "xero"),
    (SourceAccount, "status", "active"),
    (SourceAccount, "account_type", "brokerage"),
    (SourceAccount, "currency", "EUR"),
    (Feed, "target_account_type", "Equity"),
    (CredentialSet, "origin", "mail"),
    (PushOperation, "status", "Done"),
    (DeliveryBatch, "status", "sent"),
    (DeliveryBatch, "trigger", "cron"),
    (BankTransaction, "transaction_type", "Refund"),
    (BankTransaction, "delivery_state", "queued"),
    (AuditEvent, "actor_type", "robot"),
]


@pytest.mark.parametrize(("model", "field", "value"), BAD_VALUES)
def test_the_database_refuses_values_outside_each_enum(alice, model, field, value):
    feed = make_feed(alice.checking)
    objects = {
        Company: alice.company,
        Connection: alice.connection,
        SourceAccount: alice.checking,
        Feed: feed,
        CredentialSet: make_credentials(alice.connection),
        PushOperation: make_push(alice.checking),
        DeliveryBatch: make_batch(feed),
        BankTransaction: make_transaction(alice.checking, "t-enum"),
        AuditEvent: AuditEvent.objects.create(actor_type="system", action="test"),
    }
    obj = objects[model]
    assert refused(lambda: model.objects.filter(pk=obj.pk).update(**{field: value}))
