"""Delivering events (`product.md` §13): each pending delivery is claimed by one sender
(`feeds.leases`), signed anew for each attempt, and POSTed with bounded time; a 2xx ends it,
another 4xx (or a refused address) ends it as failed, and a 5xx, 429 (its Retry-After honoured),
timeout or dropped connection schedules the next attempt on `feeds.retrying.Spread` (about a
day). A sender that crashes leaves its claim to run out; the next sender sends again, with the
same `webhook-id`, so a receiver can drop the copy.

Each sender works one endpoint at a time: after a failure the rest of what it took for that
endpoint waits with the failed one, so a slow or broken endpoint delays only itself."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Count, Q
from django.utils import timezone
from urllib3 import Timeout

from accounts.audit import Actor, record
from feeds import leases
from feeds.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSecret,
)
from feeds.retrying import Spread, retry_after
from feeds.webhooks import addresses, signing

log = logging.getLogger(__name__)

LEASE = "lease"
WORKER = Actor.worker()
# What is kept of an answer's body, for the delivery's last error.
ANSWER_KEPT = 300
# More of an answer than this is not read.
ANSWER_READ = 64 * 1024
# A 429 without a usable Retry-After waits this long.
DEFAULT_RETRY_AFTER = 60.0
USER_AGENT = "linksite-webhooks/1"
# A sender for one endpoint waits this long at most for a retry about to come due.
SHORT_WAIT = 15.0


def schedule() -> Spread:
    return Spread(tuple(settings.WEBHOOK_RETRY_DELAYS))


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)


def due(now: dt.datetime, endpoint_id: Any = None) -> Any:
    """Pending deliveries whose time has come, to endpoints that are enabled."""
    rows = WebhookDelivery.objects.filter(
        status=WebhookDeliveryStatus.PENDING, next_attempt__lte=now, endpoint__disabled=False
    )
    return rows if endpoint_id is None else rows.filter(endpoint_id=endpoint_id)


def due_by_endpoint(now: dt.datetime | None = None) -> dict[str, int]:
    """Endpoint id → how many deliveries are due and not claimed (what the sweep hands out)."""
    now = now or timezone.now()
    rows = due(now).filter(leases.free(LEASE, now))
    return {
        str(row["endpoint_id"]): row["n"]
        for row in rows.values("endpoint_id").annotate(n=Count("pk")).order_by()
    }


def senders_wanted(count: int) -> int:
    """How many senders to set to work on one endpoint with `count` deliveries due."""
    chunks = -(-count // settings.WEBHOOK_CLAIM_SIZE)
    return max(1, min(chunks, settings.WEBHOOK_SENDERS_PER_ENDPOINT))


@dataclass
class Result:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    held_back: int = 0
    continued: bool = False
    endpoints_disabled: list[str] = field(default_factory=list)


def deliver_due(
    endpoint_id: Any = None,
    *,
    budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Result:
    """Send what is due (to one endpoint, or any), a claim at a time, until nothing is due or
    `budget` seconds are spent (then `continued`: the caller queues the rest). A sender for one
    endpoint waits for a retry due within SHORT_WAIT seconds (the first retry, 5 s after a
    failure, and what waits with it) rather than leave it to the next minute's sweep."""
    result = Result()
    started = clock()
    with addresses.session() as session:
        while True:
            if budget is not None and clock() - started >= budget:
                result.continued = due(timezone.now(), endpoint_id).exists()
                return result
            owner = leases.new_owner()
            now = timezone.now()
            taken = leases.take_some(
                due(now, endpoint_id),
                settings.WEBHOOK_CLAIM_SIZE,
                prefix=LEASE,
                owner=owner,
                now=now,
                length=_lease(),
                order=("next_attempt", "pk"),
            )
            if not taken:
                soon = None if endpoint_id is None else _due_soon(endpoint_id, now)
                left = None if budget is None else budget - (clock() - started)
                if soon is None or (left is not None and soon >= left):
                    return result
                sleep(soon)
                continue
            _send_claimed(session, owner, result)


def _due_soon(endpoint_id: Any, now: dt.datetime) -> float | None:
    """Seconds until the endpoint's next pending delivery, if that is within SHORT_WAIT."""
    upcoming = (
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id,
            status=WebhookDeliveryStatus.PENDING,
            endpoint__disabled=False,
            next_attempt__lte=now + dt.timedelta(seconds=SHORT_WAIT),
        )
        .filter(leases.free(LEASE, now))
        .order_by("next_attempt")
        .values_list("next_attempt", flat=True)
        .first()
    )
    return None if upcoming is None else max(0.0, (upcoming - now).total_seconds()) + 0.05


