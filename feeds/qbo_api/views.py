"""What QBO calls on linksite (`product.md` §6): the institution, verifying one-time credentials,
linking feeds, Update (refresh) and disconnect. Every request is signed (see `signing`); a bad
or stale signature, or a request id already used, gets 401 and changes nothing. Whatever the
body (any size, nesting, text or JSON type), the answer is JSON, never a 500: `{error, message}`
on failure, in English (QBO shows its own wording to the SMB user)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt

from accounts.audit import Actor, record, record_refusal
from accounts.models import OrganizationSettings
from feeds import availability, feed_rules, ratelimits, tasks
from feeds.credentials import CredentialError, redeem_for_link
from feeds.models import Feed, ReplayGuard, SourceAccountStatus
from feeds.qbo import signing
from feeds.qbo_api import openapi

logger = logging.getLogger("linksite.qbo")

QBO = Actor.qbo()


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


# Bodies QBO sends are a few hundred bytes; this is the limit of every body linksite reads.
def max_body_bytes() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class BadBody(ValueError):
    pass


def parse_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object of text a database can store, or BadBody saying what is wrong:
    not UTF-8 JSON, NaN or Infinity, nested too deep for the parser, an unpaired surrogate
    (\\ud800) or a NUL character in a string, or not an object."""

    def refuse_constant(name: str) -> Any:
        raise BadBody(f"{name} is not a number JSON allows")

    try:
        # Decoded here: json.loads would take UTF-16 and UTF-32 bytes too.
        value = json.loads(raw.decode("utf-8"), parse_constant=refuse_constant)
    except BadBody:
        raise
    except UnicodeDecodeError:
        raise BadBody("it is not UTF-8 text") from None
    except RecursionError:
        raise BadBody("it is nested too deeply") from None
    except ValueError as exc:
        raise BadBody(getattr(exc, "msg", None) or "it cannot be read") from None
    if not isinstance(value, dict):
        raise BadBody("it must be a JSON object")
    # Every string, keys included, walked without recursion (the nesting may be deep).
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise BadBody("a string contains the NUL character")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadBody("a string contains an unpaired surrogate (\\ud800-\\udfff)") from None
    return value


def _refused(request: HttpRequest, reason: str) -> None:
    """An unauthenticated refusal, tallied per source and minute (never a row each: junk cannot
    grow the database beyond `accounts.audit`'s bound)."""
    record_refusal(
        "qbo.refused", ratelimits.client_address(request), path=request.path, reason=reason
    )


def _rate_limited(
    request: HttpRequest, group: str, value: str, setting: str
) -> JsonResponse | None:
    """429 with Retry-After beyond the rate `setting` names, counted by `value`."""
    try:
        ratelimits.check(request, group, value, getattr(settings, setting))
    except ratelimits.RateLimited as exc:
        response = error(
            429, "rate_limited", f"Too many requests; retry after {exc.retry_after} seconds."
        )
        response["Retry-After"] = str(exc.retry_after)
        return response
    return None


def _signed_paths(request: HttpRequest) -> list[str]:
    raw_uri = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    return signing.received_paths(request.path, raw_uri)


def qbo_endpoint(method: str) -> Callable:
    """Method check, size check, signature check (a request id once within the window), the
    body read as a JSON object, JSON errors, never an HTML page."""

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            with translation.override("en-ca"):
                if request.method != method:
                    response = error(405, "method_not_allowed", f"Use {method}.")
                    response["Allow"] = method
                    return response
                refused = _read_body(request)
                if refused is not None:
                    return refused
                try:
                    request_id = signing.verify(
                        request.headers,
                        request.method,
                        _signed_paths(request),
                        request.body,
                        partner_key=settings.QBO_PARTNER_KEY,
                        secret=settings.QBO_SIGNING_SECRET,
                    )
                except signing.SignatureError as exc:
                    _refused(request, str(exc))
                    return error(401, "unauthorized", f"Request not authenticated: {exc}.")
                # The signature covers the time, method, path, request id and body; a request
                # id is accepted once within the window, whatever the rest.
                try:
                    with transaction.atomic():
                        ReplayGuard.objects.create(
                            request_key=signing.replay_key(settings.QBO_PARTNER_KEY, request_id)
                        )
                except IntegrityError:
                    _refused(request, "replay")
                    return error(401, "unauthorized", "This request id was already used.")
                limited = _rate_limited(request, "qbo", settings.QBO_PARTNER_KEY, "RATE_LIMIT_QBO")
                if limited is not None:
                    return limited
                body: dict[str, Any] = {}
                if method == "POST" and request.body:
                    try:
                        body = parse_body(request.body)
                    except BadBody as exc:
                        return error(400, "bad_request", f"The body is not valid JSON: {exc}.")
                try:
                    return view(request, body, *args, **kwargs)
                except Exception:
                    logger.exception("QBO endpoint %s failed", request.path)
                    return error(500, "server_error", "Something went wrong on our side.")

        return wrapper

    return decorate


