"""Delivering written transactions to QBO (`product.md` §6, §10), exactly once.

A feed is pushed by one process at a time (an optimistic lease on the feed row, which works on
SQLite and PostgreSQL alike; on PostgreSQL a row lock first). Its pending transactions go out
in `clearedOnDate`, then write, order, in batches of at most 1000. A batch is recorded with its
transactions before it is sent, so a crash leaves it open and the next run re-sends it with the
same `batchId`, which QBO drops as a duplicate (`batches.feeds_to_resume`: the feeds whose push
was cut short, which the worker's every-minute resume queues once their claim has run out).
Transactions are marked delivered only after QBO's 200 with its whole answer.

Answers (read in `feeds/qbo/wire.py`): 200 delivered; 410 the feed was disconnected in QBO
(recorded as `feedDisabledOnUtc`); 429 wait `Retry-After`; other 4xx the batch is rejected
(shown in admin, not retried as is, and the feed waits: delivering later transactions first
would break the order); 5xx, timeouts and connection errors are retried with exponential
backoff and jitter (`feeds/retrying.py`), then left for the next run.

A long backlog is streamed: one batch of at most 1000 is read, sent and marked at a time, so
memory does not grow with the backlog, and a push given a budget (a worker task's
PUSH_TASK_BUDGET_SECONDS) stops after it and says so; `feeds/tasks.py` queues the rest.

- `claim.py`: one pusher per feed (the lease, the PostgreSQL row lock and its connections);
- `batches.py`: choosing and recording batches, their transactions for QBO, marking them
  delivered, failed or rejected; what is pending, and the feeds to push;
- `send.py`: one batch to QBO, attempt after attempt, from a thread of its own if asked;
- `push.py`: the push of a feed (pipelined, batch after batch) and of several feeds.

The names below are re-exported for a shell; code in the project imports them from the module
that owns them."""

from feeds.delivery.batches import BATCH_SIZE, feeds_to_push
from feeds.delivery.push import PushFeedsResult, PushResult, push_feed, push_feeds

__all__ = [
    "BATCH_SIZE",
    "PushFeedsResult",
    "PushResult",
    "feeds_to_push",
    "push_feed",
    "push_feeds",
]