def _send_claimed(session: requests.Session, owner: str, result: Result) -> None:
    claimed = list(
        WebhookDelivery.objects.filter(lease_owner=owner)
        .select_related("event", "endpoint")
        .order_by("endpoint_id", "next_attempt", "pk")
    )
    by_endpoint: dict[Any, list[WebhookDelivery]] = {}
    for delivery in claimed:
        by_endpoint.setdefault(delivery.endpoint_id, []).append(delivery)
    # Stop starting requests while the claim still outlasts one.
    longest = settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_TIMEOUT + 5
    deadline = time.monotonic() + settings.WEBHOOK_LEASE_SECONDS - longest
    for deliveries in by_endpoint.values():
        endpoint = deliveries[0].endpoint
        seeds = signing_seeds(endpoint)
        done: list[WebhookDelivery] = []
        failure: WebhookDelivery | None = None
        for delivery in deliveries:
            if time.monotonic() >= deadline:
                break
            _attempt(session, delivery, seeds)
            done.append(delivery)
            if delivery.status != WebhookDeliveryStatus.DELIVERED:
                failure = delivery
                break
        untouched = deliveries[len(done) :]
        _record(endpoint, done, untouched, failure, owner, result)


def signing_seeds(endpoint: WebhookEndpoint) -> list[str]:
    """The seeds of the endpoint's secrets in force: the current one, then any rotated out less
    than 24 hours ago."""
    now = timezone.now()
    return list(
        WebhookSecret.objects.filter(endpoint=endpoint)
        .filter(Q(expires__isnull=True) | Q(expires__gt=now))
        .order_by("-created", "-pk")
        .values_list("seed", flat=True)
    )


def signed_request(event: WebhookEvent, seeds: list[str], timestamp: int) -> tuple[bytes, dict]:
    """The body and headers of one attempt at sending `event`."""
    body = event.body.encode()
    headers = signing.headers(str(event.pk), timestamp, body, seeds)
    headers["Content-Type"] = "application/json"
    headers["User-Agent"] = USER_AGENT
    return body, headers


def _attempt(session: requests.Session, delivery: WebhookDelivery, seeds: list[str]) -> None:
    """One POST; the outcome is noted on `delivery` (saved by `_record`)."""
    body, headers = signed_request(delivery.event, seeds, int(time.time()))
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt = now
    started = time.monotonic()
    outcome = _post(session, delivery.endpoint.url, body, headers)
    delivery.latency_ms = int((time.monotonic() - started) * 1000)
    delivery.last_status_code = outcome.status
    delivery.lease_owner, delivery.lease_until = "", None
    if outcome.ok:
        delivery.status = WebhookDeliveryStatus.DELIVERED
        delivery.delivered = timezone.now()
        delivery.last_error = ""
        delivery.next_attempt = None
        return
    delivery.last_error = outcome.error[:1000]
    wait = None if outcome.final else schedule().wait(delivery.attempts)
    if wait is None:
        delivery.status = WebhookDeliveryStatus.FAILED
        delivery.next_attempt = None
        return
    if outcome.retry_after is not None:
        wait = outcome.retry_after
    delivery.next_attempt = timezone.now() + dt.timedelta(seconds=wait)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str = ""
    status: int | None = None
    final: bool = False
    retry_after: float | None = None


def _post(session: requests.Session, url: str, body: bytes, headers: dict) -> Outcome:
    timeout = Timeout(connect=settings.WEBHOOK_CONNECT_TIMEOUT, total=settings.WEBHOOK_TIMEOUT)
    try:
        response = session.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        )
    except requests.RequestException as exc:
        reason = addresses.refused(exc)
        if reason:
            return Outcome(False, f"refused: {reason}", final=True)
        return Outcome(False, f"{type(exc).__name__}: {exc}"[:500])
    try:
        answer = response.raw.read(ANSWER_READ + 1, decode_content=True) or b""
    except Exception as exc:  # a body cut short: the answer cannot be trusted
        response.close()
        return Outcome(False, f"{response.status_code}, answer cut short: {exc}"[:500])
    if len(answer) > ANSWER_READ:
        response.close()  # the rest is not read; the connection is not reused
    else:
        response.raw.release_conn()
    status = response.status_code
    text = answer[:ANSWER_KEPT].decode("utf-8", "replace")
    if 200 <= status < 300:
        return Outcome(True, status=status)
    error = f"{status}: {text}"
    if status == 429:
        wait = retry_after(response.headers.get("Retry-After"), DEFAULT_RETRY_AFTER)
        return Outcome(False, error, status, retry_after=wait)
    if status >= 500 or status == 408:
        return Outcome(False, error, status)
    if 300 <= status < 400:
        error = f"{status}: redirects are not followed; set the endpoint to the final URL."
    return Outcome(False, error, status, final=True)


