"""The sandbox's receiving endpoint: `POST /qbo-sandbox/api/v1/feeds/{feedId}/transactions`
(`product.md` §6), where linksite pushes batches.

Order of work: injected faults first (they stand for the network and QBO's front end: latency,
dropped connections, 503, 429, timeouts), then the signature and the request id (401, nothing
changed), the feed (404 unknown, 410 disconnected or forced), the body (400, nothing stored),
then de-duplication by `batchId` and by transaction `id` within the feed. Every path answers
JSON; none is a 500."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import random
import socket
import threading
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from qbo_sandbox import signing
from qbo_sandbox.models import (
    FaultSettings,
    FeedStatus,
    LinkedFeed,
    ReceivedBatch,
    ReceivedTransaction,
    sandbox_atomic,
)

logger = logging.getLogger(__name__)

MAX_TRANSACTIONS = 1000
_AMOUNT_LIMIT = Decimal("1e16")


class _Rng:
    """One `random.Random` per fault configuration: re-seeded whenever the settings change, so
    the same settings and the same sequence of requests draw the same faults."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple | None = None
        self.random = random.Random(0)

    def draws(self, faults: FaultSettings, rates: list[float]) -> list[bool]:
        key = (faults.seed, faults.updated)
        with self.lock:
            if key != self.key:
                self.key = key
                self.random = random.Random(faults.seed)
            # Draw only for enabled faults, so a rate left at 0 does not shift the sequence.
            return [rate > 0 and self.random.random() < rate for rate in rates]


_rng = _Rng()


