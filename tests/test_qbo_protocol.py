"""The QBO wire protocol as QBO calls it (`product.md` §6): signatures, credentials, linking feeds,
Update and disconnect."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.db import connection as db_connection
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from accounts.audit import Actor
from accounts.models import AuditEvent
from feeds import credentials
from feeds.models import CredentialSet, Feed, LinkSession, SourceAccount
from feeds.qbo import signing
from tests.makers import make_account, make_company, make_connection

TODAY = dt.date(2026, 11, 25)
NOON = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def call(
    client,
    path: str,
    body=None,
    *,
    method="POST",
    key=None,
    secret=None,
    at=None,
    request_id=None,
    signed_method=None,
    signed_path=None,
    **hdr,
):
    """Send a request to linksite as QBO does, signed for its method and path (as sent, without
    the query string) under a new request id, unless told otherwise; `hdr` adds or overrides
    headers."""
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    headers = signing.sign(
        settings.QBO_PARTNER_KEY if key is None else key,
        settings.QBO_SIGNING_SECRET if secret is None else secret,
        signed_method or method,
        urlsplit(path).path if signed_path is None else signed_path,
        raw,
        request_id=request_id,
        now=at,
    )
    headers.update(hdr)
    if method == "GET":
        return client.get(path, headers=headers)
    return client.generic(method, path, raw, content_type="application/json", headers=headers)


@pytest.fixture
def issued(alice, enabled):
    return credentials.issue(
        alice.connection,
        [alice.checking, alice.card],
        origin="link",
        actor=Actor.smb(alice.connection.pk),
    )


@pytest.fixture
def session(client, issued):
    credential_set, password = issued
    response = call(
        client,
        "/qbo/v1/credentials/verify",
        {"username": credential_set.username, "password": password},
    )
    assert response.status_code == 200, response.content
    return response.json()


def feed_item(source="alice-chk", target="35", start=TODAY - dt.timedelta(days=3), **extra):
    return {
        "sourceAccountId": source,
        "targetAccountId": target,
        "targetAccountName": "Checking",
        "targetAccountType": "Bank",
        "feedStartDate": start.isoformat(),
        **extra,
    }


# Signatures ------------------------------------------------------------------------------------


def test_the_institution_is_what_qbo_lists_in_its_search(client, enabled):
    response = call(client, "/qbo/v1/institution", method="GET")
    assert response.status_code == 200
    assert response.json() == {"name": "Maple Bank", "logoUrl": None}


@pytest.mark.parametrize(
    "tamper",
    [
        {"key": "wrong-partner-key"},
        {"secret": "wrong-secret"},
        {"at": time.mktime(NOON.timetuple()) - 301},
        {"at": time.mktime(NOON.timetuple()) + 301},
    ],
    ids=["wrong partner key", "bad signature", "stale", "from the future"],
)
def test_a_badly_signed_request_is_refused_and_changes_nothing(client, issued, tamper):
    credential_set, password = issued
    body = {"username": credential_set.username, "password": password}
    response = call(client, "/qbo/v1/credentials/verify", body, **tamper)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert CredentialSet.objects.get(pk=credential_set.pk).used is None
    assert LinkSession.objects.count() == 0


def test_an_altered_body_is_refused(client, issued):
    credential_set, password = issued
    path = "/qbo/v1/credentials/verify"
    raw = json.dumps({"username": credential_set.username, "password": password}).encode()
    headers = signing.sign(settings.QBO_PARTNER_KEY, settings.QBO_SIGNING_SECRET, "POST", path, raw)
    altered = raw.replace(b'"password"', b'"password" ')
    response = client.post(path, altered, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert CredentialSet.objects.get(pk=credential_set.pk).used is None


def test_the_signing_string_is_time_method_path_request_id_and_body():
    headers = signing.sign(
        "pk", "secret", "post", "/qbo/v1/feeds", b'{"a":1}', request_id="r-1", now=1700000000
    )
    expected = hmac.new(
        b"secret", b'1700000000.POST./qbo/v1/feeds.r-1.{"a":1}', hashlib.sha256
    ).hexdigest()
    assert headers == {
        "X-Partner-Key": "pk",
        "X-Request-Id": "r-1",
        "X-Signature": f"t=1700000000,v1={expected}",
    }


def test_two_identical_genuine_requests_in_the_same_second_are_both_accepted(
    client, alice, enabled
):
    feed = link_one(alice)
    path = f"/qbo/v1/feeds/{feed.pk}/refresh"
    assert [call(client, path).status_code for _ in range(2)] == [202, 202]
    assert [call(client, "/qbo/v1/institution", method="GET").status_code for _ in range(2)] == [
        200,
        200,
    ]
    assert OrmQ.objects.count() == 2


def test_a_replayed_request_id_is_refused(client, alice, enabled):
    feed = link_one(alice)
    path = f"/qbo/v1/feeds/{feed.pk}/refresh"
    first = call(client, path, request_id="r-1")
    again = call(client, path, request_id="r-1")  # signed anew: a new signature, the same id
    assert (first.status_code, again.status_code) == (202, 401)
    assert again.json() == {
        "error": "unauthorized",
        "message": "This request id was already used.",
    }
    assert OrmQ.objects.count() == 1


def test_a_request_id_is_remembered_through_the_window_and_purged_after(
    client, alice, enabled, frozen
):
    from feeds.maintenance import run_daily_maintenance
    from feeds.models import ReplayGuard

    feed = link_one(alice)
    path = f"/qbo/v1/feeds/{feed.pk}/refresh"
    assert call(client, path, request_id="r-1").status_code == 202
    frozen.shift(dt.timedelta(minutes=4, seconds=59))
    run_daily_maintenance()
    assert call(client, path, request_id="r-1").status_code == 401
    assert ReplayGuard.objects.count() == 1
    frozen.shift(dt.timedelta(minutes=6))
    run_daily_maintenance()
    assert ReplayGuard.objects.count() == 0


@pytest.mark.parametrize(
    "signed_for",
    [
        {"signed_path": "/qbo/v1/institution"},
        {"signed_path": "/qbo/v1/feeds/fd_other/disconnect"},
        {"signed_method": "GET"},
        {"signed_method": "PUT"},
    ],
    ids=["another path", "another feed", "GET", "PUT"],
)
def test_a_signature_made_for_another_path_or_method_is_refused(client, alice, enabled, signed_for):
    feed = link_one(alice)
    response = call(client, f"/qbo/v1/feeds/{feed.pk}/disconnect", **signed_for)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert Feed.objects.get(pk=feed.pk).disabled_on_utc is None


def test_the_path_is_signed_without_the_query_string(client, enabled):
    response = call(client, "/qbo/v1/institution?q=maple", method="GET")
    assert response.status_code == 200
    signed_with_query = call(
        client,
        "/qbo/v1/institution?q=maple",
        method="GET",
        signed_path="/qbo/v1/institution?q=maple",
    )
    assert signed_with_query.status_code == 401


def test_a_path_is_accepted_signed_as_sent_percent_encoded(client, alice, enabled):
    # WSGI hands the path over decoded: what needs encoding is encoded again to check it.
    assert call(client, "/qbo/v1/feeds/fd%20x/refresh").status_code == 404  # not 401
    # Any other encoding is checked against the raw request URI, where the server keeps it.
    feed = link_one(alice)
    encoded = f"/qbo/v1/feeds/{feed.pk}/%72efresh"
    raw = b""
    headers = signing.sign(
        settings.QBO_PARTNER_KEY, settings.QBO_SIGNING_SECRET, "POST", encoded, raw
    )
    response = client.post(
        encoded, raw, content_type="application/json", headers=headers, RAW_URI=encoded + "?x=1"
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    "request_id",
    [None, "", "x" * 129, "r\u00e9", "r\x7f", "r\t1"],
    ids=["missing", "empty", "129 characters", "not ASCII", "DEL", "a tab"],
)
def test_a_missing_or_bad_request_id_is_refused_and_changes_nothing(client, issued, request_id):
    credential_set, password = issued
    path = "/qbo/v1/credentials/verify"
    raw = json.dumps({"username": credential_set.username, "password": password}).encode()
    # Signed with that very request id, so only the id itself is wrong.
    headers = signing.sign(
        settings.QBO_PARTNER_KEY,
        settings.QBO_SIGNING_SECRET,
        "POST",
        path,
        raw,
        request_id=request_id or "",
    )
    if request_id is None:
        del headers["X-Request-Id"]
    else:
        headers["X-Request-Id"] = request_id
    response = client.post(path, raw, content_type="application/json", headers=headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error", "message"}
    assert response.json()["error"] == "unauthorized"
    assert CredentialSet.objects.get(pk=credential_set.pk).used is None
    assert LinkSession.objects.count() == 0


def test_request_ids_of_128_printable_characters_are_accepted(client, enabled):
    for request_id in ("x" * 128, "a", " ~!#$%&'()*+,-./:;<=>?@[]^_`{|}"):
        response = call(client, "/qbo/v1/institution", method="GET", request_id=request_id)
        assert response.status_code == 200, (request_id, response.content)


def test_two_updates_in_the_same_second_to_two_feeds_are_both_accepted(client, alice, enabled):
    first, second = link_one(alice), link_one(alice, alice.card)
    for feed in (first, second):
        assert call(client, f"/qbo/v1/feeds/{feed.pk}/refresh").status_code == 202


def test_a_body_naming_another_feed_is_refused(client, alice, enabled):
    feed = link_one(alice)
    body = {"feedId": "fd_other"}
    assert call(client, f"/qbo/v1/feeds/{feed.pk}/disconnect", body).status_code == 404
    assert Feed.objects.get(pk=feed.pk).disabled_on_utc is None


def test_a_missing_signature_is_refused(client, enabled):
    response = client.get("/qbo/v1/institution")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


# Hostile bodies ---------------------------------------------------------------------------------


def _nothing_changed(credential_set) -> None:
    assert CredentialSet.objects.get(pk=credential_set.pk).used is None
    assert CredentialSet.objects.get(pk=credential_set.pk).failed_attempts == 0
    assert LinkSession.objects.count() == 0


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"error", "message"}
    return answer


@pytest.mark.parametrize(
    "raw",
    [
        b'{"username": "\\ud800", "password": "x"}',
        b'{"username": "alice\\udfff", "password": "x"}',
        b'{"username": "a", "password": "\\ud800"}',
        b'{"\\ud800": 1, "username": "a", "password": "x"}',
        b'{"username": "a\\u0000b", "password": "x"}',
        b'{"username": "\xff\xfe", "password": "x"}',
        '{"username": "a", "password": "x"}'.encode("utf-16"),
        b'{"username": "a", "password": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"username": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"not json",
        b'"a string"',
        b"[]",
        b"null",
        b"12",
    ],
    ids=[
        "lone high surrogate",
        "lone low surrogate",
        "surrogate password",
        "surrogate key",
        "NUL",
        "not UTF-8",
        "UTF-16",
        "NaN",
        "deep array",
        "deep username",
        "not JSON",
        "a string",
        "an array",
        "null",
        "a number",
    ],
)
def test_a_hostile_signed_body_is_a_json_400_that_changes_nothing(client, issued, raw):
    credential_set, _password = issued
    response = call(client, "/qbo/v1/credentials/verify", raw)
    assert _json_error(response, 400)["error"] == "bad_request"
    _nothing_changed(credential_set)


@pytest.mark.parametrize(
    "body",
    [
        {"username": 1, "password": "x"},
        {"username": None, "password": "x"},
        {"username": ["a"], "password": "x"},
        {"username": {"a": 1}, "password": "x"},
        {"username": "a", "password": True},
        {},
    ],
)
def test_any_json_type_at_a_credentials_field_is_a_json_400(client, issued, body):
    credential_set, _password = issued
    assert _json_error(call(client, "/qbo/v1/credentials/verify", body), 400)
    _nothing_changed(credential_set)


@pytest.mark.parametrize(
    "body",
    [
        {"linkSessionId": {"a": 1}, "feeds": [feed_item()]},
        {"linkSessionId": 10**100, "feeds": [feed_item()]},
        {"linkSessionId": "x\u0000", "feeds": [feed_item()]},
        {"linkSessionId": None, "feeds": None},
    ],
)
def test_any_json_type_at_a_link_field_is_a_json_4xx(client, enabled, body):
    response = call(client, "/qbo/v1/feeds", body)
    assert response.status_code in (400, 401), response.content
    _json_error(response, response.status_code)
    assert Feed.objects.count() == 0


@pytest.mark.parametrize(
    "field",
    [
        "sourceAccountId",
        "targetAccountId",
        "targetAccountName",
        "targetAccountType",
        "feedStartDate",
    ],
)
@pytest.mark.parametrize("value", [None, 1, 1.5, True, [], {}, "", "\u00e9" * 300])
def test_any_json_type_at_a_planned_feed_field_is_a_json_400(client, session, field, value):
    response = call(
        client,
        "/qbo/v1/feeds",
        {"linkSessionId": session["linkSessionId"], "feeds": [feed_item(**{field: value})]},
    )
    assert _json_error(response, 400)
    assert Feed.objects.count() == 0
    assert LinkSession.objects.get().completed is None


def test_a_body_over_the_limit_is_a_json_413_that_changes_nothing(client, issued, settings):
    credential_set, password = issued
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = {"username": credential_set.username, "password": password, "pad": "x" * limit}
    response = call(client, "/qbo/v1/credentials/verify", body)
    assert _json_error(response, 413)["error"] == "payload_too_large"
    _nothing_changed(credential_set)


def test_a_feed_id_with_a_nul_or_a_slash_is_a_json_404(client, enabled):
    for path in ("/qbo/v1/feeds/fd%00x/refresh", "/qbo/v1/feeds/a%2Fb/refresh", "/qbo/v1/nowhere"):
        assert _json_error(call(client, path), 404)


def test_the_openapi_document_is_served_without_a_signature(client):
    response = client.get("/qbo/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["servers"] == [{"url": "/qbo/v1"}]
    assert set(document["paths"]) == {
        "/institution",
        "/credentials/verify",
        "/feeds",
        "/feeds/{feedId}/refresh",
        "/feeds/{feedId}/disconnect",
    }
    headers = {p["name"] for p in document["paths"]["/feeds"]["post"]["parameters"]}
    assert headers == {"X-Partner-Key", "X-Request-Id", "X-Signature"}


# Credentials ------------------------------------------------------------------------------------


def test_good_credentials_open_a_link_session_with_the_chosen_accounts(client, issued, session):
    credential_set, _ = issued
    assert session["institution"]["name"] == "Maple Bank"
    assert [a["id"] for a in session["accounts"]] == ["alice-chk", "alice-visa"]
    account = session["accounts"][0]
    assert account["displayName"] == "Alice Checking ••••6789"
    assert account["accountType"] == "checking" and account["currency"] == "USD"
    assert account["balance"] == "100.00"
    link_session = LinkSession.objects.get(pk=session["linkSessionId"])
    assert link_session.expires == timezone.now() + dt.timedelta(minutes=30)
    assert CredentialSet.objects.get(pk=credential_set.pk).used is not None


@pytest.mark.parametrize("state", ["wrong", "unknown", "expired", "used", "revoked", "locked"])
def test_unusable_credentials_all_get_the_same_401(client, issued, frozen, state):
    credential_set, password = issued
    username = credential_set.username
    if state == "wrong":
        password = "Wrong" + password[5:]
    elif state == "unknown":
        username = "ZZZZ-ZZZZ-ZZZZ"
    elif state == "expired":
        frozen.shift(dt.timedelta(minutes=61))
    elif state == "used":
        CredentialSet.objects.filter(pk=credential_set.pk).update(used=timezone.now())
    elif state == "revoked":
        CredentialSet.objects.filter(pk=credential_set.pk).update(revoked=timezone.now())
    elif state == "locked":
        CredentialSet.objects.filter(pk=credential_set.pk).update(locked=timezone.now())
    response = call(
        client, "/qbo/v1/credentials/verify", {"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"
    assert response.json()["message"] == (
        "These credentials could not be verified. They may be wrong, expired, already used or "
        "revoked; get new ones from the bank."
    )
    assert LinkSession.objects.count() == 0
    assert AuditEvent.objects.filter(action="credentials.verify_failed").count() == 1


def test_five_wrong_passwords_over_the_protocol_lock_the_set(client, issued, frozen):
    credential_set, password = issued
    for _ in range(5):
        frozen.shift(1)  # each attempt is a new request, with its own signature
        body = {"username": credential_set.username, "password": "nope"}
        assert call(client, "/qbo/v1/credentials/verify", body).status_code == 401
    body = {"username": credential_set.username, "password": password}
    assert call(client, "/qbo/v1/credentials/verify", body).status_code == 401
    assert CredentialSet.objects.get(pk=credential_set.pk).locked is not None


def test_verify_needs_the_integration_switched_on(client, issued):
    from accounts.models import OrganizationSettings

    OrganizationSettings.objects.filter(pk=1).update(integration_enabled=False)
    credential_set, password = issued
    body = {"username": credential_set.username, "password": password}
    assert call(client, "/qbo/v1/credentials/verify", body).status_code == 403
    assert CredentialSet.objects.get(pk=credential_set.pk).used is None


# Linking feeds ----------------------------------------------------------------------------------


def test_linking_connects_the_accounts_and_the_connection(client, alice, session):
    body = {
        "linkSessionId": session["linkSessionId"],
        "feeds": [
            feed_item("alice-chk", "35"),
            feed_item("alice-visa", "41", targetAccountType="CreditCard", targetAccountName="Visa"),
        ],
    }
    response = call(client, "/qbo/v1/feeds", body)
    assert response.status_code == 201, response.content
    feeds = response.json()["feeds"]
    assert [(f["sourceAccountId"], f["status"]) for f in feeds] == [
        ("alice-chk", "connected"),
        ("alice-visa", "connected"),
    ]
    assert feeds[0]["feedStartDate"] == "2026-11-22"
    checking = SourceAccount.objects.get(pk=alice.checking.pk)
    assert checking.status == "connected"
    assert checking.connection.status == "Linked"
    feed = Feed.objects.get(pk=feeds[0]["feedId"])
    assert (feed.target_account_name, feed.feed_start_date) == ("Checking", TODAY - dt.timedelta(3))
    assert AuditEvent.objects.filter(action="feed.linked").count() == 2


@pytest.mark.parametrize(
    ("start", "ok"),
    [
        (TODAY, True),
        (TODAY - dt.timedelta(days=7), True),
        (TODAY - dt.timedelta(days=8), False),
        (TODAY + dt.timedelta(days=1), False),
    ],
)
def test_the_feed_start_date_lies_within_the_last_7_days(client, session, start, ok):
    body = {"linkSessionId": session["linkSessionId"], "feeds": [feed_item(start=start)]}
    response = call(client, "/qbo/v1/feeds", body)
    if ok:
        assert response.status_code == 201
    else:
        assert response.status_code == 400
        assert response.json()["error"] == "feed_start_date_out_of_range"
        assert Feed.objects.count() == 0


def test_an_account_not_in_the_session_is_refused(client, session, bob):
    body = {"linkSessionId": session["linkSessionId"], "feeds": [feed_item("bob-chq")]}
    response = call(client, "/qbo/v1/feeds", body)
    assert response.status_code == 400
    assert response.json()["error"] == "account_not_in_session"
    assert Feed.objects.count() == 0


def test_one_source_account_gets_one_target(client, session):
    body = {
        "linkSessionId": session["linkSessionId"],
        "feeds": [feed_item("alice-chk", "35"), feed_item("alice-chk", "36")],
    }
    response = call(client, "/qbo/v1/feeds", body)
    assert response.status_code == 400
    assert response.json()["error"] == "duplicate_source_account"
    assert Feed.objects.count() == 0


def test_an_account_linked_already_cannot_get_a_second_target(client, alice, issued, session):
    link_one(alice)
    body = {"linkSessionId": session["linkSessionId"], "feeds": [feed_item("alice-chk", "99")]}
    response = call(client, "/qbo/v1/feeds", body)
    assert response.status_code == 409
    assert Feed.objects.count() == 1


def test_one_target_account_receives_one_feed(client, session):
    body = {
        "linkSessionId": session["linkSessionId"],
        "feeds": [feed_item("alice-chk", "35"), feed_item("alice-visa", "35")],
    }
    response = call(client, "/qbo/v1/feeds", body)
    assert response.status_code == 400
    assert response.json()["error"] == "duplicate_target_account"


def test_linking_after_the_connection_was_deleted_is_refused(client, alice, session):
    from feeds import lifecycle

    lifecycle.transition(alice.connection, "Deauthorized", actor=Actor.system())
    body = {"linkSessionId": session["linkSessionId"], "feeds": [feed_item()]}
    response = call(client, "/qbo/v1/feeds", body)
    assert response.status_code == 410
    assert Feed.objects.count() == 0


@pytest.mark.parametrize("stamp", ["t=\u00b2", "t=" + "9" * 5000, "t=abc"])
def test_a_malformed_signature_header_is_a_401_not_a_crash(client, enabled, stamp):
    headers = {
        "X-Partner-Key": settings.QBO_PARTNER_KEY,
        "X-Request-Id": "r-1",
        "X-Signature": f"{stamp},v1=aa",
    }
    response = client.get("/qbo/v1/institution", headers=headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"


def test_a_link_session_links_once_and_expires_after_30_minutes(client, session, frozen):
    body = {"linkSessionId": session["linkSessionId"], "feeds": [feed_item()]}
    frozen.shift(dt.timedelta(minutes=30))
    assert call(client, "/qbo/v1/feeds", body).status_code == 401
    frozen.shift(dt.timedelta(minutes=-1))
    assert call(client, "/qbo/v1/feeds", body).status_code == 201
    body["feeds"] = [feed_item("alice-visa", "41")]
    assert call(client, "/qbo/v1/feeds", body).json()["error"] == "session_used"


# Update and disconnect --------------------------------------------------------------------------


def link_one(people, account=None):
    from feeds import feed_rules

    return feed_rules.link_feed(
        account or people.checking,
        target_account_id="35",
        target_account_name="Checking",
        target_account_type="Bank",
        feed_start_date=TODAY - dt.timedelta(days=7),
        actor=Actor.system(),
    )


def test_update_queues_a_push_of_that_feed(client, alice, enabled, frozen):
    feed = link_one(alice)
    response = call(client, f"/qbo/v1/feeds/{feed.pk}/refresh")
    assert response.status_code == 202
    frozen.shift(1)
    queued = OrmQ.objects.get()
    assert AuditEvent.objects.filter(action="feed.refresh_requested").count() == 1
    assert queued.task["func"] == "feeds.tasks.push_feed"
    assert queued.task["args"] == (feed.pk, "update")
    frozen.shift(1)
    assert call(client, "/qbo/v1/feeds/fd_unknown/refresh").status_code == 404
    frozen.shift(1)
    assert call(client, f"/qbo/v1/feeds/{feed.pk}/refresh").status_code == 202


def test_disconnect_records_the_time_and_makes_writes_fail(client, alice, enabled, frozen):
    from tests.conftest import Api, issue_key

    feed = link_one(alice)
    response = call(client, f"/qbo/v1/feeds/{feed.pk}/disconnect")
    assert response.status_code == 200
    assert response.json()["feedId"] == feed.pk
    disabled = Feed.objects.get(pk=feed.pk).disabled_on_utc
    assert disabled == timezone.now()
    assert dt.datetime.fromisoformat(response.json()["disabledAt"]) == disabled
    frozen.shift(1)
    again = call(client, f"/qbo/v1/feeds/{feed.pk}/disconnect")
    frozen.shift(1)
    assert again.status_code == 200 and again.json()["disabledAt"] == response.json()["disabledAt"]
    assert call(client, f"/qbo/v1/feeds/{feed.pk}/refresh").status_code == 410
    api = Api(Client(), issue_key("alice"))
    write = api.post(
        f"/companies/{alice.company.pk}/connections/{alice.connection.pk}/push/bankAccounts/"
        "alice-chk/bankTransactions",
        {
            "accountId": "alice-chk",
            "transactions": [
                {"id": "t", "clearedOnDate": "2026-11-25", "amount": 1, "description": "x"}
            ],
        },
    )
    assert write.json()["status"] == "Failed"
    assert "disconnected in QuickBooks" in write.json()["errorMessage"]


def test_the_endpoints_answer_json_for_a_wrong_method(client, enabled):
    response = call(client, "/qbo/v1/credentials/verify", method="GET")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.django_db(transaction=True)
def test_of_two_concurrent_verifications_exactly_one_gets_a_session(frozen):
    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent sessions need a server database")
    from accounts.models import OrganizationSettings

    OrganizationSettings.objects.update_or_create(pk=1, defaults={"integration_enabled": True})
    connection = make_connection(make_company("Race Co", "US", client="race"))
    account = make_account(connection, "race-1")
    credential_set, password = credentials.issue(
        connection, [account], origin="api", actor=Actor.system()
    )
    barrier = threading.Barrier(4)
    statuses = []

    def attempt(n):
        body = {"username": credential_set.username, "password": password, "n": n}
        barrier.wait()
        statuses.append(call(Client(), "/qbo/v1/credentials/verify", body).status_code)
        db_connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401, 401, 401]
    assert LinkSession.objects.count() == 1


# linksite → QBO ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_outbound_client_pushes_signed_batches_the_sandbox_accepts_once(
    live_server, settings, frozen
):
    from feeds.qbo.client import QboClient
    from qbo_sandbox.models import ChartAccount, LinkedFeed, ReceivedTransaction, SandboxCompany

    settings.QBO_BASE_URL = f"{live_server.url}/qbo-sandbox/api/v1"
    SandboxCompany.current()  # its default accounts, also after an earlier test's flush
    LinkedFeed.record(
        "fd_client_test",
        ChartAccount.objects.get(name="Checking"),
        source_account_id="alice-chk",
        display_name="Alice Checking",
        feed_start_date=TODAY,
    )
    batch = {
        "batchId": "5f0c6f1e-2b1c-4c55-8f0e-0d1f7f9b1a01",
        "transactions": [
            {
                "id": f"t-{n}",
                "date": "2026-11-24",
                "clearedOnDate": "2026-11-24",
                "amount": "-12.50",
                "currency": "USD",
                "description": "Coffee beans",
                "transactionType": "Debit",
                "balance": None,
            }
            for n in range(2)
        ],
    }
    qbo = QboClient()
    first = qbo.push("fd_client_test", batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 2, "duplicates": 0}
    again = qbo.push("fd_client_test", batch)
    assert again.json() == {"accepted": 0, "duplicates": 2}
    assert ReceivedTransaction.objects.count() == 2
    wrong = QboClient(secret="not-the-shared-secret").push("fd_client_test", batch)
    assert wrong.status_code == 401
    qbo.close()


def test_a_batchs_body_is_qbos_shape_in_the_order_given():
    from decimal import Decimal

    from feeds.qbo import wire

    rows = [
        ("t-2", None, TODAY, Decimal("-12.50"), "Coffee", "Debit", None),
        (
            "t-1",
            TODAY - dt.timedelta(days=2),
            TODAY,
            Decimal("100.00"),
            "Pay",
            "Credit",
            Decimal("7"),
        ),
    ]
    body = wire.batch_body("5f0c6f1e-2b1c-4c55-8f0e-0d1f7f9b1a01", "CAD", rows)
    assert body == {
        "batchId": "5f0c6f1e-2b1c-4c55-8f0e-0d1f7f9b1a01",
        "transactions": [
            {
                "id": "t-2",
                "date": "2026-11-25",  # no date of its own: the day it cleared
                "clearedOnDate": "2026-11-25",
                "amount": "-12.50",
                "currency": "CAD",
                "description": "Coffee",
                "transactionType": "Debit",
                "balance": None,
            },
            {
                "id": "t-1",
                "date": "2026-11-23",
                "clearedOnDate": "2026-11-25",
                "amount": "100.00",
                "currency": "CAD",
                "description": "Pay",
                "transactionType": "Credit",
                "balance": "7",
            },
        ],
    }


def two_transactions(batch_id: str = "5f0c6f1e-2b1c-4c55-8f0e-0d1f7f9b1a02") -> dict:
    from decimal import Decimal

    from feeds.qbo import wire

    rows = [(f"t-{n}", None, TODAY, Decimal("-1.00"), "Coffee", "Debit", None) for n in range(2)]
    return wire.batch_body(batch_id, "USD", rows)


@pytest.fixture
def sandbox_feed(live_server, settings):
    from qbo_sandbox.models import ChartAccount, LinkedFeed, SandboxCompany

    settings.QBO_BASE_URL = f"{live_server.url}/qbo-sandbox/api/v1"
    SandboxCompany.current()  # its default accounts, also after an earlier test's flush
    return LinkedFeed.objects.create(
        feed_id="fd_answers",
        chart_account=ChartAccount.objects.get(name="Checking"),
        source_account_id="alice-chk",
        source_display_name="Alice Checking",
        feed_start_date=TODAY,
    )


@pytest.mark.django_db(transaction=True)
def test_the_client_reads_each_answer_of_the_sandbox_for_what_it_means(sandbox_feed):
    from feeds.qbo.client import QboClient
    from feeds.qbo.wire import Kind
    from qbo_sandbox.models import FaultSettings

    qbo = QboClient()
    first = qbo.send_batch(sandbox_feed.feed_id, two_transactions())
    assert (first.kind, first.status, first.error, first.broken) == (Kind.DELIVERED, 200, "", False)
    # The same batch again: QBO counts duplicates, which is a delivery all the same.
    assert qbo.send_batch(sandbox_feed.feed_id, two_transactions()).kind is Kind.DELIVERED

    refused = QboClient(secret="not-the-shared-secret").send_batch(
        sandbox_feed.feed_id, two_transactions("5f0c6f1e-2b1c-4c55-8f0e-0d1f7f9b1a03")
    )
    assert (refused.kind, refused.status) == (Kind.REJECTED, 401)
    assert refused.error.startswith("401: ") and not refused.broken

    faults = FaultSettings.load()
    faults.rate_429, faults.retry_after_seconds = 1.0, 7
    faults.save()
    limited = qbo.send_batch(sandbox_feed.feed_id, two_transactions())
    assert (limited.kind, limited.status, limited.retry_after) == (Kind.RETRY_AFTER, 429, 7.0)
    assert limited.error.startswith("429: ")

    faults.rate_429, faults.rate_503 = 0.0, 1.0
    faults.save()
    unavailable = qbo.send_batch(sandbox_feed.feed_id, two_transactions())
    assert (unavailable.kind, unavailable.status) == (Kind.TRANSIENT, 503)
    assert unavailable.error.startswith("503: ") and not unavailable.broken

    faults.rate_503 = 0.0
    faults.save()
    sandbox_feed.status = "disconnected"
    sandbox_feed.save()
    gone = qbo.send_batch(sandbox_feed.feed_id, two_transactions())
    assert (gone.kind, gone.status) == (Kind.DISCONNECTED, 410)
    assert gone.error == "410: the feed was disconnected in QuickBooks"
    qbo.close()


@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_before_the_answer_is_transient_and_resets_the_session(sandbox_feed):
    from feeds.qbo.client import QboClient
    from feeds.qbo.wire import Kind
    from qbo_sandbox.models import FaultSettings

    faults = FaultSettings.load()
    faults.rate_drop = 1.0
    faults.save()
    qbo = QboClient()
    session = qbo.session
    dropped = qbo.send_batch(sandbox_feed.feed_id, two_transactions())
    assert (dropped.kind, dropped.status, dropped.broken) == (Kind.TRANSIENT, None, True)
    assert dropped.error.split(":")[0] in {"ConnectionError", "ChunkedEncodingError"}
    assert qbo.session is not session  # the kept-alive connections went with the old one
    qbo.close()


def test_a_refused_connection_is_transient():
    import socket

    from feeds.qbo.client import QboClient
    from feeds.qbo.wire import Kind

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    qbo = QboClient(base_url=f"http://127.0.0.1:{port}")
    answer = qbo.send_batch("fd_nowhere", two_transactions())
    assert (answer.kind, answer.status, answer.broken) == (Kind.TRANSIENT, None, True)
    assert answer.error.startswith("ConnectionError: ")


class Answering:
    """A stand-in for QBO answering every request with one canned answer: the faults no sandbox
    setting makes (a 200 cut short or garbled, an odd Retry-After, a stall)."""

    def __init__(self, status: int, body: bytes = b"", headers: dict | None = None, stall=0.0):
        import http.server

        answer = (status, body, headers or {"Content-Type": "application/json"}, stall)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                status, body, headers, stall = answer
                time.sleep(stall)
                # A client that stopped waiting (a stall past its timeout) has hung up.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Answering:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"accepted": 1, "duplicates": 0}',  # short of the 2 sent
        b'{"accepted": 2}',
        b'{"accepted": 3, "duplicates": -1}',
        b'{"accepted": true, "duplicates": 1}',
        b'{"accepted": 2.0, "duplicates": 0}',
        b'{"accepted": 2, "dupl',  # cut short
        b"[2, 0]",
        b"HTTP/1.1 414",  # bytes left on a kept-alive connection
        b"<html>Gateway</html>",
    ],
)
def test_a_200_without_qbos_whole_answer_is_transient_and_resets_the_session(body):
    from feeds.qbo.client import QboClient
    from feeds.qbo.wire import Kind

    with Answering(200, body) as qbo_stub:
        qbo = QboClient(base_url=qbo_stub.url)
        session = qbo.session
        answer = qbo.send_batch("fd_stub", two_transactions())
    assert (answer.kind, answer.status, answer.broken) == (Kind.TRANSIENT, 200, True)
    assert answer.error == f"200 with an incomplete answer: {body.decode()[:200]!r}"
    assert qbo.session is not session


def test_a_200_with_the_whole_answer_keeps_the_session():
    from feeds.qbo.client import QboClient
    from feeds.qbo.wire import Kind

    with Answering(200, b'{"accepted": 1, "duplicates": 1}') as qbo_stub:
        qbo = QboClient(base_url=qbo_stub.url)
        session = qbo.session
        answer = qbo.send_batch("fd_stub", two_transactions())
    assert (answer.kind, answer.broken) == (Kind.DELIVERED, False)
    assert qbo.session is session


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("120", 120.0),
        ("0", 0.0),
        ("soon", 60.0),
        (None, 60.0),
        ("-5", 60.0),
        ("nan", 60.0),
        ("inf", 60.0),
    ],
)
def test_a_429_asks_to_wait_its_retry_after_or_qbos_60_seconds(retry_after, seconds):
    from feeds.qbo.client import QboClient
    from feeds.qbo.wire import Kind

    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    with Answering(429, b'{"error": "rate_limited"}', headers) as qbo_stub:
        answer = QboClient(base_url=qbo_stub.url).send_batch("fd_stub", two_transactions())
    assert (answer.kind, answer.status, answer.retry_after) == (Kind.RETRY_AFTER, 429, seconds)
    assert answer.error == '429: {"error": "rate_limited"}' and not answer.broken


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "rejected"),
        (404, "rejected"),
        (499, "rejected"),
        (500, "transient"),
        (502, "transient"),
        (302, "transient"),
    ],
)
def test_other_statuses_are_rejected_if_4xx_and_transient_otherwise(status, kind):
    from feeds.qbo.client import QboClient

    text = "x" * 400  # recorded up to 300 characters
    with Answering(status, text.encode(), {"Content-Type": "text/plain"}) as qbo_stub:
        answer = QboClient(base_url=qbo_stub.url).send_batch("fd_stub", two_transactions())
    assert (answer.kind, answer.status, answer.broken) == (kind, status, False)
    assert answer.error == f"{status}: {'x' * 300}"


def test_an_answer_slower_than_the_read_timeout_is_transient():
    from feeds.qbo.client import QboClient
    from feeds.qbo.wire import Kind

    with Answering(200, b'{"accepted": 2, "duplicates": 0}', stall=1.0) as qbo_stub:
        qbo = QboClient(base_url=qbo_stub.url, timeout=(1.0, 0.2))
        answer = qbo.send_batch("fd_stub", two_transactions())
    assert (answer.kind, answer.status, answer.broken) == (Kind.TRANSIENT, None, True)
    assert answer.error.startswith("ReadTimeout: ")
