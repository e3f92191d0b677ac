"""Every allowed status change works and is audited; every other one is refused and changes
nothing."""

from __future__ import annotations

import itertools

import pytest

from accounts.audit import Actor
from accounts.models import AuditEvent
from feeds import lifecycle
from feeds.models import (
    Connection,
    ConnectionStatus,
    DeliveryBatch,
    DeliveryStatus,
    PushOperation,
    PushStatus,
    SourceAccount,
    SourceAccountStatus,
)
from tests.makers import make_batch, make_feed, make_push

STATUSES = {
    Connection: ConnectionStatus,
    SourceAccount: SourceAccountStatus,
    PushOperation: PushStatus,
    DeliveryBatch: DeliveryStatus,
}

EXPECTED_ALLOWED = {
    (Connection, "PendingAuth", "Linked"),
    (Connection, "PendingAuth", "Deauthorized"),
    (Connection, "Linked", "Unlinked"),
    (Connection, "Linked", "Deauthorized"),
    (Connection, "Unlinked", "Linked"),
    (Connection, "Unlinked", "Deauthorized"),
    (SourceAccount, "pending", "connected"),
    (SourceAccount, "connected", "disconnected"),
    (SourceAccount, "disconnected", "connected"),
    (PushOperation, "Pending", "Success"),
    (PushOperation, "Pending", "Failed"),
    (DeliveryBatch, "pending", "delivered"),
    (DeliveryBatch, "pending", "failed"),
    (DeliveryBatch, "pending", "rejected"),
    (DeliveryBatch, "failed", "pending"),
    (DeliveryBatch, "rejected", "pending"),
}

ALL_PAIRS = [
    (model, a, b)
    for model, choices in STATUSES.items()
    for a, b in itertools.permutations(choices.values, 2)
]


def an_object(model, status, alice):
    if model is Connection:
        obj = alice.connection
    elif model is SourceAccount:
        obj = alice.checking
    elif model is PushOperation:
        obj = make_push(alice.checking)
    else:
        obj = make_batch(make_feed(alice.checking))
    model.objects.filter(pk=obj.pk).update(status=status)
    obj.refresh_from_db()
    return obj


def test_the_lifecycle_table_is_the_documented_one():
    actual = {
        (model, a, b)
        for model, table in lifecycle.ALLOWED.items()
        for a, bs in table.items()
        for b in bs
    }
    assert actual == EXPECTED_ALLOWED


@pytest.mark.parametrize(("model", "frm", "to"), sorted(EXPECTED_ALLOWED, key=str))
def test_an_allowed_transition_changes_the_status_and_writes_an_audit_event(alice, model, frm, to):
    obj = an_object(model, frm, alice)
    lifecycle.transition(obj, to, actor=Actor.qbo(), reason="because")
    obj.refresh_from_db()
    assert obj.status == to
    event = AuditEvent.objects.get(action=f"{model._meta.model_name}.status")
    assert event.object_id == str(obj.pk)
    assert event.actor_type == "qbo"
    assert event.company_id == alice.company.id
    details = {k: v for k, v in event.data.items() if k != "feeds_ended"}
    assert details == {"from": frm, "to": to, "reason": "because"}
    assert ("feeds_ended" in event.data) == (to in ("Unlinked", "Deauthorized"))


@pytest.mark.parametrize(
    ("model", "frm", "to"), [p for p in ALL_PAIRS if p not in EXPECTED_ALLOWED], ids=str
)
def test_a_forbidden_transition_raises_and_changes_nothing(alice, model, frm, to):
    obj = an_object(model, frm, alice)
    with pytest.raises(lifecycle.IllegalTransition, match=f"cannot go from '{frm}' to '{to}'"):
        lifecycle.transition(obj, to, actor=Actor.worker())
    obj.refresh_from_db()
    assert obj.status == frm
    assert not AuditEvent.objects.exists()


def test_a_transition_that_lost_a_race_is_refused(alice):
    stale = Connection.objects.get(pk=alice.connection.pk)
    lifecycle.transition(alice.connection, "Linked", actor=Actor.qbo())
    # `stale` still believes it is PendingAuth; the database says Linked.
    with pytest.raises(lifecycle.IllegalTransition, match="changed it meanwhile"):
        lifecycle.transition(stale, "Deauthorized", actor=Actor.worker())
    alice.connection.refresh_from_db()
    assert alice.connection.status == "Linked"
    assert AuditEvent.objects.count() == 1


def test_a_transition_saves_its_extra_updates_with_the_status(alice):
    from django.utils import timezone

    push = make_push(alice.checking)
    done = timezone.now()
    lifecycle.transition(push, "Success", actor=Actor.worker(), updates={"completed_on_utc": done})
    push.refresh_from_db()
    assert (push.status, push.completed_on_utc) == ("Success", done)


def test_a_retried_batch_goes_out_before_a_later_open_one(alice):
    from feeds.delivery import batches

    feed = make_feed(alice.checking)
    rejected = make_batch(feed, status="rejected")
    later = make_batch(feed, status="pending")
    lifecycle.transition(rejected, "pending", actor=Actor.worker())
    assert (rejected.sequence, later.sequence) == (1, 2)
    assert batches.next_batch(feed, "schedule") == rejected


@pytest.mark.parametrize("to", ["Unlinked", "Deauthorized"])
def test_unlinking_a_connection_ends_its_active_feeds(alice, to):
    from feeds.models import Feed

    Connection.objects.filter(pk=alice.connection.pk).update(status="Linked")
    alice.connection.refresh_from_db()
    feed = make_feed(alice.checking)
    lifecycle.transition(alice.connection, to, actor=Actor.worker())
    assert Feed.objects.get(pk=feed.pk).ended is not None
    assert AuditEvent.objects.get().data["feeds_ended"] == 1
