"""Source accounts (`bankFeedAccounts`, `product.md` §3): creating, changing and deleting them,
each with its audit event. Changes never reach the QBO account."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.audit import Actor, record
from feeds import feed_rules, lifecycle
from feeds.models import Connection, SourceAccount, SourceAccountStatus


class AccountChangeRefused(Exception):
    """A change the rules do not allow; nothing was changed. `field` and `validator` name it."""

    def __init__(self, field: str, validator: str, message: str) -> None:
        super().__init__(message)
        self.field, self.validator, self.message = field, validator, message


def create_account(connection: Connection, *, actor: Actor, **fields: Any) -> SourceAccount:
    """A new `pending` account; raises IntegrityError for an id the connection already has."""
    with transaction.atomic():
        account = SourceAccount.objects.create(connection=connection, **fields)
        record(actor, "source_account.created", account, id=account.account_id)
    return account


def update_account(
    account: SourceAccount,
    *,
    actor: Actor,
    account_name: str | None = None,
    balance: Decimal | None = None,
    status: str | None = None,
) -> SourceAccount:
    """Rename the account, set its balance while it is not connected (once connected, the
    balance comes from the last written transaction), or mark a connected account
    `disconnected` (its feed stops at once; the connection follows the daily lifecycle). A value
    equal to the stored one is no change. The rules are checked against the row as it is, locked
    (PostgreSQL; SQLite's write lock is taken at BEGIN) until the change is written: a link, a
    write or another change meanwhile cannot slip between the check and the write."""
    with transaction.atomic():
        locked = SourceAccount.objects.select_for_update(of=("self",)).get(pk=account.pk)
        changes = _changes(locked, account_name, balance)
        disconnect = status is not None and status != locked.status
        if disconnect and (
            status != SourceAccountStatus.DISCONNECTED
            or locked.status != SourceAccountStatus.CONNECTED
        ):
            raise AccountChangeRefused(
                "status",
                "disconnectConnected",
                "Only a connected account can be set to disconnected; this one is "
                f"{locked.status}.",
            )
        if changes:
            for name, value in changes.items():
                setattr(locked, name, value)
            locked.save(update_fields=[*changes, "modified"])
            record(
                actor, "source_account.updated", locked, **{k: str(v) for k, v in changes.items()}
            )
        if disconnect:
            feed_rules.end_feeds(locked, actor=actor, reason="disconnected by the client")
            lifecycle.transition(
                locked,
                SourceAccountStatus.DISCONNECTED,
                actor=actor,
                reason="set disconnected by the client",
            )
    return locked


def _changes(
    account: SourceAccount, account_name: str | None, balance: Decimal | None
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if account_name is not None and account_name != account.account_name:
        changes["account_name"] = account_name
    if balance is not None and balance != account.balance:
        if account.status == SourceAccountStatus.CONNECTED:
            raise AccountChangeRefused(
                "balance",
                "balanceWhileConnected",
                "The balance of a connected account comes from its transactions; it can be set "
                "only while the account is not connected.",
            )
        changes["balance"] = balance
    return changes


def delete_account(account: SourceAccount, *, actor: Actor, reason: str) -> None:
    """Remove the account and stop its feed; its undelivered transactions go with it. QBO keeps
    its own account (the integration cannot remove it)."""
    with transaction.atomic():
        feed_rules.end_feeds(account, actor=actor, reason=reason)
        record(actor, "source_account.deleted", account, id=account.account_id)
        account.delete()
