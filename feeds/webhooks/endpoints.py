"""The rules of webhook endpoints, for the API and admin alike: what an endpoint may be
(`check`), creating one with its secret (shown once), changing it, rotating its secret (the old
one keeps signing for 24 hours), deleting it, a test event, and sending deliveries again."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import Actor, record
from accounts.models import ApiClient
from feeds.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookSecret
from feeds.webhooks import addresses, catalogue, outbox, signing

ROTATION_OVERLAP = dt.timedelta(hours=24)
MAX_COMPANY_TAGS = 10
MAX_TAG_LENGTH = 128
# An API client's endpoints, at most (the hosted service lists up to 50).
MAX_ENDPOINTS = 50


class EndpointRefused(Exception):
    """An endpoint as asked cannot be: `field` names what is wrong, `message` says why (in the
    user's language)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def clean_event_types(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EndpointRefused("eventTypes", _("eventTypes must be an array of strings."))
    unknown = [v for v in value if v not in catalogue.EVENT_TYPES]
    if unknown:
        raise EndpointRefused(
            "eventTypes",
            _("eventTypes: %(unknown)s is not an event type; known: %(known)s.")
            % {"unknown": unknown[0][:100], "known": ", ".join(catalogue.EVENT_TYPES)},
        )
    return list(dict.fromkeys(value))


def clean_company_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EndpointRefused("companyTags", _("companyTags must be an array of strings."))
    if len(value) > MAX_COMPANY_TAGS:
        raise EndpointRefused(
            "companyTags", _("companyTags holds at most %(max)s tags.") % {"max": MAX_COMPANY_TAGS}
        )
    for tag in value:
        key, colon, _rest = tag.partition(":")
        if not colon or not key or len(tag) > MAX_TAG_LENGTH or not addresses.storable(tag):
            raise EndpointRefused(
                "companyTags",
                _("companyTags: each tag is key:value, at most %(max)s characters.")
                % {"max": MAX_TAG_LENGTH},
            )
    return list(dict.fromkeys(value))


def clean_url(value: Any) -> str:
    problem = addresses.url_problem(value)
    if problem:
        raise EndpointRefused("url", problem)
    return value.strip()


def clean_disabled(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise EndpointRefused("disabled", _("disabled must be true or false."))
    return value


def create(
    client: ApiClient,
    *,
    url: Any,
    event_types: Any = None,
    disabled: Any = None,
    company_tags: Any = None,
    actor: Actor,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once; only its seed is kept)."""
    endpoint = WebhookEndpoint(
        client=client,
        url=clean_url(url),
        event_types=clean_event_types(event_types),
        disabled=clean_disabled(disabled),
        company_tags=clean_company_tags(company_tags),
    )
    with transaction.atomic():
        if WebhookEndpoint.objects.filter(client=client).count() >= MAX_ENDPOINTS:
            raise EndpointRefused(
                "url", _("An API client has at most %(max)s endpoints.") % {"max": MAX_ENDPOINTS}
            )
        endpoint.save()
        secret = WebhookSecret.objects.create(endpoint=endpoint, seed=signing.new_seed())
        record(actor, "webhook.endpoint_created", endpoint, url=endpoint.url)
    return endpoint, signing.secret_text(secret.seed)


def update(endpoint: WebhookEndpoint, changes: dict[str, Any], *, actor: Actor) -> None:
    """Change what is given of url, eventTypes, disabled, companyTags (API names). Enabling an
    endpoint starts its failure count afresh."""
    cleaners = {
        "url": ("url", clean_url),
        "eventTypes": ("event_types", clean_event_types),
        "disabled": ("disabled", clean_disabled),
        "companyTags": ("company_tags", clean_company_tags),
    }
    values = {cleaners[k][0]: cleaners[k][1](v) for k, v in changes.items() if k in cleaners}
    if values.get("disabled") is False and endpoint.disabled:
        values["disabled_reason"] = ""
        values["failing_since"] = None
    elif values.get("disabled") is True and not endpoint.disabled:
        values["disabled_reason"] = ""
    for name, value in values.items():
        setattr(endpoint, name, value)
    with transaction.atomic():
        endpoint.save()
        record(actor, "webhook.endpoint_changed", endpoint, changed=sorted(values))


def rotate_secret(endpoint: WebhookEndpoint, *, actor: Actor) -> str:
    """A new current secret; the ones in force keep signing for 24 hours more (at most)."""
    now = timezone.now()
    with transaction.atomic():
        WebhookSecret.objects.filter(endpoint=endpoint, expires__isnull=True).update(
            expires=now + ROTATION_OVERLAP
        )
        WebhookSecret.objects.filter(endpoint=endpoint, expires__gt=now + ROTATION_OVERLAP).update(
            expires=now + ROTATION_OVERLAP
        )
        secret = WebhookSecret.objects.create(endpoint=endpoint, seed=signing.new_seed())
        record(actor, "webhook.secret_rotated", endpoint)
    return signing.secret_text(secret.seed)


def delete(endpoint: WebhookEndpoint, *, actor: Actor) -> None:
    with transaction.atomic():
        record(actor, "webhook.endpoint_deleted", endpoint, url=endpoint.url)
        endpoint.delete()


def send_test(endpoint: WebhookEndpoint, *, actor: Actor) -> Any:
    """A test event to this endpoint (even if it is disabled or subscribes to nothing like it)."""
    with transaction.atomic():
        event = outbox.test_event(endpoint)
        record(actor, "webhook.test_sent", endpoint, event=str(event.pk))
    return event


def replay(deliveries: Iterable[WebhookDelivery], *, actor: Actor) -> int:
    """Send deliveries again, from a first attempt (an operator's replay): how many."""
    ids = [d.pk for d in deliveries]
    now = timezone.now()
    with transaction.atomic():
        count = WebhookDelivery.objects.filter(pk__in=ids).update(
            status=WebhookDeliveryStatus.PENDING,
            attempts=0,
            next_attempt=now,
            delivered=None,
            lease_owner="",
            lease_until=None,
        )
        per_endpoint = Counter(
            WebhookDelivery.objects.filter(pk__in=ids).values_list("endpoint_id", flat=True)
        )
        for endpoint_id, replayed in sorted(per_endpoint.items()):
            record(actor, "webhook.replayed", None, endpoint=str(endpoint_id), deliveries=replayed)
        outbox.announce(per_endpoint)
    return count
