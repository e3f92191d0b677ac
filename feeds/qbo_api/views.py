"""What QBO calls on linksite (`product.md` §6): the institution, verifying one-time credentials,
linking feeds, Update (refresh) and disconnect. Every request is signed (see `signing`); a bad,
stale or replayed signature gets 401 and changes nothing. Answers are JSON `{error, message}` on
failure, in English (QBO shows its own wording to the SMB user)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt

from accounts.audit import Actor, record
from accounts.models import OrganizationSettings
from feeds import availability, feed_rules, tasks
from feeds.credentials import CredentialError, redeem_for_link
from feeds.models import Feed, ReplayGuard, SourceAccountStatus
from feeds.qbo import signing

logger = logging.getLogger("linksite.qbo")

QBO = Actor.qbo()


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def qbo_endpoint(method: str) -> Callable:
    """Method check, signature check (once per signature), JSON errors, never an HTML page."""

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            with translation.override("en-ca"):
                if request.method != method:
                    response = error(405, "method_not_allowed", f"Use {method}.")
                    response["Allow"] = method
                    return response
                try:
                    signed = signing.verify(
                        request.headers,
                        request.body,
                        partner_key=settings.QBO_PARTNER_KEY,
                        secret=settings.QBO_SIGNING_SECRET,
                    )
                except signing.SignatureError as exc:
                    record(QBO, "qbo.refused", None, path=request.path, reason=str(exc))
                    return error(401, "unauthorized", f"Request not authenticated: {exc}.")
                # The signature covers the time and the body, not the path, so it is accepted
                # once, whatever the path: a captured request cannot be replayed elsewhere. (Two
                # empty-body requests in one second sign alike: the second gets 401 and is sent
                # again; the sandbox puts the feedId and a requestId in its bodies.)
                try:
                    with transaction.atomic():
                        ReplayGuard.objects.create(signature=signed)
                except IntegrityError:
                    record(QBO, "qbo.refused", None, path=request.path, reason="replay")
                    return error(401, "unauthorized", "This signed request was already used.")
                body: dict[str, Any] = {}
                if method == "POST" and request.body:
                    try:
                        body = json.loads(request.body)
                    except ValueError:
                        return error(400, "bad_request", "The body is not valid JSON.")
                    if not isinstance(body, dict):
                        return error(400, "bad_request", "The body must be a JSON object.")
                try:
                    return view(request, body, *args, **kwargs)
                except Exception:
                    logger.exception("QBO endpoint %s failed", request.path)
                    return error(500, "server_error", "Something went wrong on our side.")

        return wrapper

    return decorate


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
    """The feed of the path. A body may repeat its feedId (the sandbox does, with a requestId),
    which binds the signature to that feed."""
    if "feedId" in body and body["feedId"] != feed_id:
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