def _read_body(request: HttpRequest) -> JsonResponse | None:
    """Read the body (it is signed), or the JSON answer that refuses it: 413 over the limit."""
    limit = max_body_bytes()
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return error(400, "bad_request", "Content-Length is not a number.")
    too_big = error(
        413, "payload_too_large", f"The body is larger than the limit of {limit} bytes."
    )
    if length > limit:
        return too_big
    try:
        request.body  # noqa: B018 - read it once, here
    except RequestDataTooBig:
        return too_big
    return None


@csrf_exempt
def openapi_json(request: HttpRequest) -> JsonResponse:
    """Our description of these endpoints (no signature needed: it is no secret)."""
    if request.method != "GET":
        response = error(405, "method_not_allowed", "Use GET.")
        response["Allow"] = "GET"
        return response
    return JsonResponse(openapi.document())


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under /qbo/v1/ (an id with a slash in it, say): JSON, never a page."""
    return error(404, "not_found", f"No QBO endpoint at {request.path}.")


def _institution() -> dict[str, Any]:
    org = OrganizationSettings.current()
    return {
        "name": org.institution_name,
        "logoUrl": f"{settings.LINKSITE_URL}{reverse('org-logo')}"
        if org.logo_content_type
        else None,
    }


@qbo_endpoint("GET")
def institution(request: HttpRequest, body: dict) -> JsonResponse:
    return JsonResponse(_institution())


INVALID_CREDENTIALS = (
    "These credentials could not be verified. They may be wrong, expired, already used or "
    "revoked; get new ones from the bank."
)


@qbo_endpoint("POST")
def verify(request: HttpRequest, body: dict) -> JsonResponse:
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return error(400, "bad_request", "username and password are required strings.")
    limited = _rate_limited(request, "qbo-username", username[:100], "RATE_LIMIT_QBO_USERNAME")
    if limited is not None:
        return limited
    if not availability.integration_enabled():
        return error(403, "unavailable", "This institution does not offer bank feeds now.")
    # The slow password check runs outside any transaction (on SQLite a transaction holds the
    # write lock); the spend and the session are one transaction.
    try:
        session, accounts = redeem_for_link(username[:100], password[:100], actor=QBO)
    except CredentialError:
        return error(401, "invalid_credentials", INVALID_CREDENTIALS)
    return JsonResponse(
        {
            "linkSessionId": session.pk,
            "institution": _institution(),
            "accounts": [
                {
                    "id": a.account_id,
                    "displayName": f"{a.account_name} {a.masked_number}",
                    "accountType": a.account_type,
                    "currency": a.currency,
                    "balance": str(a.balance),
                }
                for a in accounts
            ],
        }
    )


LINK_REFUSAL_STATUS = {
    "invalid_session": 401,
    "session_used": 409,
    "connection_closed": 410,
    "already_linked": 409,
}


@qbo_endpoint("POST")
def link_feeds(request: HttpRequest, body: dict) -> JsonResponse:
    try:
        session = feed_rules.link_session_or_refuse(body.get("linkSessionId"))
        linked = feed_rules.link_planned_feeds(session, body.get("feeds"), actor=QBO)
    except feed_rules.LinkRefused as exc:
        return error(LINK_REFUSAL_STATUS.get(exc.code, 400), exc.code, exc.message)
    return JsonResponse(
        {
            "feeds": [
                {
                    "feedId": feed.pk,
                    "sourceAccountId": account.account_id,
                    "status": SourceAccountStatus.CONNECTED,
                    "feedStartDate": feed.feed_start_date.isoformat(),
                }
                for account, feed in linked
            ]
        },
        status=201,
    )


def _feed(feed_id: str, body: dict) -> Feed | None:
    """The feed of the path. A body may repeat its feedId, which must then be the path's."""
    if "feedId" in body and body["feedId"] != feed_id:
        return None
    if "\x00" in feed_id:  # no feed id has one, and no database can compare it
        return None
    return Feed.objects.select_related("source_account").filter(pk=feed_id[:40]).first()


@qbo_endpoint("POST")
def refresh(request: HttpRequest, body: dict, feed_id: str) -> JsonResponse:
    feed = _feed(feed_id, body)
    if feed is None:
        return error(404, "unknown_feed", f"No feed {feed_id!r}.")
    if not feed.is_active:
        return error(410, "feed_disconnected", f"Feed {feed_id!r} is no longer active.")
    task_id = tasks.queue_push(feed.pk, "update")
    record(QBO, "feed.refresh_requested", feed, task=task_id)
    return JsonResponse({"feedId": feed.pk, "queued": True}, status=202)


@qbo_endpoint("POST")
def disconnect(request: HttpRequest, body: dict, feed_id: str) -> JsonResponse:
    feed = _feed(feed_id, body)
    if feed is None:
        return error(404, "unknown_feed", f"No feed {feed_id!r}.")
    feed_rules.disable_feed(feed, actor=QBO)
    feed.refresh_from_db()
    disabled = feed.disabled_on_utc or feed.ended or timezone.now()
    return JsonResponse({"feedId": feed.pk, "disabledAt": disabled.isoformat()})
