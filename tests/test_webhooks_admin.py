"""The operator admin of webhooks: endpoints created, changed and deleted through the domain's
rules, the signing secret shown once, rotation, test events, deliveries and their replay, the
notice of an endpoint linksite disabled, in English and French."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from feeds.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSecret,
)
from feeds.webhooks import catalogue, signing

ADD = reverse("admin:feeds_webhookendpoint_add")
CHANGELIST = reverse("admin:feeds_webhookendpoint_changelist")
DELIVERIES = reverse("admin:feeds_webhookdelivery_changelist")
# An address literal: no name to resolve, and public.
PUBLIC_URL = "https://93.184.215.14/hooks/linksite"


def change_url(endpoint: WebhookEndpoint) -> str:
    return reverse("admin:feeds_webhookendpoint_change", args=[quote(endpoint.pk)])


def shown_secrets(page: str) -> list[str]:
    return re.findall(r'value="(whsec_[A-Za-z0-9+/=]+)"', html.unescape(page))


def speak_french(client) -> None:
    client.post(reverse("set_language"), {"language": "fr-ca", "next": "/admin/"})


@pytest.fixture
def endpoint(alice):
    row = WebhookEndpoint.objects.create(client=alice.company.client, url=PUBLIC_URL)
    WebhookSecret.objects.create(endpoint=row, seed=signing.new_seed())
    return row


def make_delivery(endpoint: WebhookEndpoint, event_type: str = catalogue.CONNECTION_CREATED, **kw):
    event = WebhookEvent.objects.create(client=endpoint.client, event_type=event_type, body="{}")
    return WebhookDelivery.objects.create(event=event, endpoint=endpoint, **kw)


def test_a_new_endpoint_shows_its_secret_once_and_keeps_only_a_seed(operator_client, alice):
    response = operator_client.post(
        ADD,
        {
            "client": alice.company.client.pk,
            "url": PUBLIC_URL,
            "event_types": [catalogue.CONNECTION_CREATED, catalogue.WRITE_SUCCESSFUL],
            "company_tags": "region:west, tier:gold\nbranch:42",
        },
    )
    assert response.status_code == 200, response.content.decode()[:3000]
    assert "no-store" in response["Cache-Control"]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.url == PUBLIC_URL and endpoint.client == alice.company.client
    assert endpoint.event_types == [catalogue.CONNECTION_CREATED, catalogue.WRITE_SUCCESSFUL]
    assert endpoint.company_tags == ["region:west", "tier:gold", "branch:42"]
    assert not endpoint.disabled
    page = response.content.decode()
    secret = WebhookSecret.objects.get(endpoint=endpoint)
    assert shown_secrets(page) == [signing.secret_text(secret.seed)]
    assert secret.seed not in page and "whsec_" not in secret.seed
    assert "shown only this once" in page
    assert AuditEvent.objects.filter(
        action="webhook.endpoint_created", object_id=str(endpoint.pk), actor_label="operator"
    ).exists()
    # Never again: not on its page, not in the list.
    for url in (change_url(endpoint), CHANGELIST):
        later = operator_client.get(url)
        assert later.status_code == 200
        assert "whsec_" not in later.content.decode()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.215.14/hooks", "url must start with https://."),
        ("http://93.184.215.14/hooks", "url must start with https://."),
        ("https://127.0.0.1/hooks", "loopback, private or link-local"),
        ("https://10.1.2.3/hooks", "loopback, private or link-local"),
        ("https://user:pw@93.184.215.14/hooks", "must not carry a user name"),
    ],
    ids=["ftp", "http", "loopback", "private", "credentials"],
)
def test_a_url_the_rules_refuse_is_a_form_error_and_writes_nothing(
    operator_client, alice, url, message
):
    response = operator_client.post(ADD, {"client": alice.company.client.pk, "url": url})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["url"]
    assert any(message in e for e in errors["url"]), errors
    assert message in html.unescape(response.content.decode())
    assert not WebhookEndpoint.objects.exists() and not WebhookSecret.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="webhook.").exists()


def test_http_and_private_addresses_are_allowed_when_the_settings_say_so(
    operator_client, alice, settings
):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    response = operator_client.post(
        ADD, {"client": alice.company.client.pk, "url": "http://127.0.0.1:8080/hooks"}
    )
    assert response.status_code == 200 and len(shown_secrets(response.content.decode())) == 1
    assert WebhookEndpoint.objects.get().url == "http://127.0.0.1:8080/hooks"


def test_bad_event_types_and_company_tags_are_form_errors(operator_client, alice):
    response = operator_client.post(
        ADD,
        {
            "client": alice.company.client.pk,
            "url": PUBLIC_URL,
            "event_types": ["no.such.event"],
            "company_tags": "no-colon",
        },
    )
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"event_types", "company_tags"}
    assert "key:value" in str(errors["company_tags"])
    assert not WebhookEndpoint.objects.exists()


def test_the_add_form_offers_every_event_type_with_its_description(operator_client, alice):
    page = html.unescape(operator_client.get(ADD).content.decode())
    for name, description in catalogue.EVENT_TYPES.items():
        assert f'value="{name}"' in page
        assert str(description) in page


def test_a_change_goes_through_the_rules_and_enabling_starts_afresh(operator_client, endpoint):
    since = timezone.now() - dt.timedelta(days=6)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        disabled=True, disabled_reason="failing since …", failing_since=since
    )
    data = {
        "url": "https://93.184.215.15/new",
        "event_types": [catalogue.DELIVERED],
        "company_tags": "tier:gold",
    }
    refused = operator_client.post(change_url(endpoint), {**data, "url": "https://127.0.0.1/x"})
    assert "url" in refused.context["adminform"].form.errors
    response = operator_client.post(change_url(endpoint), data)  # "disabled" unchecked
    assert response.status_code == 302, response.content.decode()[:3000]
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.15/new"
    assert endpoint.event_types == [catalogue.DELIVERED] and endpoint.company_tags == ["tier:gold"]
    assert not endpoint.disabled and endpoint.disabled_reason == ""
    assert endpoint.failing_since is None
    event = AuditEvent.objects.get(action="webhook.endpoint_changed")
    assert event.data["changed"] == [
        "company_tags",
        "disabled",
        "disabled_reason",
        "event_types",
        "failing_since",
        "url",
    ]


def test_deleting_goes_through_the_rules(operator_client, endpoint):
    response = operator_client.post(
        reverse("admin:feeds_webhookendpoint_delete", args=[quote(endpoint.pk)]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(
        action="webhook.endpoint_deleted", object_id=str(endpoint.pk)
    ).exists()


def test_rotating_shows_a_new_secret_once_and_the_old_one_keeps_signing(operator_client, endpoint):
    old = WebhookSecret.objects.get(endpoint=endpoint)
    page = operator_client.get(change_url(endpoint)).content.decode()
    rotate = reverse("admin:feeds_webhookendpoint_rotate_secret", args=[quote(endpoint.pk)])
    assert f'action="{rotate}"' in page
    assert operator_client.get(rotate).status_code == 405  # a change: POST only
    response = operator_client.post(rotate)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    new = WebhookSecret.objects.filter(endpoint=endpoint).exclude(pk=old.pk).get()
    shown = shown_secrets(response.content.decode())
    assert shown == [signing.secret_text(new.seed)] != [signing.secret_text(old.seed)]
    old.refresh_from_db()
    assert new.expires is None
    assert dt.timedelta(hours=23) < old.expires - timezone.now() <= dt.timedelta(hours=24)
    now = timezone.now()
    in_force = WebhookSecret.objects.filter(endpoint=endpoint, expires__isnull=True) | (
        WebhookSecret.objects.filter(endpoint=endpoint, expires__gt=now)
    )
    assert in_force.count() == 2
    later = operator_client.get(change_url(endpoint)).content.decode()
    assert "whsec_" not in later and "signs until" in later


def test_the_rotate_action_shows_each_new_secret(operator_client, endpoint, alice):
    other = WebhookEndpoint.objects.create(
        client=alice.company.client, url="https://93.184.215.16/b"
    )
    response = operator_client.post(
        CHANGELIST,
        {"action": "rotate_secrets", "_selected_action": [str(endpoint.pk), str(other.pk)]},
    )
    assert response.status_code == 200
    shown = set(shown_secrets(response.content.decode()))
    current = {signing.secret_text(s.seed) for s in WebhookSecret.objects.filter(expires=None)}
    assert len(shown) == 2 and shown == current


def test_a_test_event_makes_a_delivery(operator_client, endpoint):
    send = reverse("admin:feeds_webhookendpoint_send_test", args=[quote(endpoint.pk)])
    assert operator_client.get(send).status_code == 405
    response = operator_client.post(send, follow=True)
    assert response.redirect_chain[-1][0] == change_url(endpoint)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event.event_type == catalogue.TEST
    assert delivery.status == WebhookDeliveryStatus.PENDING
    page = response.content.decode()
    assert f"A test event is on its way to {PUBLIC_URL}." in page
    assert catalogue.TEST in page  # in the endpoint's recent deliveries
    assert AuditEvent.objects.filter(action="webhook.test_sent").count() == 1
    operator_client.post(
        CHANGELIST, {"action": "send_test_event", "_selected_action": [str(endpoint.pk)]}
    )
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2


def test_deliveries_show_status_attempts_error_and_latency(operator_client, endpoint):
    now = timezone.now()
    make_delivery(
        endpoint,
        status=WebhookDeliveryStatus.FAILED,
        attempts=7,
        last_attempt=now,
        last_status_code=503,
        last_error="503 Service Unavailable from the receiver",
        latency_ms=4321,
    )
    make_delivery(
        endpoint,
        catalogue.WRITE_SUCCESSFUL,
        status=WebhookDeliveryStatus.DELIVERED,
        attempts=1,
        last_status_code=204,
        latency_ms=87,
        delivered=now,
    )
    for url in (DELIVERIES, change_url(endpoint)):
        page = operator_client.get(url).content.decode()
        for text in ("503 Service Unavailable from the receiver", "4321", ">7<", "87", "204"):
            assert text in page, (url, text)
        assert catalogue.CONNECTION_CREATED in page and catalogue.WRITE_SUCCESSFUL in page
        assert "failed" in page and "delivered" in page
    failed = operator_client.get(DELIVERIES, {"status__exact": "failed"})
    assert [d.latency_ms for d in failed.context["cl"].result_list] == [4321]
    by_type = operator_client.get(DELIVERIES, {"event__event_type": catalogue.WRITE_SUCCESSFUL})
    assert [d.latency_ms for d in by_type.context["cl"].result_list] == [87]
    listed = operator_client.get(CHANGELIST).content.decode()
    assert "delivered (" in listed  # the last delivery's outcome


def test_deliveries_and_events_are_read_only(operator_client, endpoint):
    delivery = make_delivery(endpoint, status=WebhookDeliveryStatus.FAILED, attempts=3)
    change = reverse("admin:feeds_webhookdelivery_change", args=[delivery.pk])
    page = operator_client.get(change).content.decode()
    assert 'name="attempts"' not in page and 'name="_save"' not in page
    operator_client.post(change, {"status": "delivered", "attempts": "0"})
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.FAILED and delivery.attempts == 3
    assert operator_client.get(reverse("admin:feeds_webhookdelivery_add")).status_code == 403
    assert operator_client.get(reverse("admin:feeds_webhookevent_add")).status_code == 403


def test_replay_sends_a_failed_delivery_again(operator_client, endpoint):
    delivery = make_delivery(
        endpoint,
        status=WebhookDeliveryStatus.FAILED,
        attempts=7,
        last_error="timed out",
        next_attempt=None,
    )
    response = operator_client.post(
        DELIVERIES, {"action": "replay", "_selected_action": [delivery.pk]}, follow=True
    )
    assert "1 delivery will be sent again." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.PENDING and delivery.attempts == 0
    assert delivery.next_attempt is not None and delivery.next_attempt <= timezone.now()
    assert AuditEvent.objects.filter(action="webhook.replayed").exists()


def test_an_endpoint_linksite_disabled_is_announced(operator_client, endpoint, alice):
    since = timezone.now() - dt.timedelta(days=5, hours=2)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        disabled=True,
        disabled_reason=f"failing since {since:%Y-%m-%d %H:%M} UTC",
        failing_since=since,
    )
    healthy = WebhookEndpoint.objects.create(
        client=alice.company.client, url="https://93.184.215.16/ok"
    )
    by_hand = WebhookEndpoint.objects.create(
        client=alice.company.client, url="https://93.184.215.17/off", disabled=True
    )
    notice = f"Webhook endpoint {PUBLIC_URL} of alice was disabled by linksite"
    for url in (reverse("admin:index"), CHANGELIST, change_url(endpoint)):
        page = html.unescape(operator_client.get(url).content.decode())
        assert notice in page, url
        assert "has failed since" in page
        assert by_hand.url not in page.split(notice)[0][-200:]
    index = html.unescape(operator_client.get(reverse("admin:index")).content.decode())
    assert index.count("was disabled by linksite") == 1
    filtered = operator_client.get(CHANGELIST, {"health": "disabled_by_linksite"})
    rows = list(filtered.context["cl"].result_list)
    assert rows == [endpoint]
    assert healthy not in rows and by_hand not in rows


def test_no_notice_when_nothing_was_disabled_by_linksite(operator_client, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled=True)  # by its client
    for url in (reverse("admin:index"), CHANGELIST):
        assert "was disabled by linksite" not in operator_client.get(url).content.decode()


def test_the_webhook_admin_speaks_french(operator_client, endpoint):
    speak_french(operator_client)
    since = timezone.now() - dt.timedelta(days=6)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        disabled=True, disabled_reason="failing", failing_since=since
    )
    index = html.unescape(operator_client.get(reverse("admin:index")).content.decode())
    assert f"Le point de terminaison webhook {PUBLIC_URL} de alice a été désactivé" in index
    add = html.unescape(operator_client.get(ADD).content.decode())
    assert "Aucune case cochée\u00a0: tous les types d’événements" in add
    listed = html.unescape(operator_client.get(CHANGELIST).content.decode())
    assert "Envoyer un événement test aux points de terminaison sélectionnés" in listed
    assert "santé des livraisons" in listed
    page = html.unescape(operator_client.get(change_url(endpoint)).content.decode())
    assert "Renouveler le secret de signature" in page
    assert "Envoyer un événement test" in page and "Livraisons récentes" in page
    rotated = html.unescape(
        operator_client.post(
            reverse("admin:feeds_webhookendpoint_rotate_secret", args=[quote(endpoint.pk)])
        ).content.decode()
    )
    assert "Un nouveau secret de signature pour le point de terminaison webhook" in rotated
    assert "J’ai copié le secret" in rotated
    deliveries = html.unescape(operator_client.get(DELIVERIES).content.decode())
    assert "Relancer les livraisons sélectionnées" in deliveries
