"""The client's webhook endpoints (the hosted service's "webhook consumers"): create (the
signing secret shown once), list, read, change, delete, rotate the secret, send a test event.
The rules are `feeds.webhooks.endpoints`'; this module only maps them to HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from feeds.api import common, json_body, whole_object
from feeds.api.errors import field_error
from feeds.api.responses import responses
from feeds.api.schemas import (
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
    WebhookSecretOut,
    WebhookTestOut,
)
from feeds.models import WebhookEndpoint, WebhookSecret
from feeds.webhooks import endpoints

router = Router(tags=["Webhooks"])


def webhook_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "disabled": endpoint.disabled,
        "eventTypes": list(endpoint.event_types or []),
        "companyTags": list(endpoint.company_tags or []),
        "disabledReason": endpoint.disabled_reason or None,
        "failingSince": endpoint.failing_since,
        "created": endpoint.created,
    }


def _endpoint_or_404(request: HttpRequest, webhook_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(
        pk=webhook_id, client=common.api_key(request).client
    ).first()
    if endpoint is None:
        raise field_error(404, "webhookId", "notFound", f"No webhook {webhook_id}.")
    return endpoint


def _refused(exc: endpoints.EndpointRefused) -> Exception:
    return field_error(400, exc.field, "webhookInvalid", exc.message)


@router.post("/webhooks", response=responses({201: WebhookCreated}, body=True))
def create_webhook(request: HttpRequest, payload: WebhookIn):
    """Subscribe a URL to events. The answer carries the endpoint's signing secret, shown this
    once; deliveries are signed with it per Standard Webhooks."""
    try:
        endpoint, secret = endpoints.create(
            common.api_key(request).client,
            url=payload.url,
            event_types=payload.eventTypes,
            disabled=payload.disabled,
            company_tags=payload.companyTags,
            actor=common.actor(request),
        )
    except endpoints.EndpointRefused as exc:
        raise _refused(exc) from None
    return Status(201, {**webhook_json(endpoint), "secret": secret})


@router.get("/webhooks", response=responses({200: WebhookList}))
def list_webhooks(request: HttpRequest):
    """The client's endpoints (at most 50), oldest first."""
    rows = WebhookEndpoint.objects.filter(client=common.api_key(request).client).order_by(
        "created", "id"
    )
    return {"results": [webhook_json(e) for e in rows]}


@router.get("/webhooks/{webhookId}", response=responses({200: WebhookOut}))
def get_webhook(request: HttpRequest, webhookId: uuid.UUID):
    return webhook_json(_endpoint_or_404(request, webhookId))


@router.patch("/webhooks/{webhookId}", response=responses({200: WebhookOut}, body=True))
def update_webhook(request: HttpRequest, webhookId: uuid.UUID, payload: WebhookPatch):
    """Change the URL, the event types, the company tags, or disable and enable it (enabling
    starts its failure count afresh). The whole endpoint as read may be sent back."""
    endpoint = _endpoint_or_404(request, webhookId)
    raw = json_body.json_value(request)
    whole_object.refuse_changed(
        raw,
        webhook_json(endpoint),
        writable={"url", "eventTypes", "disabled", "companyTags"},
    )
    changes = {
        name: value
        for name, value in payload.model_dump(exclude_unset=True).items()
        if name != "disabled" or value is not None
    }
    try:
        endpoints.update(endpoint, changes, actor=common.actor(request))
    except endpoints.EndpointRefused as exc:
        raise _refused(exc) from None
    return webhook_json(endpoint)


@router.delete("/webhooks/{webhookId}", response=responses({204: None}))
def delete_webhook(request: HttpRequest, webhookId: uuid.UUID):
    """Delete the endpoint: nothing more is sent to it, and its deliveries go with it."""
    endpoints.delete(_endpoint_or_404(request, webhookId), actor=common.actor(request))
    return HttpResponse(status=204)


@router.post("/webhooks/{webhookId}/secret/rotate", response=responses({200: WebhookSecretOut}))
def rotate_webhook_secret(request: HttpRequest, webhookId: uuid.UUID):
    """A new signing secret, shown this once. For 24 hours deliveries carry a signature with
    the previous secret too, so that receivers can switch over without losing one."""
    endpoint = _endpoint_or_404(request, webhookId)
    secret = endpoints.rotate_secret(endpoint, actor=common.actor(request))
    previous = (
        WebhookSecret.objects.filter(endpoint=endpoint, expires__isnull=False)
        .order_by("-expires")
        .values_list("expires", flat=True)
        .first()
    )
    return {"secret": secret, "previousSecretExpiresOnUtc": previous}


@router.post("/webhooks/{webhookId}/test", response=responses({202: WebhookTestOut}))
def test_webhook(request: HttpRequest, webhookId: uuid.UUID):
    """Send the endpoint a test event (`webhooks.test`) now, whatever it subscribes to."""
    event = endpoints.send_test(_endpoint_or_404(request, webhookId), actor=common.actor(request))
    return Status(202, {"eventId": event.pk})
