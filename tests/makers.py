"""Small hand-written builders for test data (no factory library)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

from django.utils import timezone
from PIL import Image

from accounts.audit import Actor
from accounts.models import ApiClient, Company
from feeds import feed_rules
from feeds.models import (
    BankTransaction,
    Connection,
    CredentialSet,
    DeliveryBatch,
    Feed,
    PushOperation,
    SourceAccount,
)
from qbo_sandbox.models import ChartAccount, LinkedFeed


def make_company(name: str = "Alice Bakery", country: str = "US", client: str = "alice") -> Company:
    api_client, _ = ApiClient.objects.get_or_create(name=client)
    return Company.objects.create(client=api_client, name=name, country=country)


def make_connection(company: Company, **kwargs: Any) -> Connection:
    return Connection.objects.create(company=company, **kwargs)


def make_account(connection: Connection, account_id: str = "acc-1", **kwargs: Any) -> SourceAccount:
    defaults = {
        "account_name": "Operating account",
        "account_type": "checking",
        "account_number": "000123456789",
        "currency": "USD",
        "balance": Decimal("100.00"),
    }
    return SourceAccount.objects.create(
        connection=connection, account_id=account_id, **{**defaults, **kwargs}
    )


def make_feed(account: SourceAccount, **kwargs: Any) -> Feed:
    defaults = {
        "target_account_id": "35",
        "target_account_name": "Checking",
        "target_account_type": "Bank",
        "feed_start_date": timezone.localdate(),
    }
    return Feed.objects.create(source_account=account, **{**defaults, **kwargs})


def make_push(account: SourceAccount, **kwargs: Any) -> PushOperation:
    return PushOperation.objects.create(
        company=account.connection.company,
        connection=account.connection,
        source_account=account,
        account_id=account.account_id,
        **kwargs,
    )


def make_transaction(
    account: SourceAccount,
    transaction_id: str = "t-1",
    push: PushOperation | None = None,
    **kw: Any,
) -> BankTransaction:
    defaults = {
        "cleared_on_date": timezone.localdate(),
        "amount": Decimal("-12.50"),
        "description": "Coffee beans",
        "transaction_type": "Debit",
    }
    return BankTransaction.objects.create(
        source_account=account,
        transaction_id=transaction_id,
        push_operation=push or make_push(account),
        **{**defaults, **kw},
    )


def make_batch(feed: Feed, **kwargs: Any) -> DeliveryBatch:
    return DeliveryBatch.objects.create(feed=feed, **{"trigger": "schedule", **kwargs})


def make_credentials(
    connection: Connection, username: str = "ABCD-EFGH-JKLM", **kw: Any
) -> CredentialSet:
    defaults = {
        "origin": "link",
        "password_hash": "unusable",
        "expires": timezone.now() + dt.timedelta(minutes=60),
    }
    return CredentialSet.objects.create(
        connection=connection, username=username, **{**defaults, **kw}
    )


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (60, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 16, 46)).save(buffer, format=kind)
    return buffer.getvalue()


def make_linked_feed(
    account: SourceAccount, chart_account: ChartAccount, start: dt.date | None = None
) -> Feed:
    """A feed as linking the account in the QBO sandbox makes it: linksite's feed and the
    sandbox's record of it, on `chart_account`, starting `start` (a week ago by default)."""
    feed = feed_rules.link_feed(
        account,
        target_account_id=str(chart_account.pk),
        target_account_name=chart_account.name,
        target_account_type=chart_account.account_type,
        feed_start_date=start or timezone.localdate() - dt.timedelta(days=7),
        actor=Actor.system(),
    )
    LinkedFeed.record(
        feed.pk,
        chart_account,
        source_account_id=account.account_id,
        display_name=account.account_name,
        currency=account.currency,
        feed_start_date=feed.feed_start_date,
    )
    return feed
