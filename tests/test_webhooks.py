"""Webhooks to the client backend (`product.md` §13, issue 15), delivered over real HTTP to a
receiver that verifies every request with the `standardwebhooks` and `svix` libraries: each event
fires exactly when its change happens (through the API, the Link pages, QBO's actions and the
daily maintenance) and only for the endpoints of the company's own client that subscribe to it;
envelopes and payloads match the hosted service's published schemas; the outcomes of an attempt
(2xx, 4xx, 5xx, 429, redirects, timeouts), rotation, the five-day disable, retention, and the
addresses a webhook may not go to."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import time_machine
from codat_bankfeeds.models.shared import SourceAccountWebhook
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import AuditEvent
from feeds import connection_rules, credentials, link_urls
from feeds.maintenance import run_daily_maintenance
from feeds.models import (
    Feed,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookSecret,
)
from feeds.webhooks import catalogue, outbox, sending
from tests.conftest import Api, issue_key
from tests.test_qbo_protocol import call, feed_item
from tests.webhook_receiver import Receiver

OAS = Path(os.environ.get("PUBLISHED_OAS_DIR", "/work/shared/oas"))
NOON = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)


# The published schemas of the hosted service's events -----------------------------------------


def _one_of_as_any_of(node: Any) -> Any:
    """The source account of the published event is `oneOf` version 2 and version 1, yet any
    account valid as one is valid as the other (the hosted service's own example too): read it
    as `anyOf`, as its authors meant."""
    if isinstance(node, dict):
        node = {("anyOf" if k == "oneOf" else k): _one_of_as_any_of(v) for k, v in node.items()}
    elif isinstance(node, list):
        node = [_one_of_as_any_of(v) for v in node]
    return node


def _validators() -> dict[str, Any]:
    import jsonschema_rs

    from tests.test_idx import _nullable_as_json_schema

    found = {}
    for file, names in {
        "Codat-Platform.json": ("ConnectionWebhook", "DataTypeWriteWebhook"),
        "Codat-Bank-Feeds.json": ("SourceAccountWebhook",),
    }.items():
        path = OAS / file
        if not path.is_file():
            continue
        document = _one_of_as_any_of(
            _nullable_as_json_schema(json.loads(path.read_text(encoding="utf-8")))
        )
        for name in names:
            found[name] = jsonschema_rs.validator_for(
                {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "$ref": f"#/components/schemas/{name}",
                    "components": copy.deepcopy(document["components"]),
                    "paths": document.get("paths", {}),
                },
                validate_formats=False,
            )
    return found


VALIDATORS = _validators()
SCHEMA_OF = {
    "connection.": "ConnectionWebhook",
    "bankFeeds.sourceAccount.": "SourceAccountWebhook",
    "bankTransactions.write.": "DataTypeWriteWebhook",
}


def conforms(event: dict[str, Any]) -> None:
    """The envelope and payload as the hosted service publishes them (where it has the event)."""
    assert set(event) == {"id", "eventType", "generatedDate", "payload"}
    assert event["generatedDate"].endswith("Z")
    name = next((s for p, s in SCHEMA_OF.items() if event["eventType"].startswith(p)), None)
    if name is None or name not in VALIDATORS:
        return
    errors = [str(e) for e in VALIDATORS[name].iter_errors(event)]
    assert errors == [], errors


def test_the_published_schemas_are_there_and_can_fail():
    if not VALIDATORS:
        pytest.skip(f"the published documents are absent from {OAS}")
    assert set(VALIDATORS) == {"ConnectionWebhook", "DataTypeWriteWebhook", "SourceAccountWebhook"}
    bad = {"id": "x", "eventType": "connection.created", "generatedDate": "now", "payload": 3}
    with pytest.raises(AssertionError):
        conforms(bad)


# A client backend with an endpoint --------------------------------------------------------------


@pytest.fixture
def allow_local(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    return settings


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


class Hooks:
    """alice's client backend: its API, its endpoint and the receiver behind it."""

    def __init__(self, api: Api, receiver: Receiver, **body: Any) -> None:
        self.api, self.receiver = api, receiver
        created = api.post("/webhooks", {"url": receiver.url, **body})
        assert created.status_code == 201, created.content
        self.endpoint = created.json()
        receiver.secrets.append(self.endpoint["secret"])

    def deliver(self) -> list[str]:
        """Send what is due; the event types the receiver got so far (checked against the
        published schemas)."""
        sending.deliver_due()
        for received in self.receiver.received:
            conforms(received.event)
            if received.event_type.startswith("bankFeeds.sourceAccount."):
                # The hosted service's SDK reads it as its own model.
                model = SourceAccountWebhook.from_json(received.body.decode())
                assert model.payload.connection_id == received.payload["connectionId"]
                assert model.payload.source_account.id == received.payload["sourceAccount"]["id"]
        assert self.receiver.answers["unverified"] == 0
        return self.receiver.types()

    def new_types(self) -> list[str]:
        before = len(self.receiver.received)
        self.deliver()
        return [r.event_type for r in self.receiver.received[before:]]

    def last(self, event_type: str) -> dict[str, Any]:
        return self.receiver.of_type(event_type)[-1].payload


@pytest.fixture
def alice_api(client, alice, enabled):
    return Api(client, issue_key("alice"))


@pytest.fixture
def hooks(alice_api, receiver, allow_local):
    return Hooks(alice_api, receiver)


def company_path(people) -> str:
    return f"/companies/{people.company.pk}"


def write(api: Api, people, account: str, *items: dict) -> dict:
    path = (
        f"{company_path(people)}/connections/{people.connection.pk}/push/bankAccounts/{account}"
        "/bankTransactions"
    )
    response = api.post(path, {"accountId": account, "transactions": list(items)})
    return response.json()


def link_in_qbo(client, people, *accounts: str) -> list[dict]:
    """The SMB user links accounts in QBO: credentials, then the signed protocol."""
    credential_set, password = credentials.issue(
        people.connection,
        [a for a in (people.checking, people.card) if a.account_id in accounts],
        origin="link",
        actor=Actor.smb(people.connection.pk),
    )
    verified = call(
        client,
        "/qbo/v1/credentials/verify",
        {"username": credential_set.username, "password": password},
    ).json()
    items = [
        feed_item(account, str(35 + n), start=timezone.localdate())
        for n, account in enumerate(accounts)
    ]
    linked = call(
        client, "/qbo/v1/feeds", {"linkSessionId": verified["linkSessionId"], "feeds": items}
    )
    assert linked.status_code == 201, linked.content
    return linked.json()["feeds"]


# Events, as their changes happen --------------------------------------------------------------


def test_the_connection_and_account_events_fire_as_the_connection_lives(hooks, alice, client):
    api = hooks.api
    created = api.post(f"{company_path(alice)}/connections", {"platformKey": "hcws"}).json()
    assert hooks.new_types() == ["connection.created"]
    payload = hooks.last("connection.created")
    assert payload["connection"]["id"] == created["id"]
    assert payload["connection"]["status"] == "PendingAuth"
    assert payload["referenceCompany"] == {
        "id": str(alice.company.pk),
        "name": "Alice Bakery",
        "description": "",
        "links": {"portal": f"http://testserver/admin/accounts/company/{alice.company.pk}/change/"},
        "tags": {},
    }

    link_in_qbo(client, alice, "alice-chk", "alice-visa")
    assert sorted(hooks.new_types()) == [
        "bankFeeds.sourceAccount.connected",
        "bankFeeds.sourceAccount.connected",
        "connection.connected",
    ]
    connected = hooks.receiver.of_type("bankFeeds.sourceAccount.connected")
    assert {r.payload["sourceAccount"]["id"] for r in connected} == {"alice-chk", "alice-visa"}
    assert {r.payload["sourceAccount"]["status"] for r in connected} == {"connected"}
    assert {r.payload["connectionId"] for r in connected} == {str(alice.connection.pk)}
    assert connected[0].payload["sourceAccount"]["feedStartDate"] == str(timezone.localdate())
    assert hooks.last("connection.connected")["connection"]["status"] == "Linked"

    connection = f"{company_path(alice)}/connections/{alice.connection.pk}"
    assert api.patch(connection, {"status": "Unlinked"}).status_code == 200
    assert hooks.new_types() == ["connection.disconnected"]
    assert hooks.last("connection.disconnected")["connection"]["status"] == "Unlinked"
    assert api.patch(connection, {"status": "Unlinked"}).status_code == 200  # no change, no event
    assert hooks.new_types() == []

    link_in_qbo(client, alice, "alice-chk")
    assert sorted(hooks.new_types()) == [
        "bankFeeds.sourceAccount.connected",
        "connection.reconnected",
    ]

    assert api.delete(connection).status_code == 200
    assert hooks.new_types() == ["connection.disconnected", "connection.deleted"]
    assert hooks.last("connection.disconnected")["connection"]["status"] == "Deauthorized"
    assert hooks.last("connection.deleted")["connection"]["id"] == str(alice.connection.pk)


def test_deleting_a_company_reports_each_connection_it_still_had(hooks, alice):
    second = connection_rules.open_connection(alice.company, actor=Actor.system())
    hooks.deliver()
    assert hooks.api.delete(company_path(alice)).status_code == 204
    deleted = hooks.receiver.of_type("connection.deleted")
    hooks.deliver()
    deleted = hooks.receiver.of_type("connection.deleted")
    assert {r.payload["connection"]["id"] for r in deleted} == {
        str(alice.connection.pk),
        str(second.pk),
    }


def test_every_write_reports_its_outcome_with_its_push_operation_key(hooks, alice, client):
    link_in_qbo(client, alice, "alice-chk")
    hooks.deliver()
    today = str(timezone.localdate())
    ok = write(
        hooks.api,
        alice,
        "alice-chk",
        {"id": "t1", "clearedOnDate": today, "amount": 12.5, "description": "Coffee"},
    )
    bad = write(hooks.api, alice, "alice-chk", {"id": "t2", "amount": 0, "description": "x"})
    assert (ok["status"], bad["status"]) == ("Success", "Failed")
    assert hooks.new_types() == [
        "bankTransactions.write.successful",
        "bankTransactions.write.unsuccessful",
    ]
    success = hooks.last("bankTransactions.write.successful")
    assert success["id"] == ok["pushOperationKey"]
    assert (success["type"], success["status"]) == ("Create", "Success")
    assert success["connectionId"] == str(alice.connection.pk)
    assert success["record"] == {"id": "alice-chk"}
    assert success["requestedOnDate"] <= success["completedOnDate"]
    failure = hooks.last("bankTransactions.write.unsuccessful")
    assert (failure["id"], failure["status"]) == (bad["pushOperationKey"], "Failed")
    assert failure["validation"]["errors"]


def test_the_link_pages_company_entry_reports_the_connection_it_opens(hooks, bob, alice):
    alice.connection.delete()
    response = Client().get(link_urls.company_url(alice.company))
    assert response.status_code == 302
    assert hooks.new_types() == ["connection.created"]
    Client().get(link_urls.company_url(alice.company))  # its connection now: nothing new
    assert hooks.new_types() == []


def test_qbo_stopping_a_feed_reports_it_at_once_and_the_10_day_change_later(hooks, alice, client):
    with time_machine.travel(NOON, tick=False):
        feed_id = link_in_qbo(client, alice, "alice-chk", "alice-visa")[0]["feedId"]
        hooks.deliver()
        assert call(client, f"/qbo/v1/feeds/{feed_id}/disconnect").status_code == 200
        assert hooks.new_types() == ["bankFeeds.sourceAccount.feedDisabled"]
        disabled = hooks.last("bankFeeds.sourceAccount.feedDisabled")
        assert (disabled["sourceAccount"]["id"], disabled["feedId"]) == ("alice-chk", feed_id)
        assert disabled["sourceAccount"]["status"] == "connected"  # for 10 days more
        assert disabled["feedDisabledOnUtc"] == "2026-11-25T17:00:00.000Z"
    with time_machine.travel(NOON + dt.timedelta(days=9), tick=False):
        run_daily_maintenance()
        assert hooks.new_types() == []
    with time_machine.travel(NOON + dt.timedelta(days=10, hours=1), tick=False):
        run_daily_maintenance()
        assert hooks.new_types() == ["bankFeeds.sourceAccount.disconnected"]
        gone = hooks.last("bankFeeds.sourceAccount.disconnected")
        assert (gone["sourceAccount"]["id"], gone["sourceAccount"]["status"]) == (
            "alice-chk",
            "disconnected",
        )
        # The card is still fed: the connection stays Linked.
        assert Feed.objects.get(pk=feed_id).disabled_on_utc is not None
    with time_machine.travel(NOON + dt.timedelta(days=11), tick=False):
        call(client, f"/qbo/v1/feeds/{Feed.objects.active().get().pk}/disconnect")
    with time_machine.travel(NOON + dt.timedelta(days=21, hours=1), tick=False):
        run_daily_maintenance()
        assert hooks.new_types() == [
            "bankFeeds.sourceAccount.feedDisabled",
            "bankFeeds.sourceAccount.disconnected",
            "connection.disconnected",
        ]
        assert hooks.last("connection.disconnected")["connection"]["status"] == "Unlinked"


# Who gets what --------------------------------------------------------------------------------


def test_nothing_is_sent_for_another_clients_companies(hooks, alice, bob, client, receiver):
    bob_api = Api(Client(), issue_key("bob"))
    with Receiver() as bobs:
        bob_endpoint = bob_api.post("/webhooks", {"url": bobs.url}).json()
        bobs.secrets.append(bob_endpoint["secret"])
        connection_rules.open_connection(alice.company, actor=Actor.system())
        connection_rules.open_connection(bob.company, actor=Actor.system())
        sending.deliver_due()
        assert [r.payload["referenceCompany"]["id"] for r in receiver.received] == [
            str(alice.company.pk)
        ]
        assert [r.payload["referenceCompany"]["id"] for r in bobs.received] == [str(bob.company.pk)]
    # Nor can bob see, change or test alice's endpoint.
    path = f"/webhooks/{hooks.endpoint['id']}"
    assert bob_api.get(path).status_code == 404
    assert bob_api.patch(path, {"disabled": True}).status_code == 404
    assert bob_api.post(path + "/test").status_code == 404
    assert bob_api.post(path + "/secret/rotate").status_code == 404
    assert bob_api.delete(path).status_code == 404
    assert bob_api.get("/webhooks").json() == {
        "results": [bob_api.get("/webhooks").json()["results"][0]]
    }
    assert WebhookEndpoint.objects.get(pk=hooks.endpoint["id"]).disabled is False


def test_company_tags_and_event_types_choose_what_an_endpoint_gets(
    alice_api, alice, receiver, allow_local
):
    alice.company.tags = {"region": "us", "tier": "gold"}
    alice.company.save()
    other = type(alice)(company=None)
    from tests.makers import make_company

    other.company = make_company("Carol Cafe", "US", client="alice")
    tagged = Hooks(alice_api, receiver, companyTags=["tier:gold"])
    with Receiver() as only_writes:
        writes = Hooks(alice_api, only_writes, eventTypes=["bankTransactions.write.successful"])
        connection_rules.open_connection(alice.company, actor=Actor.system())
        connection_rules.open_connection(other.company, actor=Actor.system())
        tagged.deliver()
        writes.deliver()
        assert [r.payload["referenceCompany"]["name"] for r in receiver.received] == [
            "Alice Bakery"
        ]
        assert receiver.received[0].payload["referenceCompany"]["tags"] == {
            "region": "us",
            "tier": "gold",
        }
        assert only_writes.received == []
        # A test event reaches an endpoint whatever it subscribes to.
        assert alice_api.post(f"/webhooks/{writes.endpoint['id']}/test").status_code == 202
        assert writes.new_types() == ["webhooks.test"]


def test_no_endpoint_means_no_event_rows(alice, enabled):
    connection_rules.open_connection(alice.company, actor=Actor.system())
    assert WebhookEvent.objects.count() == WebhookDelivery.objects.count() == 0


def test_an_event_is_recorded_with_its_change_or_not_at_all(hooks, alice):
    with pytest.raises(RuntimeError), transaction.atomic():
        connection_rules.open_connection(alice.company, actor=Actor.system())
        assert WebhookEvent.objects.filter(event_type="connection.created").count() == 1
        raise RuntimeError("the change fails after its event was recorded")
    assert WebhookEvent.objects.count() == 0
    assert hooks.new_types() == []
    connection_rules.open_connection(alice.company, actor=Actor.system())
    assert hooks.new_types() == ["connection.created"]


# Attempts and their outcomes ------------------------------------------------------------------


def one_delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.select_related("event").get()


def test_a_5xx_is_retried_on_the_schedule_with_jitter_then_fails_after_the_last(
    hooks, alice, settings
):
    hooks.receiver.faults.status = 503
    with time_machine.travel(NOON, tick=False) as clock:
        connection_rules.open_connection(alice.company, actor=Actor.system())
        waits = []
        for attempt in range(1, 9):
            hooks.deliver()
            delivery = one_delivery()
            assert delivery.attempts == attempt
            assert delivery.last_status_code == 503 and delivery.last_error.startswith("503")
            if delivery.next_attempt is None:
                break
            waits.append((delivery.next_attempt - timezone.now()).total_seconds())
            clock.move_to(delivery.next_attempt)
        assert delivery.status == "failed" and delivery.attempts == 8
    for wait, planned in zip(waits, settings.WEBHOOK_RETRY_DELAYS, strict=True):
        assert planned * 0.9 <= wait <= planned * 1.1
    assert hooks.receiver.requests == 8
    assert len({r for r in hooks.receiver.unverified}) == 0


def test_a_429_waits_as_asked_and_a_2xx_ends_it(hooks, alice):
    hooks.receiver.faults.status = 429
    hooks.receiver.faults.headers = {"Retry-After": "120"}
    with time_machine.travel(NOON, tick=False) as clock:
        connection_rules.open_connection(alice.company, actor=Actor.system())
        hooks.deliver()
        delivery = one_delivery()
        assert delivery.status == "pending"
        assert delivery.next_attempt == timezone.now() + dt.timedelta(seconds=120)
        hooks.receiver.faults.status = None
        hooks.receiver.faults.headers = {}
        clock.shift(60)
        assert hooks.new_types() == []  # not yet
        clock.shift(61)
        assert hooks.new_types() == ["connection.created"]
        delivery = one_delivery()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert delivery.latency_ms is not None and delivery.last_error == ""


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, "404: "), (410, "410: "), (301, "redirects are not followed")],
)
def test_another_4xx_or_a_redirect_ends_it_as_failed_at_once(hooks, alice, status, error):
    hooks.receiver.faults.status = status
    connection_rules.open_connection(alice.company, actor=Actor.system())
    hooks.deliver()
    delivery = one_delivery()
    assert (delivery.status, delivery.attempts, delivery.next_attempt) == ("failed", 1, None)
    assert error in delivery.last_error


