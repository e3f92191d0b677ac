"""The rules of a connection (`product.md` §2, §7): opening one, the client unlinking it, and
deauthorizing it (deleted through the API, or by an operator in admin), each audited."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.audit import Actor, record
from accounts.models import Company
from feeds import credentials, lifecycle
from feeds.models import Connection, ConnectionStatus, CredentialSet
from feeds.webhooks import catalogue, outbox


def open_connection(company: Company, *, actor: Actor) -> Connection:
    """A new `PendingAuth` connection (availability is the caller's to check first)."""
    with transaction.atomic():
        connection = Connection.objects.create(company=company)
        record(actor, "connection.created", connection)
        outbox.connection_event(connection, catalogue.CONNECTION_CREATED)
    return connection


def connection_for_link(company: Company, *, actor: Actor) -> Connection:
    """The connection the company's Link entry (its `redirect`) leads to: the newest one the
    client has not deleted and that is not deauthorized, or a new one (availability is the
    caller's to check first)."""
    current = (
        Connection.objects.filter(company=company, deleted__isnull=True)
        .exclude(status=ConnectionStatus.DEAUTHORIZED)
        .order_by("-created", "-pk")
        .first()
    )
    return current or open_connection(company, actor=actor)


def unlink(connection: Connection, *, actor: Actor, reason: str) -> None:
    """Linked → Unlinked: its feeds stop; the SMB user can link again from a new Link URL.
    Raises `lifecycle.IllegalTransition` from any other status."""
    lifecycle.transition(connection, ConnectionStatus.UNLINKED, actor=actor, reason=reason)


def unlink_requested(connection: Connection, *, actor: Actor, reason: str) -> bool:
    """The client asks for `Unlinked`: from Linked it unlinks; already Unlinked it is a no-op
    (False). Raises `lifecycle.IllegalTransition` from PendingAuth or Deauthorized."""
    if connection.status == ConnectionStatus.UNLINKED:
        return False
    unlink(connection, actor=actor, reason=reason)
    return True


def delete(connection: Connection, *, actor: Actor) -> None:
    """The client deletes the connection: deauthorized (as below), then hidden from the API for
    good; the row stays with its accounts, transactions, push operations and audit trail."""
    with transaction.atomic():
        deauthorize(connection, actor=actor, reason="deleted through the API")
        connection.deleted = timezone.now()
        connection.save(update_fields=["deleted", "modified"])
        record(actor, "connection.deleted", connection)
        outbox.connection_event(connection, catalogue.CONNECTION_DELETED)


def delete_company(company: Company, *, actor: Actor) -> None:
    """The client deletes the company for good, with its connections, accounts and
    transactions; each connection it still had reports `connection.deleted` first."""
    with transaction.atomic():
        for connection in Connection.objects.filter(company=company, deleted__isnull=True):
            connection.company = company
            outbox.connection_event(connection, catalogue.CONNECTION_DELETED)
        record(actor, "company.deleted", company, name=company.name)
        company.delete()


def deauthorize(connection: Connection, *, actor: Actor, reason: str) -> bool:
    """Close the connection for good: its feeds stop, every Link URL issued for it and every
    unused credential set stop working. False if it was already deauthorized."""
    if connection.status == ConnectionStatus.DEAUTHORIZED:
        return False
    with transaction.atomic():
        lifecycle.transition(connection, ConnectionStatus.DEAUTHORIZED, actor=actor, reason=reason)
        Connection.objects.filter(pk=connection.pk).update(link_generation=F("link_generation") + 1)
        connection.refresh_from_db(fields=["link_generation"])
        # Only the unused sets: the feeds already end through `lifecycle`; disabling them as
        # well would start QBO's disconnect grace period on feeds that are over anyway.
        credentials.revoke(
            CredentialSet.objects.filter(connection=connection, used__isnull=True),
            actor=actor,
            connection=connection,
        )
    return True
