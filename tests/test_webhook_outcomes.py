"""Saving a claim's outcomes (`sending._save_outcomes`): the rows hold what `bulk_update` would
have written, whether the values differ from row to row or are all the same."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.audit import Actor
from feeds.models import WebhookDelivery
from feeds.webhooks import catalogue, endpoints, outbox, sending


@pytest.fixture
def deliveries(alice):
    with override_settings(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True):
        endpoint, _secret = endpoints.create(
            alice.company.client, url="http://127.0.0.1:9/hooks", actor=Actor.system("test")
        )
    outbox.emit_many(alice.company, [(catalogue.DELIVERED, {"n": n}) for n in range(30)])
    return list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk"))


def stored(rows):
    fresh = {d.pk: d for d in WebhookDelivery.objects.filter(pk__in=[d.pk for d in rows])}
    return [[getattr(fresh[d.pk], name) for name in sending.OUTCOME_FIELDS] for d in rows]


def noted(rows):
    return [[getattr(d, name) for name in sending.OUTCOME_FIELDS] for d in rows]


def test_mixed_outcomes_are_saved_row_by_row(deliveries):
    now = timezone.now()
    pick = random.Random(5).choice
    for n, delivery in enumerate(deliveries):
        delivery.status = pick(["delivered", "pending", "failed"])
        delivery.attempts = pick([1, 2, 7])
        delivery.last_attempt = now - dt.timedelta(seconds=n, microseconds=n)
        delivery.last_status_code = pick([None, 200, 429, 503])
        delivery.last_error = pick(["", "503: busy, réessayez", "x" * 1000])
        delivery.latency_ms = pick([None, 0, 12])
        delivery.delivered = pick([None, now])
        delivery.next_attempt = pick([None, now + dt.timedelta(seconds=5)])
        delivery.lease_owner = pick(["", "host:1:abc"])
        delivery.lease_until = pick([None, now])
    sending._save_outcomes(deliveries)
    assert stored(deliveries) == noted(deliveries)


def test_outcomes_the_same_for_every_row_are_saved(deliveries):
    now = timezone.now()
    for delivery in deliveries:
        delivery.status, delivery.attempts, delivery.last_status_code = "delivered", 1, 200
        delivery.last_attempt = delivery.delivered = now
        delivery.latency_ms, delivery.lease_owner = 3, ""
    sending._save_outcomes(deliveries)
    sending._save_outcomes(deliveries[:1])
    assert stored(deliveries) == noted(deliveries)
