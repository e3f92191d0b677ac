"""Recording events (`product.md` §13): each in the same database transaction as the change it
reports, with a delivery for each endpoint subscribed to it at that moment, so that a crash can
never leave a change without its event, or an event without its change.

The domain's rules call the `*_event` functions below where their change happens; when the
transaction commits, `events_committed` tells the worker's side which endpoints have something
new (it queues their delivery at once; the sweep finds anything else)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from accounts.models import Company
from feeds import representations
from feeds.models import (
    STILL_PENDING,
    BankTransaction,
    Connection,
    ConnectionStatus,
    DeliveryState,
    Feed,
    PushOperation,
    PushStatus,
    SourceAccount,
    SourceAccountStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from feeds.webhooks import catalogue

# Sent once a transaction that recorded events has committed: `endpoint_ids`, those with new
# deliveries.
events_committed = Signal()


def company_reference(company: Company) -> dict[str, Any]:
    """`referenceCompany`: the company as the hosted service's events name it."""
    portal = settings.SITE_URL.rstrip("/") + reverse(
        "admin:accounts_company_change", args=[company.pk]
    )
    return {
        "id": str(company.pk),
        "name": company.name,
        "description": company.description,
        "links": {"portal": portal},
        "tags": company.tags or {},
    }


def company_tag_strings(company: Company) -> set[str]:
    return {f"{key}:{value}" for key, value in (company.tags or {}).items()}


def subscribed(endpoint: WebhookEndpoint, event_type: str, tags: set[str] | None) -> bool:
    if endpoint.disabled:
        return False
    if endpoint.event_types and event_type not in endpoint.event_types:
        return False
    # An event of no company (a test) goes to every endpoint that takes its type.
    return not endpoint.company_tags or tags is None or bool(tags & set(endpoint.company_tags))


def endpoints_of(company_id: Any) -> list[WebhookEndpoint]:
    """The enabled endpoints of the client that owns the company: where its events may go
    (one query; the event builders below ask it first, and build nothing when there are none)."""
    return list(WebhookEndpoint.objects.filter(client__companies=company_id, disabled=False))


def emit(
    company: Company,
    event_type: str,
    payload: dict[str, Any],
    endpoints: list[WebhookEndpoint] | None = None,
) -> WebhookEvent | None:
    """Record one event of `company`'s client, and its deliveries; None when no endpoint of the
    client subscribes to it (nothing is recorded then)."""
    return emit_many(company, [(event_type, payload)], endpoints)[0]


def emit_many(
    company: Company,
    events: Sequence[tuple[str, dict[str, Any]]],
    endpoints: list[WebhookEndpoint] | None = None,
) -> list[WebhookEvent | None]:
    """`emit` for several events of one company, in one go (`endpoints`: `endpoints_of` the
    company, when the caller has them already)."""
    if endpoints is None:
        endpoints = endpoints_of(company.pk)
    if not endpoints:
        return [None] * len(events)
    tags = company_tag_strings(company)
    now = timezone.now()
    recorded: list[WebhookEvent | None] = []
    new_events, deliveries = [], []
    for event_type, payload in events:
        targets = [e for e in endpoints if subscribed(e, event_type, tags)]
        if not targets:
            recorded.append(None)
            continue
        event = _event(company.client_id, company.pk, event_type, payload, now)
        new_events.append(event)
        deliveries += [WebhookDelivery(event=event, endpoint=e, next_attempt=now) for e in targets]
        recorded.append(event)
    if new_events:
        with transaction.atomic():
            WebhookEvent.objects.bulk_create(new_events)
            WebhookDelivery.objects.bulk_create(deliveries)
            announce({d.endpoint_id for d in deliveries})
    return recorded


def test_event(endpoint: WebhookEndpoint) -> WebhookEvent:
    """A test event for one endpoint, whatever it subscribes to."""
    now = timezone.now()
    payload = {
        "webhookId": str(endpoint.pk),
        "message": "A test event from linksite: your endpoint receives and verifies webhooks.",
    }
    with transaction.atomic():
        event = _event(endpoint.client_id, None, catalogue.TEST, payload, now)
        event.save()
        WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt=now)
        announce({endpoint.pk})
    return event


def _event(
    client_id: int, company_id: Any, event_type: str, payload: dict[str, Any], now: Any
) -> WebhookEvent:
    event_id = uuid.uuid4()
    envelope = {
        "id": str(event_id),
        "eventType": event_type,
        "generatedDate": representations.jsonable(now),
        "payload": representations.jsonable(payload),
    }
    return WebhookEvent(
        id=event_id,
        client_id=client_id,
        company_id=company_id,
        event_type=event_type,
        generated=now,
        body=json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
    )


def announce(endpoint_ids: Iterable[Any]) -> None:
    ids = sorted({str(i) for i in endpoint_ids})
    transaction.on_commit(lambda: events_committed.send(sender=WebhookEvent, endpoint_ids=ids))


# The events of the domain's changes ---------------------------------------------------------


def status_changed(obj: Any, before: str, after: str) -> None:
    """The event of a status change (`feeds.lifecycle.transition`), if it has one."""
    if isinstance(obj, Connection):
        connection_status_changed(obj, before, after)
    elif isinstance(obj, SourceAccount) and after == SourceAccountStatus.DISCONNECTED:
        account_event(obj, catalogue.ACCOUNT_DISCONNECTED)
    elif isinstance(obj, PushOperation) and after in (PushStatus.SUCCESS, PushStatus.FAILED):
        write_event(obj)


