"""QBO's side of a delivery on the wire (`product.md` §6): the body of a batch, and what each
answer to it means.

A 200 is a delivery only with QBO's whole answer, `{"accepted": n, "duplicates": m}` covering
every transaction sent; a 200 cut short or garbled (a proxy, bytes left on a kept-alive
connection) says nothing was stored. 410: the feed was disconnected in QBO. 429: wait
`Retry-After` seconds (60, QBO's documented wait, when it is not a finite number of seconds, 0 or
more). Another 4xx: QBO refused the batch as it is. 5xx, timeouts and connection errors: try
again later."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests

from feeds import retrying

# QBO's wait after a 429 whose Retry-After is not a number of seconds.
DEFAULT_RETRY_AFTER = 60.0

# One transaction as `batch_body` reads it: id, date (None: the clearedOnDate), clearedOnDate,
# amount, description, transactionType, balance (None: not known).
TransactionRow = tuple[str, dt.date | None, dt.date, Decimal, str, str, Decimal | None]


def batch_body(
    batch_id: uuid.UUID | str, currency: str, rows: Iterable[TransactionRow]
) -> dict[str, Any]:
    """The JSON body of one batch, its transactions in the order given."""
    return {
        "batchId": str(batch_id),
        "transactions": [
            {
                "id": txn_id,
                "date": (date or cleared).isoformat(),
                "clearedOnDate": cleared.isoformat(),
                "amount": str(amount),
                "currency": currency,
                "description": description,
                "transactionType": txn_type,
                "balance": None if balance is None else str(balance),
            }
            for txn_id, date, cleared, amount, description, txn_type, balance in rows
        ],
    }


class Kind(enum.StrEnum):
    DELIVERED = "delivered"  # QBO stored the batch (or already had it)
    DISCONNECTED = "disconnected"  # 410: the feed was disconnected in QBO
    RETRY_AFTER = "retry_after"  # 429: QBO asks to wait `retry_after` seconds
    REJECTED = "rejected"  # another 4xx: QBO will not take the batch as it is
    TRANSIENT = "transient"  # 5xx, a timeout, a dropped connection, a garbled 200


@dataclass(frozen=True)
class Answer:
    """What QBO's answer to one batch means. `error`: what went wrong, as it is recorded on the
    batch (empty when delivered); `status`: the HTTP status, None when no answer came;
    `broken`: the answer was cut short or garbled, or did not come, so the connection it came
    on cannot be trusted with the next request."""

    kind: Kind
    error: str = ""
    status: int | None = None
    retry_after: float | None = None
    broken: bool = False


def read_answer(response: requests.Response, sent: int) -> Answer:
    """QBO's answer to a batch of `sent` transactions."""
    status = response.status_code
    if status == 200 and _complete(response, sent):
        return Answer(Kind.DELIVERED, status=status)
    if status == 410:
        return Answer(
            Kind.DISCONNECTED, "410: the feed was disconnected in QuickBooks", status=status
        )
    text = response.text[:300]
    error = f"{status}: {text}"
    if status == 200:
        # Not QBO's answer for this batch: nothing says it was stored, so it goes again (its
        # batch id makes that safe).
        return Answer(
            Kind.TRANSIENT,
            f"200 with an incomplete answer: {text[:200]!r}",
            status=status,
            broken=True,
        )
    if status == 429:
        wait = retrying.retry_after(response.headers.get("Retry-After"), DEFAULT_RETRY_AFTER)
        return Answer(Kind.RETRY_AFTER, error, status=status, retry_after=wait)
    if 400 <= status < 500:
        return Answer(Kind.REJECTED, error, status=status)
    return Answer(Kind.TRANSIENT, error, status=status)


def no_answer(exc: Exception) -> Answer:
    """A request that got no answer (a timeout, a refused or dropped connection)."""
    return Answer(Kind.TRANSIENT, f"{type(exc).__name__}: {exc}"[:500], broken=True)


def _complete(response: requests.Response, sent: int) -> bool:
    """Whether a 200's body is QBO's whole answer: `{"accepted": n, "duplicates": m}` covering
    every transaction sent."""
    try:
        answer = response.json()
    except ValueError:
        return False
    if not isinstance(answer, dict):
        return False
    accepted, duplicates = answer.get("accepted"), answer.get("duplicates")
    return (
        type(accepted) is int
        and type(duplicates) is int
        and min(accepted, duplicates) >= 0
        and accepted + duplicates == sent
    )