def test_a_timeout_is_retried_and_the_rest_for_that_endpoint_wait_with_it(hooks, alice, settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    hooks.receiver.faults.slow_rate = 1.0
    hooks.receiver.faults.delay = 1.5
    for _ in range(3):
        connection_rules.open_connection(alice.company, actor=Actor.system())
    result = sending.deliver_due()
    assert (result.retrying, result.held_back, result.delivered) == (1, 2, 0)
    rows = list(WebhookDelivery.objects.order_by("attempts"))
    assert [r.attempts for r in rows] == [0, 0, 1]
    assert len({r.next_attempt for r in rows}) == 1  # the two others wait with the failed one
    assert "Timeout" in rows[2].last_error or "timed out" in rows[2].last_error


def test_a_redelivery_keeps_the_events_id(hooks, alice):
    from feeds.webhooks import endpoints

    connection_rules.open_connection(alice.company, actor=Actor.system())
    hooks.deliver()
    endpoints.replay(WebhookDelivery.objects.all(), actor=Actor.system())
    hooks.deliver()
    ids = [r.id for r in hooks.receiver.received]
    assert len(ids) == 2 and len(set(ids)) == 1
    assert ids[0] == str(WebhookEvent.objects.get().pk)


def test_a_rotated_secret_keeps_signing_for_24_hours(hooks, alice):
    with time_machine.travel(NOON, tick=False) as clock:
        rotated = hooks.api.post(f"/webhooks/{hooks.endpoint['id']}/secret/rotate").json()
        assert (
            rotated["secret"].startswith("whsec_") and rotated["secret"] != hooks.endpoint["secret"]
        )
        expires = dt.datetime.fromisoformat(rotated["previousSecretExpiresOnUtc"])
        assert expires == NOON + dt.timedelta(hours=24)
        hooks.receiver.secrets[:] = [rotated["secret"]]  # the receiver switched over
        connection_rules.open_connection(alice.company, actor=Actor.system())
        hooks.deliver()
        assert len(hooks.receiver.received[-1].signatures) == 2
        hooks.receiver.secrets[:] = [hooks.endpoint["secret"]]  # one that has not switched yet
        connection_rules.open_connection(alice.company, actor=Actor.system())
        hooks.deliver()
        assert len(hooks.receiver.received) == 2
        clock.shift(24 * 3600 + 1)
        connection_rules.open_connection(alice.company, actor=Actor.system())
        sending.deliver_due()
        assert hooks.receiver.answers["unverified"] == 1  # the old secret no longer signs
        hooks.receiver.secrets[:] = [rotated["secret"]]
    assert WebhookSecret.objects.count() == 2
    # The secret itself is never stored: only a seed it is derived from.
    for secret in (rotated["secret"], hooks.endpoint["secret"]):
        assert not WebhookSecret.objects.filter(seed__contains=secret[6:20]).exists()


def test_an_endpoint_failing_for_five_days_is_disabled_and_told(hooks, alice, settings):
    hooks.receiver.faults.status = 500
    settings.WEBHOOK_RETRY_DELAYS = (3600.0,) * 200
    start = NOON
    with time_machine.travel(start, tick=False) as clock:
        connection_rules.open_connection(alice.company, actor=Actor.system())
        hooks.deliver()
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.failing_since == start
        while timezone.now() < start + dt.timedelta(days=5, hours=2):
            clock.shift(3600 * 1.2)
            sending.deliver_due()
        endpoint.refresh_from_db()
        assert endpoint.disabled and endpoint.disabled_reason.startswith("failing since")
        assert AuditEvent.objects.filter(action="webhook.endpoint_disabled").count() == 1
        seen = hooks.receiver.requests
        connection_rules.open_connection(alice.company, actor=Actor.system())
        clock.shift(3600 * 2)
        sending.deliver_due()
        assert hooks.receiver.requests == seen  # nothing goes to a disabled endpoint
        shown = hooks.api.get(f"/webhooks/{endpoint.pk}").json()
        assert shown["disabled"] is True and shown["disabledReason"]
        # Enabling it again starts afresh, and what was pending goes out.
        hooks.receiver.faults.status = None
        enabled = hooks.api.patch(f"/webhooks/{endpoint.pk}", {"disabled": False}).json()
        assert (enabled["disabled"], enabled["failingSince"], enabled["disabledReason"]) == (
            False,
            None,
            None,
        )
        clock.shift(3600 * 2)
        hooks.deliver()
        assert hooks.receiver.types().count("connection.created") >= 1


def test_deliveries_are_kept_30_days(hooks, alice):
    with time_machine.travel(NOON, tick=False):
        connection_rules.open_connection(alice.company, actor=Actor.system())
        hooks.deliver()
    with time_machine.travel(NOON + dt.timedelta(days=29), tick=False):
        summary = run_daily_maintenance()
        assert summary["webhook_deliveries_purged"] == 0
    with time_machine.travel(NOON + dt.timedelta(days=30, hours=1), tick=False):
        summary = run_daily_maintenance()
    assert (summary["webhook_deliveries_purged"], summary["webhook_events_purged"]) == (1, 1)
    assert WebhookDelivery.objects.count() == WebhookEvent.objects.count() == 0


# The endpoint API -----------------------------------------------------------------------------


def test_an_endpoint_is_created_read_changed_and_deleted(hooks):
    api, endpoint = hooks.api, hooks.endpoint
    assert endpoint["secret"].startswith("whsec_")
    import base64

    assert len(base64.b64decode(endpoint["secret"][6:])) >= 24
    path = f"/webhooks/{endpoint['id']}"
    shown = api.get(path).json()
    assert "secret" not in shown and shown["eventTypes"] == [] and shown["companyTags"] == []
    assert api.get("/webhooks").json() == {"results": [shown]}
    changed = api.patch(
        path, {**shown, "eventTypes": ["connection.created"], "companyTags": ["tier:gold"]}
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["eventTypes"] == ["connection.created"]
    assert (
        api.patch(path, {**shown, "id": "00000000-0000-0000-0000-000000000000"}).status_code == 400
    )
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert WebhookSecret.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "https://example.com/x", "eventTypes": ["connection.nope"]}, "eventTypes"),
        ({"url": "https://example.com/x", "eventTypes": "connection.created"}, "eventTypes"),
        ({"url": "https://example.com/x", "companyTags": ["no-colon"]}, "companyTags"),
        (
            {"url": "https://example.com/x", "companyTags": [f"k:{n}" for n in range(11)]},
            "companyTags",
        ),
        ({"url": "https://example.com/x", "disabled": "yes"}, "disabled"),
    ],
)
def test_a_bad_endpoint_is_a_400_naming_the_field_and_writes_nothing(alice_api, body, field):
    response = alice_api.post("/webhooks", body)
    assert response.status_code == 400, response.content
    assert response.json()["validation"]["errors"][0]["itemId"] == field
    assert WebhookEndpoint.objects.count() == 0


