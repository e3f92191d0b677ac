"""Rate limits (issue 16): fixed windows counted in Django's cache by django-ratelimit (in Redis,
shared by every process and host, when REDIS_URL is set; per process otherwise). Each surface
asks `check` with what it counts by (an API client, a partner key, a username, a client address)
and answers `RateLimited` in its own error shape, with `Retry-After`.

The library does the counting (an atomic add-then-incr per window, windows staggered per key so
that every caller's does not reset at once); what is counted, and the answer, are ours."""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

log = logging.getLogger(__name__)


class RateLimited(Exception):
    """Beyond the rate: try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after


def _digest(value: str) -> str:
    # Keys are hashed: a caller's string never becomes a cache key as it is.
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def check(request: HttpRequest, group: str, value: str, rate: str) -> None:
    """Count one request of `value` in `group` against `rate` ("600/m"; empty: no limit); raise
    RateLimited beyond it. A cache that cannot count lets the request through (and says so in
    the log) rather than refusing everyone."""
    if not rate:
        return
    usage = get_usage(
        request, group=group, key=lambda _group, _request: _digest(value), rate=rate, increment=True
    )
    if usage is None:
        log.warning("rate limit %s not counted: the cache did not answer", group)
        return
    if usage["should_limit"]:
        raise RateLimited(max(1, int(usage["time_left"])))


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or behind a proxy that sets it, the last address of
    X-Forwarded-For (RATE_LIMIT_TRUST_X_FORWARDED_FOR; the one the proxy saw)."""
    if settings.RATE_LIMIT_TRUST_X_FORWARDED_FOR:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last[:64]
    return str(request.META.get("REMOTE_ADDR", ""))[:64]