def connection_event(connection: Connection, event_type: str) -> None:
    endpoints = endpoints_of(connection.company_id)
    if not endpoints:
        return
    company = connection.company
    emit(
        company,
        event_type,
        {
            "referenceCompany": company_reference(company),
            "connection": connection_payload(connection),
        },
        endpoints,
    )


# The connection's JSON form has two fields of linksite's own that the hosted service's events
# leave out (their schema allows no others): the company is `referenceCompany` already.
NOT_IN_EVENTS = ("companyId", "platformKey")


def connection_payload(connection: Connection) -> dict[str, Any]:
    shape = representations.connection_json(connection)
    return {k: v for k, v in shape.items() if k not in NOT_IN_EVENTS}


def connection_status_changed(connection: Connection, before: str, after: str) -> None:
    """connection.connected (PendingAuth → Linked), connection.reconnected (Unlinked → Linked),
    connection.disconnected (→ Unlinked or Deauthorized)."""
    if after == ConnectionStatus.LINKED:
        kind = (
            catalogue.CONNECTION_RECONNECTED
            if before == ConnectionStatus.UNLINKED
            else catalogue.CONNECTION_CONNECTED
        )
    elif after in (ConnectionStatus.UNLINKED, ConnectionStatus.DEAUTHORIZED):
        kind = catalogue.CONNECTION_DISCONNECTED
    else:
        return
    connection_event(connection, kind)


# The source account as the hosted service's events carry it: its version 2 shape, whose schema
# allows no other field; a field with no value is left out.
ACCOUNT_FIELDS = (
    "id",
    "accountName",
    "accountType",
    "accountNumber",
    "sortCode",
    "routingInfo",
    "currency",
    "balance",
    "accountInfo",
    "modifiedDate",
    "status",
    "feedStartDate",
)


def account_payload(account: SourceAccount) -> dict[str, Any]:
    feeds = list(Feed.objects.filter(source_account=account))
    shape = representations.account_json(account, feeds=feeds)
    return {k: shape[k] for k in ACCOUNT_FIELDS if shape.get(k) is not None}


def account_event(account: SourceAccount, event_type: str, **extra: Any) -> None:
    connection = account.connection
    endpoints = endpoints_of(connection.company_id)
    if not endpoints:
        return
    company = connection.company
    emit(
        company,
        event_type,
        {
            "referenceCompany": company_reference(company),
            "connectionId": str(connection.pk),
            "sourceAccount": account_payload(account),
            **extra,
        },
        endpoints,
    )


def feed_disabled_event(feed: Feed) -> None:
    account = feed.source_account
    account_event(
        account,
        catalogue.FEED_DISABLED,
        feedId=feed.pk,
        feedDisabledOnUtc=feed.disabled_on_utc,
    )


def write_event(operation: PushOperation) -> None:
    """bankTransactions.write.successful / .unsuccessful, as a write request's event."""
    kind = (
        catalogue.WRITE_SUCCESSFUL
        if operation.status == PushStatus.SUCCESS
        else catalogue.WRITE_UNSUCCESSFUL
    )
    endpoints = endpoints_of(operation.company_id)
    if not endpoints:
        return
    company = operation.company
    payload = {
        "id": str(operation.key),
        "type": "Create",
        "referenceCompany": company_reference(company),
        "connectionId": str(operation.connection_id),
        "requestedOnDate": operation.requested_on_utc,
        "completedOnDate": operation.completed_on_utc,
        "status": operation.status,
        "record": {"id": operation.account_id},
    }
    if operation.status == PushStatus.FAILED:
        payload["errorMessage"] = operation.error_message
        payload["validation"] = operation.validation
    emit(company, kind, payload, endpoints)


def listening(source_account_id: Any) -> bool:
    """Whether the client owning this account has an enabled endpoint (else there is no
    event to record, and nothing to count for one)."""
    return _listeners(source_account_id).exists()


def listening_annotation() -> Exists:
    """`listening` as an annotation on feeds, read with the feed."""
    return Exists(_listeners(OuterRef("source_account_id")))


def _listeners(source_account: Any) -> Any:
    return WebhookEndpoint.objects.filter(
        client__companies__connections__source_accounts=source_account, disabled=False
    )


def pending_by_write(rows: Any) -> dict[Any, int]:
    """Push operation key → how many of `rows` (transactions) are still pending."""
    return dict(
        rows.filter(STILL_PENDING).values_list("push_operation").annotate(n=Count("pk")).order_by()
    )


def delivered_events(
    account: SourceAccount, delivered: dict[Any, int], *, how: str, at: Any
) -> None:
    """bankTransactions.delivered: one event per write whose transactions QBO took just now
    (`delivered`: push operation key → how many), with the write's counts so far."""
    if not delivered:
        return
    connection = account.connection
    company = connection.company
    operations = PushOperation.objects.filter(pk__in=list(delivered)).order_by(
        "requested_on_utc", "pk"
    )
    totals = dict(
        BankTransaction.objects.filter(
            push_operation__in=list(delivered), delivery_state=DeliveryState.DELIVERED
        )
        .values_list("push_operation")
        .annotate(n=Count("pk"))
        .order_by()
    )
    reference = company_reference(company)
    events = []
    for operation in operations:
        total = totals.get(operation.key, 0)
        events.append(
            (
                catalogue.DELIVERED,
                {
                    "id": str(operation.key),
                    "referenceCompany": reference,
                    "connectionId": str(connection.pk),
                    "accountId": account.account_id,
                    "deliveredOnDate": at,
                    "delivery": how,
                    "deliveredCount": delivered[operation.key],
                    "totalDelivered": total,
                    "transactionCount": operation.transaction_count,
                    "complete": total >= operation.transaction_count,
                },
            )
        )
    emit_many(company, events)