# Where webhooks may go ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # plain http
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.0.0.8/hook",
        "https://192.168.1.10/hook",
        "https://172.16.5.4/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_loopback_private_and_link_local_addresses_and_http_are_refused(alice_api, url):
    response = alice_api.post("/webhooks", {"url": url})
    assert response.status_code == 400
    assert response.json()["validation"]["errors"][0]["itemId"] == "url"
    assert WebhookEndpoint.objects.count() == 0


def test_the_address_is_checked_again_when_sending(hooks, alice, settings):
    # Saved while private addresses were allowed, or a name that now resolves to one: the
    # connection itself is refused, and the delivery ends as failed without a request.
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    connection_rules.open_connection(alice.company, actor=Actor.system())
    sending.deliver_due()
    delivery = one_delivery()
    assert delivery.status == "failed"
    assert delivery.last_error.startswith("refused: 127.0.0.1 resolves to 127.0.0.1")
    assert hooks.receiver.requests == 0


def test_a_name_resolving_to_loopback_is_refused_when_sending(alice_api, receiver, alice, settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    hooks = Hooks(alice_api, receiver)
    WebhookEndpoint.objects.update(url=receiver.url.replace("127.0.0.1", "localhost"))
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    connection_rules.open_connection(alice.company, actor=Actor.system())
    sending.deliver_due()
    assert one_delivery().last_error.startswith("refused: localhost resolves to")
    assert hooks.receiver.requests == 0


def test_the_catalogue_names_the_hosted_services_events_and_ours():
    hosted = {
        "connection.created",
        "connection.connected",
        "connection.disconnected",
        "connection.deleted",
        "bankFeeds.sourceAccount.connected",
        "bankFeeds.sourceAccount.disconnected",
        "bankTransactions.write.successful",
        "bankTransactions.write.unsuccessful",
    }
    assert hosted <= set(catalogue.EVENT_TYPES)
    assert set(catalogue.EVENT_TYPES) - hosted == set(catalogue.EXTENSIONS)
    assert outbox.subscribed  # the one rule for who gets what


# QBO took the transactions --------------------------------------------------------------------


def two_writes(hooks, alice) -> list[str]:
    today = str(timezone.localdate())
    keys = []
    for n, count in enumerate((3, 2)):
        items = [
            {"id": f"w{n}-{i}", "clearedOnDate": today, "amount": 1 + i, "description": "Sale"}
            for i in range(count)
        ]
        result = write(hooks.api, alice, "alice-chk", *items)
        assert result["status"] == "Success", result
        keys.append(result["pushOperationKey"])
    return keys


@pytest.mark.django_db(transaction=True)
def test_a_push_qbo_took_reports_each_writes_transactions_delivered(
    hooks, alice, live_server, settings
):
    from feeds.delivery import push
    from feeds.qbo.client import QboClient
    from qbo_sandbox.models import ChartAccount, SandboxCompany
    from tests.makers import make_linked_feed

    settings.QBO_BASE_URL = f"{live_server.url}/qbo-sandbox/api/v1"
    chart = ChartAccount.objects.get(company=SandboxCompany.current(), name="Checking")
    feed = make_linked_feed(alice.checking, chart)
    keys = two_writes(hooks, alice)
    hooks.deliver()
    assert hooks.receiver.of_type("bankTransactions.delivered") == []  # stored, not yet in QBO
    result = push.push_feed(feed.pk, qbo=QboClient(), sleep=lambda s: None, batch_size=4)
    assert result.delivered == 5
    hooks.deliver()
    delivered = hooks.receiver.of_type("bankTransactions.delivered")
    counts = [
        (
            r.payload["id"],
            r.payload["deliveredCount"],
            r.payload["totalDelivered"],
            r.payload["complete"],
        )
        for r in delivered
    ]
    # Batches of 4: the first write whole, one of the second; then the second's last.
    assert counts == [(keys[0], 3, 3, True), (keys[1], 1, 1, False), (keys[1], 1, 2, True)]
    first = delivered[0].payload
    assert (first["delivery"], first["accountId"], first["transactionCount"]) == (
        "push",
        "alice-chk",
        3,
    )
    assert first["connectionId"] == str(alice.connection.pk)
    assert first["referenceCompany"]["id"] == str(alice.company.pk)


def test_a_pull_qbo_made_reports_the_link_then_what_it_first_served(hooks, alice, client, settings):
    from tests.test_idx import BASE, KEY, headers

    settings.QBO_DELIVERY = frozenset({"pull"})
    settings.IDX_PARTNER_KEYS = [KEY]
    credential_set, password = credentials.issue(
        alice.connection, [alice.checking], origin="link", actor=Actor.smb("test")
    )
    auth = headers(credential_set.username, password)
    first = client.get(BASE + "accounts/alice-chk/transactions", headers=auth)
    assert first.status_code == 200, first.content
    assert sorted(hooks.new_types()) == [
        "bankFeeds.sourceAccount.connected",
        "connection.connected",
    ]
    keys = two_writes(hooks, alice)
    hooks.deliver()
    assert client.get(BASE + "accounts/alice-chk/transactions", headers=auth).status_code == 200
    assert hooks.new_types() == ["bankTransactions.delivered"] * 2
    served = [r.payload for r in hooks.receiver.of_type("bankTransactions.delivered")]
    assert [(p["id"], p["deliveredCount"], p["complete"], p["delivery"]) for p in served] == [
        (keys[0], 3, True, "pull"),
        (keys[1], 2, True, "pull"),
    ]
    # Served again: nothing new was delivered, so nothing is reported.
    client.get(BASE + "accounts/alice-chk/transactions", headers=auth)
    assert hooks.new_types() == []


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"url": "https://example.com/\\ud800"}', None),  # refused as JSON already
        (b'{"url": "https://exa\\u0000mple.com/"}', "url"),
        (b'{"url": "https://example.com/x", "companyTags": ["k:\\ud800"]}', None),
        (b'{"url": "https://' + b"a" * 3000 + b'.com/"}', "url"),
        (b'{"url": "https://[::1/"}', "url"),
        (b'{"url": "https://example.com:99999/"}', "url"),
    ],
)
def test_hostile_endpoint_bodies_get_a_400_not_a_crash(alice_api, raw, field):
    response = alice_api.send("post", "/webhooks", raw=raw)
    assert response.status_code == 400, response.content
    items = [e["itemId"] for e in response.json()["validation"]["errors"]]
    assert items[:1] == ([field] if field else [])
    assert WebhookEndpoint.objects.count() == 0