def _error(status: int, error: str, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": error, "message": message}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


class _DroppedConnection(ConnectionAbortedError):
    pass


def _client_socket(request: HttpRequest) -> socket.socket | None:
    """The connection's socket under Django's development server (what the sandbox runs on):
    the request stream wraps the handler's socket file."""
    stream = request.META.get("wsgi.input")
    for name in ("stream", "raw", "_sock"):
        stream = getattr(stream, name, None)
    return stream if isinstance(stream, socket.socket) else None


def _dropped(request: HttpRequest) -> HttpResponse:
    """Emulate a connection dropped before the answer: the request is read whole (as a server
    that received it would), then the socket is shut down, so the client sees the connection
    reset or closed with no answer. Where the socket is out of reach, the headers go out
    announcing a body that never comes, which the client sees as a broken answer."""
    request.body  # noqa: B018 - read the request off the wire
    sock = _client_socket(request)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def body():
        yield b""
        raise _DroppedConnection("fault injection: connection dropped")

    response = StreamingHttpResponse(body(), content_type="application/json")
    response["Content-Length"] = "64"
    return response


def _parse_date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise ValueError("expected a date string YYYY-MM-DD")
    return dt.date.fromisoformat(value[:10])


def _parse_decimal(value: Any, *, required: bool) -> Decimal | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError("expected a decimal string")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("expected a decimal string") from exc
    if not amount.is_finite() or abs(amount) >= _AMOUNT_LIMIT or amount != round(amount, 2):
        raise ValueError("expected a finite decimal with at most 2 decimal places")
    return amount


def _text(value: Any, limit: int, name: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise ValueError(f"{name}: expected a string of at most {limit} characters")
    return value


def parse_batch(raw: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The batch id and the transactions as model field values, or ValueError naming the fault."""
    try:
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the body is not JSON") from exc
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    batch_id = _text(body.get("batchId"), 100, "batchId", required=True)
    items = body.get("transactions")
    if not isinstance(items, list) or len(items) > MAX_TRANSACTIONS:
        raise ValueError(f"transactions: expected a list of at most {MAX_TRANSACTIONS}")
    rows = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError("expected an object")
            cleared = item.get("clearedOnDate") or item.get("date")
            rows.append(
                {
                    "txn_id": _text(item.get("id"), 100, "id", required=True),
                    "cleared_on_date": _parse_date(cleared),
                    "date": _parse_date(item.get("date") or cleared),
                    "amount": _parse_decimal(item.get("amount"), required=True),
                    "currency": _text(item.get("currency"), 3, "currency"),
                    "description": _text(item.get("description"), 1000, "description"),
                    "transaction_type": _text(item.get("transactionType"), 20, "transactionType"),
                    "balance": _parse_decimal(item.get("balance"), required=False),
                }
            )
        except ValueError as exc:
            raise ValueError(f"transactions[{index}]: {exc}") from exc
    return batch_id, rows


def store_batch(feed: LinkedFeed, batch_id: str, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Store a batch once; return (accepted, duplicates). A batch id seen before, or a
    transaction id already stored for this feed (or repeated in the batch), is a duplicate."""
    with sandbox_atomic():
        try:
            with sandbox_atomic():
                batch = ReceivedBatch.objects.create(batch_id=batch_id, feed=feed)
        except IntegrityError:
            ReceivedBatch.objects.filter(batch_id=batch_id).update(resends=F("resends") + 1)
            accepted, duplicates = 0, len(rows)
        else:
            ids = {row["txn_id"] for row in rows}
            known = set(
                ReceivedTransaction.objects.filter(feed=feed, txn_id__in=ids).values_list(
                    "txn_id", flat=True
                )
            )
            new = []
            for row in rows:
                if row["txn_id"] in known:
                    continue
                known.add(row["txn_id"])
                new.append(ReceivedTransaction(feed=feed, batch=batch, **row))
            ReceivedTransaction.objects.bulk_create(new)
            accepted, duplicates = len(new), len(rows) - len(new)
            batch.accepted, batch.duplicates = accepted, duplicates
            batch.save(update_fields=["accepted", "duplicates"])
        if duplicates:
            LinkedFeed.objects.filter(pk=feed.pk).update(duplicates=F("duplicates") + duplicates)
    return accepted, duplicates


@csrf_exempt
def receive_transactions(request: HttpRequest, feed_id: str) -> HttpResponse:
    try:
        return _receive(request, feed_id)
    except _DroppedConnection:
        raise
    except Exception:  # the sandbox must answer the protocol, never a bare 500 page
        logger.exception("qbo_sandbox receiver failed")
        return _error(503, "internal_error", "The sandbox could not store the batch; retry.")


def _receive(request: HttpRequest, feed_id: str) -> HttpResponse:
    if request.method != "POST":
        return _error(405, "method_not_allowed", "Use POST.", Allow="POST")
    faults = FaultSettings.load()
    if faults.latency_ms:
        time.sleep(faults.latency_ms / 1000)
    drop, fail, limit, stall = _rng.draws(
        faults, [faults.rate_drop, faults.rate_503, faults.rate_429, faults.rate_timeout]
    )
    if drop:
        return _dropped(request)
    if fail:
        return _error(503, "service_unavailable", "QuickBooks is temporarily unavailable.")
    if limit:
        return _error(
            429,
            "rate_limited",
            "Too many requests; retry later.",
            **{"Retry-After": str(faults.retry_after_seconds)},
        )
    if stall:
        # Longer than the client waits; the batch is then stored all the same, as a real server
        # would, so the client's retry must be recognised as a duplicate.
        time.sleep(faults.timeout_seconds)

    body = request.body
    raw_uri = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    try:
        request_id = signing.verify(
            request.headers, request.method, signing.paths_of(request.path, raw_uri), body
        )
        signing.accept_once(request_id)
    except signing.SignatureError as exc:
        return _error(401, "unauthorized", str(exc))

    feed = LinkedFeed.objects.filter(feed_id=feed_id).first()
    if feed is None:
        return _error(404, "feed_not_found", "No feed with this id is linked in QuickBooks.")
    if feed.status == FeedStatus.DISCONNECTED or feed.force_410:
        return _error(410, "feed_disconnected", "This feed was disconnected in QuickBooks.")

    try:
        batch_id, rows = parse_batch(body)
    except ValueError as exc:
        return _error(400, "invalid_batch", str(exc))
    accepted, duplicates = store_batch(feed, batch_id, rows)
    return JsonResponse({"accepted": accepted, "duplicates": duplicates})
