"""Changing a source account (`feeds.source_accounts`): the rules are checked against the row as
it is when the change is written, not as the caller read it."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.db import transaction

from accounts.audit import Actor
from feeds import lifecycle, source_accounts
from feeds.models import SourceAccount, SourceAccountStatus

API = Actor.system()


def test_a_balance_is_refused_for_an_account_connected_since_it_was_read(alice):
    stale = SourceAccount.objects.get(pk=alice.checking.pk)
    assert stale.status != SourceAccountStatus.CONNECTED
    # QBO links the account meanwhile (another request).
    SourceAccount.objects.filter(pk=stale.pk).update(status=SourceAccountStatus.CONNECTED)
    with pytest.raises(source_accounts.AccountChangeRefused) as refused:
        source_accounts.update_account(stale, actor=API, balance=Decimal("999.00"))
    assert refused.value.validator == "balanceWhileConnected"
    assert SourceAccount.objects.get(pk=stale.pk).balance == alice.checking.balance


def test_a_disconnect_is_checked_against_the_account_as_it_is(alice):
    stale = SourceAccount.objects.get(pk=alice.checking.pk)
    SourceAccount.objects.filter(pk=stale.pk).update(status=SourceAccountStatus.CONNECTED)
    stale.status = SourceAccountStatus.CONNECTED
    SourceAccount.objects.filter(pk=stale.pk).update(status=SourceAccountStatus.DISCONNECTED)
    # A second disconnect of an account already disconnected is no change, not a second end.
    account = source_accounts.update_account(
        stale, actor=API, status=SourceAccountStatus.DISCONNECTED
    )
    assert account.status == SourceAccountStatus.DISCONNECTED


@pytest.mark.django_db(transaction=True)
def test_a_balance_set_while_the_account_is_being_connected_waits_and_is_refused(alice):
    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent sessions need a server database")
    stale = SourceAccount.objects.get(pk=alice.checking.pk)
    connecting, release = threading.Event(), threading.Event()

    def link() -> None:
        try:
            with transaction.atomic():
                account = SourceAccount.objects.get(pk=stale.pk)
                lifecycle.transition(
                    account, SourceAccountStatus.CONNECTED, actor=API, reason="linked in QBO"
                )
                connecting.set()
                release.wait(10)
        finally:
            db_connection.close()

    outcome: list[str] = []

    def set_balance() -> None:
        try:
            source_accounts.update_account(stale, actor=API, balance=Decimal("999.00"))
            outcome.append("written")
        except source_accounts.AccountChangeRefused as exc:
            outcome.append(exc.validator)
        finally:
            db_connection.close()

    linker = threading.Thread(target=link)
    linker.start()
    assert connecting.wait(10)
    writer = threading.Thread(target=set_balance)
    writer.start()
    time.sleep(0.5)  # the change waits on the account's row
    assert outcome == []
    release.set()
    linker.join(10)
    writer.join(10)
    assert outcome == ["balanceWhileConnected"]
    account = SourceAccount.objects.get(pk=stale.pk)
    assert (account.status, account.balance) == (SourceAccountStatus.CONNECTED, stale.balance)
