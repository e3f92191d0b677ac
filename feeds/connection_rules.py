"""The rules of a connection (`product.md` §2, §7): opening one, the client unlinking it, and
deauthorizing it (deleted through the API, or by an operator in admin), each audited."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from accounts.audit import Actor, record
from accounts.models import Company
from feeds import credentials, lifecycle
from feeds.models import Connection, ConnectionStatus, CredentialSet


def open_connection(company: Company, *, actor: Actor) -> Connection:
    """A new `PendingAuth` connection (availability is the caller's to check first)."""
    with transaction.atomic():
        connection = Connection.objects.create(company=company)
        record(actor, "connection.created", connection)
    return connection


def unlink(connection: Connection, *, actor: Actor, reason: str) -> None:
    """Linked → Unlinked: its feeds stop; the SMB user can link again from a new Link URL.
    Raises `lifecycle.IllegalTransition` from any other status."""
    lifecycle.transition(connection, ConnectionStatus.UNLINKED, actor=actor, reason=reason)


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
