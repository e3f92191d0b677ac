"""Claiming a feed, so that one pusher at a time pushes it.

Everywhere: an optimistic lease on the feed row (a conditional UPDATE), renewed before a
request to QBO when what is left of it might not outlast the request, so that a crashed
pusher's claim runs out after FEED_PUSH_LEASE_SECONDS. On PostgreSQL, first a row lock
(`SELECT … FOR UPDATE SKIP LOCKED` on the feed's `FeedPushLock` row) on a connection of its own,
one per thread, kept from push to push: a second pusher skips the feed at once, and a pusher
that dies frees it as soon as its connection drops."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from feeds import leases
from feeds.models import Feed, FeedPushLock

# The feed's lease fields: push_lease_owner, push_lease_until.
LEASE = "push_lease"


def _lease_length() -> dt.timedelta:
    return dt.timedelta(seconds=settings.FEED_PUSH_LEASE_SECONDS)


def take_lease(
    feed_id: str, owner: str, now: dt.datetime | None = None, *, force: bool = False
) -> bool:
    """Claim the feed unless another pusher's lease is still running (`force`: the caller holds
    the PostgreSQL row lock, so a lease left behind is a crashed pusher's)."""
    taken = leases.take(
        Feed.objects.filter(pk=feed_id),
        prefix=LEASE,
        owner=owner,
        now=now or timezone.now(),
        length=_lease_length(),
        force=force,
    )
    return taken == 1


def renew_lease(feed_id: str, owner: str) -> None:
    leases.renew(
        Feed.objects.filter(pk=feed_id),
        prefix=LEASE,
        owner=owner,
        until=timezone.now() + _lease_length(),
    )


class Lease:
    """The pusher's lease, renewed before each request to QBO when what is left of it might
    not outlast the request (connect and read timeouts, and a margin): with the defaults at most
    every 75 s, not before every batch."""

    def __init__(self, feed_id: str, owner: str) -> None:
        self.feed_id, self.owner = feed_id, owner
        self.renewed = time.monotonic()  # taken with the claim, just now

    def renew(self) -> None:
        longest_request = settings.QBO_CONNECT_TIMEOUT + settings.QBO_READ_TIMEOUT + 10
        if time.monotonic() - self.renewed >= settings.FEED_PUSH_LEASE_SECONDS - longest_request:
            renew_lease(self.feed_id, self.owner)
            self.renewed = time.monotonic()


def lease_until(feed_id: str) -> dt.datetime | None:
    """When the claim on the feed runs out, unless renewed (None: not claimed)."""
    return Feed.objects.filter(pk=feed_id).values_list("push_lease_until", flat=True).first()


def release_lease(feed_id: str, owner: str) -> None:
    leases.release(Feed.objects.filter(pk=feed_id), prefix=LEASE, owner=owner)


@contextmanager
def feed_claim(feed_id: str, owner: str) -> Iterator[bool]:
    """Whether this pusher may push the feed (and holds it until the block ends).

    Everywhere: an optimistic lease on the feed row (a conditional UPDATE), renewed before each
    request to QBO, so a crashed pusher's claim runs out after FEED_PUSH_LEASE_SECONDS.
    On PostgreSQL, first a row lock on the feed's `FeedPushLock` row, taken with SKIP LOCKED on
    a connection of its own and held until the push ends: a second pusher skips the feed at
    once, and a pusher that dies (kill -9) frees it as soon as its connection drops."""
    if connection.vendor != "postgresql":
        held = take_lease(feed_id, owner)
        try:
            yield held
        finally:
            if held:
                release_lease(feed_id, owner)
        return

    # Inside a caller's transaction the lock is the caller's to hold (and only it can see rows
    # it has not committed); otherwise the thread's lock connection holds it for the push.
    nested = getattr(_lock_connections, "busy", False)
    if connection.in_atomic_block:
        own = None
    elif nested:  # a claim inside a claim (one thread): a connection of its own, for this once
        own = connections.create_connection(DEFAULT_DB_ALIAS)
        own.set_autocommit(False)
    else:
        own = _lock_connection()
        _lock_connections.busy = True
    lock_db = own or connection
    held = False
    try:
        held = _lock_row(lock_db, feed_id)
        if not held and not FeedPushLock.objects.filter(feed_id=feed_id).exists():
            # The feed's first push: its lock row is made once (on the caller's connection).
            FeedPushLock.objects.bulk_create([FeedPushLock(feed_id=feed_id)], ignore_conflicts=True)
            held = _lock_row(lock_db, feed_id)
        if held:
            take_lease(feed_id, owner, force=True)
        yield held
    finally:
        if held:
            release_lease(feed_id, owner)
        if own is not None and nested:
            own.close()
        elif own is not None:
            _lock_connections.busy = False
            try:
                own.rollback()  # lets go of the lock; the connection stays for the next push
            except Exception:
                drop_lock_connection()
                raise


def _lock_row(lock_db: Any, feed_id: str) -> bool:
    with lock_db.cursor() as cursor:
        cursor.execute(
            "SELECT feed_id FROM feeds_feedpushlock WHERE feed_id = %s FOR UPDATE SKIP LOCKED",
            [feed_id],
        )
        return cursor.fetchone() is not None


_lock_connections = threading.local()


def _lock_connection() -> Any:
    """This thread's connection for push locks (PostgreSQL), opened once and kept: opening one
    per push cost more than pushing a small feed."""
    db = getattr(_lock_connections, "db", None)
    if db is not None and (db.connection is None or db.connection.closed):
        drop_lock_connection()
        db = None
    if db is None:
        db = connections.create_connection(DEFAULT_DB_ALIAS)
        db.set_autocommit(False)
        _lock_connections.db = db
    return db


def drop_lock_connection() -> None:
    """Close this thread's lock connection (kept for the next push otherwise): for a process
    or a test run that pushes no more."""
    db = getattr(_lock_connections, "db", None)
    _lock_connections.db = None
    if db is not None:
        with contextlib.suppress(Exception):
            db.close()
