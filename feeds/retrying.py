"""Trying something again after a failure that another try may fix: a bounded number of
attempts in a run, exponential backoff with full jitter between them (or the wait the receiver
asked for), and an end at once on an outcome that is final.

Also the attempts of a delivery spread over a longer time than one run (`Spread`: a webhook
retried over about a day), and reading a receiver's `Retry-After`. Delivering batches to QBO and
webhooks to a client's endpoint use the same pieces."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    """`attempts` in one run; between two, a wait drawn from 0 to `backoff_base` × 2^(n-1)
    seconds after attempt n, at most `backoff_cap`. A receiver asking to wait longer than
    `longest_wait` ends the run at once (what is left is the next run's)."""

    attempts: int
    backoff_base: float
    backoff_cap: float
    longest_wait: float = math.inf

    def backoff(self, attempt: int) -> float:
        """Full jitter: spread at random over the whole window, so that many senders that
        failed together do not come back together."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True)
class Spread:
    """Attempts spread over time, each run its own: after attempt n (from 1) the next comes
    `delays[n-1]` seconds later, give or take `jitter` of it at random; after the last delay's
    attempt there is none."""

    delays: tuple[float, ...]
    jitter: float = 0.1

    @property
    def attempts(self) -> int:
        return len(self.delays) + 1

    def wait(self, attempt: int) -> float | None:
        """Seconds until the attempt after `attempt`, or None when that was the last."""
        if attempt > len(self.delays):
            return None
        delay = self.delays[attempt - 1]
        return max(0.0, delay * random.uniform(1 - self.jitter, 1 + self.jitter))  # noqa: S311


def retry_after(value: str | None, default: float) -> float:
    """A `Retry-After` in seconds; `default` when absent or not a wait anyone meant ("nan",
    "-5", "inf", a date)."""
    try:
        wait = float(value) if value is not None else default
    except ValueError:
        return default
    return wait if math.isfinite(wait) and wait >= 0 else default


@dataclass(frozen=True)
class Transient:
    """An attempt's outcome that another attempt may fix. `wait`: what the receiver asked for
    (Retry-After), taken instead of the backoff."""

    error: str
    wait: float | None = None


def retry(
    attempt: Callable[[], T | Transient],
    policy: Policy,
    *,
    record_attempt: Callable[[int], None] = lambda number: None,
    sleep: Callable[[float], None] = time.sleep,
    what: str = "attempt",
) -> T | Transient:
    """Run `attempt` until its outcome is final, the policy's attempts run out, or the receiver
    asks for a longer wait than the policy takes; return that final outcome or the last
    Transient one. `record_attempt(n)` runs before attempt n (the caller's count and time of
    attempts, and any heartbeat of its own); `what` names the attempts in the log."""
    outcome = Transient("")
    for number in range(1, policy.attempts + 1):
        record_attempt(number)
        outcome = attempt()
        if not isinstance(outcome, Transient):
            return outcome
        if outcome.wait is not None and outcome.wait > policy.longest_wait:
            return outcome
        wait = policy.backoff(number) if outcome.wait is None else outcome.wait
        log.info("%s attempt %s: %s; next in %.1fs", what, number, outcome.error, wait)
        if number < policy.attempts:
            sleep(wait)
    return outcome