def _record(
    endpoint: WebhookEndpoint,
    done: list[WebhookDelivery],
    untouched: list[WebhookDelivery],
    failure: WebhookDelivery | None,
    owner: str,
    result: Result,
) -> None:
    """Save what became of the deliveries sent; the rest wait with the failed one (or are let
    go, when the claim ran short of time)."""
    now = timezone.now()
    with transaction.atomic():
        if done:
            _save_outcomes(done)
        rest = WebhookDelivery.objects.filter(pk__in=[d.pk for d in untouched])
        if failure is not None and failure.status == WebhookDeliveryStatus.PENDING:
            rest.update(next_attempt=failure.next_attempt, lease_owner="", lease_until=None)
            result.held_back += len(untouched)
        else:
            leases.release(rest, prefix=LEASE, owner=owner)
        for delivery in done:
            if delivery.status == WebhookDeliveryStatus.DELIVERED:
                result.delivered += 1
            elif delivery.status == WebhookDeliveryStatus.FAILED:
                result.failed += 1
            else:
                result.retrying += 1
        if failure is None:
            if endpoint.failing_since is not None:
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            return
        if endpoint.failing_since is None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
                failing_since=now
            )
        elif disable_if_failing(endpoint, now):
            result.endpoints_disabled.append(str(endpoint.pk))


OUTCOME_FIELDS = (
    "status",
    "attempts",
    "last_attempt",
    "last_status_code",
    "last_error",
    "latency_ms",
    "delivered",
    "next_attempt",
    "lease_owner",
    "lease_until",
)


def _save_outcomes(done: list[WebhookDelivery]) -> None:
    """Save OUTCOME_FIELDS of `done`, as `bulk_update` does (one UPDATE with a CASE per field,
    a batch at a time), but with the SQL written here: building Django's expressions (a `When`
    per row and field) took longer than sending the requests. A field with one value for every
    row (most of them, in a claim that went well) is set plainly."""
    model = WebhookDelivery
    opts = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    pk = opts.pk
    cast = connection.features.requires_casted_case_in_updates
    fields = [opts.get_field(name) for name in OUTCOME_FIELDS]
    size = connection.ops.bulk_batch_size([pk, *fields, pk], done) or len(done)
    for first in range(0, len(done), size):
        rows = done[first : first + size]
        ids = [pk.get_db_prep_value(row.pk, connection) for row in rows]
        sets, params = [], []
        for column in fields:
            values = [
                column.get_db_prep_save(getattr(row, column.attname), connection) for row in rows
            ]
            placeholder = f"CAST(%s AS {column.cast_db_type(connection)})" if cast else "%s"
            if all(value == values[0] for value in values):
                sets.append(f"{quote(column.column)} = {placeholder}")
                params.append(values[0])
                continue
            whens = " ".join(f"WHEN %s THEN {placeholder}" for _ in rows)
            sets.append(f"{quote(column.column)} = CASE {quote(pk.column)} {whens} END")
            for key, value in zip(ids, values, strict=True):
                params += [key, value]
        marks = ", ".join(["%s"] * len(ids))
        # Only the model's own (quoted) names are written in; every value is a parameter.
        table, key = quote(opts.db_table), quote(pk.column)
        sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {key} IN ({marks})"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *ids])


def disable_if_failing(endpoint: WebhookEndpoint, now: dt.datetime) -> bool:
    """Disable an endpoint every attempt at which has failed for WEBHOOK_DISABLE_AFTER_DAYS."""
    cutoff = now - dt.timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
    with transaction.atomic():
        changed = WebhookEndpoint.objects.filter(
            pk=endpoint.pk, disabled=False, failing_since__lte=cutoff
        ).update(
            disabled=True,
            disabled_reason=f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC",
            modified=now,
        )
        if changed:
            endpoint.disabled = True
            record(
                WORKER,
                "webhook.endpoint_disabled",
                endpoint,
                url=endpoint.url,
                failing_since=endpoint.failing_since.isoformat(),
            )
    return bool(changed)


def purge(now: dt.datetime | None = None) -> dict[str, int]:
    """Deliveries older than WEBHOOK_RETENTION_DAYS that are over, and events left with no
    delivery; endpoints failing for too long are disabled."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    old = WebhookDelivery.objects.filter(created__lt=cutoff)
    deliveries = old.delete()[1].get(WebhookDelivery._meta.label, 0)
    events = (
        WebhookEvent.objects.filter(generated__lt=cutoff, deliveries__isnull=True)
        .delete()[1]
        .get(WebhookEvent._meta.label, 0)
    )
    disabled = 0
    for endpoint in WebhookEndpoint.objects.filter(
        disabled=False,
        failing_since__lte=now - dt.timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS),
    ):
        disabled += disable_if_failing(endpoint, now)
    return {
        "webhook_deliveries_purged": deliveries,
        "webhook_events_purged": events,
        "webhook_endpoints_disabled": disabled,
    }