def test_a_slow_endpoint_delays_only_itself(alice_api, alice, allow_local):
    allow_local.WEBHOOK_TIMEOUT = 0.5
    with Receiver() as slow, Receiver() as fast:
        slow_hooks, fast_hooks = Hooks(alice_api, slow), Hooks(alice_api, fast)
        slow.faults.slow_rate, slow.faults.delay = 1.0, 2.0
        for _ in range(5):
            connection_rules.open_connection(alice.company, actor=Actor.system())
        started = time.monotonic()
        result = sending.deliver_due()
        elapsed = time.monotonic() - started
        assert fast_hooks.deliver().count("connection.created") == 5
        assert (result.delivered, result.retrying, result.held_back) == (5, 1, 4)
        assert slow_hooks.receiver.requests == 1  # one timed out; the other four wait with it
        assert elapsed < 2.0


def test_a_committed_event_asks_the_worker_to_send_it_at_once(
    hooks, alice, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        connection_rules.open_connection(alice.company, actor=Actor.system())
    queued = [task.task for task in OrmQ.objects.all()]
    assert [(t["func"], t["args"]) for t in queued] == [
        ("feeds.tasks.send_webhooks", (hooks.endpoint["id"],))
    ]


def test_a_sender_for_one_endpoint_waits_for_the_first_retry_not_the_sweep(hooks, alice):
    waits: list[float] = []
    hooks.receiver.faults.status = 503

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        hooks.receiver.faults.status = None  # the receiver is back by then
        WebhookDelivery.objects.update(next_attempt=timezone.now())

    connection_rules.open_connection(alice.company, actor=Actor.system())
    result = sending.deliver_due(hooks.endpoint["id"], budget=60, sleep=sleep)
    assert len(waits) == 1 and 4.5 * 0.9 <= waits[0] <= 5.5 * 1.1 + 0.1
    assert (result.retrying, result.delivered) == (1, 1)
    assert hooks.receiver.types() == ["connection.created"]
    # Nothing due soon: the sender ends at once (the sweep has the later retries).
    connection_rules.open_connection(alice.company, actor=Actor.system())
    WebhookDelivery.objects.filter(status="pending").update(
        next_attempt=timezone.now() + dt.timedelta(minutes=5)
    )
    assert sending.deliver_due(hooks.endpoint["id"], budget=60, sleep=sleep).delivered == 0
    assert len(waits) == 1
