"""What QBO calls on linksite (`product.md` §6): the institution, verifying one-time credentials,
linking feeds, Update (refresh) and disconnect. Every request is signed (see `signing`); a bad,
stale or replayed signature gets 401 and changes nothing. Answers are JSON `{error, message}` on
failure, in English (QBO shows its own wording to the SMB user)."""

from __future__ import annotations

import datetime as dt
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
from django_q.tasks import async_task

from accounts.audit import Actor, record
from accounts.models import OrganizationSettings
from feeds import lifecycle, linking
from feeds.credentials import CredentialError, redeem
from feeds.models import (
    Feed,
    LinkSession,
    ReplayGuard,
    SourceAccount,
    TargetAccountType,
)
from feeds.qbo import signing

logger = logging.getLogger("linksite.qbo")

SESSION_LIFETIME = dt.timedelta(minutes=30)
HISTORY_DAYS = 7
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
    org = OrganizationSettings.objects.defer("logo").filter(pk=1).first()
    name = org.institution_name if org else OrganizationSettings().institution_name
    logo = org is not None and bool(org.logo_content_type)
    return {
        "name": name,
        "logoUrl": f"{settings.LINKSITE_URL}{reverse('org-logo')}" if logo else None,
    }


def _available() -> bool:
    return OrganizationSettings.objects.filter(pk=1, integration_enabled=True).exists()


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
    if not _available():
        return error(403, "unavailable", "This institution does not offer bank feeds now.")
    # The slow password check runs outside any transaction: on SQLite a transaction holds the
    # write lock, and every API write would wait behind the hash. The spend itself is one
    # conditional UPDATE, so a concurrent redemption still cannot win twice.
    refused = None
    try:
        credential_set = redeem(username[:100], password[:100], actor=QBO)
    except CredentialError as exc:
        refused = exc
    else:
        with transaction.atomic():
            session = LinkSession.objects.create(
                credential_set=credential_set,
                connection=credential_set.connection,
                expires=timezone.now() + SESSION_LIFETIME,
            )
            accounts = [
                a
                for a in credential_set.source_accounts.prefetch_related("feeds")
                if not any(f.is_active for f in a.feeds.all())
            ]
            record(
                QBO,
                "qbo.link_session_opened",
                credential_set.connection,
                accounts=[a.account_id for a in accounts],
            )
    if refused is not None:
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


@qbo_endpoint("POST")
def link_feeds(request: HttpRequest, body: dict) -> JsonResponse:
    session = (
        LinkSession.objects.select_related("credential_set", "connection")
        .filter(pk=str(body.get("linkSessionId", ""))[:40])
        .first()
    )
    now = timezone.now()
    if session is None or session.expires <= now:
        return error(401, "invalid_session", "The link session is unknown or has expired.")
    if session.completed is not None:
        return error(409, "session_used", "This link session was already used to link feeds.")
    if session.connection.status == "Deauthorized":
        return error(410, "connection_closed", "The bank closed this connection.")
    items = body.get("feeds")
    if not isinstance(items, list) or not items:
        return error(400, "bad_request", "feeds must be a non-empty array.")
    offered = {
        a.account_id: a for a in session.credential_set.source_accounts.prefetch_related("feeds")
    }
    today = timezone.localdate()
    earliest = today - dt.timedelta(days=HISTORY_DAYS)
    plans, seen, targets = [], set(), set()
    for index, item in enumerate(items):
        where = f"feeds[{index}]"
        if not isinstance(item, dict):
            return error(400, "bad_request", f"{where} must be an object.")
        source = item.get("sourceAccountId")
        account = offered.get(source) if isinstance(source, str) else None
        if account is None:
            return error(
                400, "account_not_in_session", f"{where}.sourceAccountId is not in this session."
            )
        if source in seen:
            return error(
                400, "duplicate_source_account", f"{where}: one target per source account."
            )
        seen.add(source)
        if any(f.is_active for f in account.feeds.all()):
            return error(409, "already_linked", f"{where}: {source!r} is already linked.")
        target_id, target_name = item.get("targetAccountId"), item.get("targetAccountName")
        if not isinstance(target_id, str) or not 1 <= len(target_id) <= 100:
            return error(400, "bad_request", f"{where}.targetAccountId is required.")
        if target_id in targets:
            return error(
                400, "duplicate_target_account", f"{where}: a target account receives one feed."
            )
        targets.add(target_id)
        if not isinstance(target_name, str) or not 1 <= len(target_name.strip()) <= 200:
            return error(400, "bad_request", f"{where}.targetAccountName is required.")
        kind = item.get("targetAccountType")
        if kind not in TargetAccountType.values:
            return error(
                400, "bad_request", f"{where}.targetAccountType must be Bank or CreditCard."
            )
        try:
            start = dt.date.fromisoformat(str(item.get("feedStartDate")))
        except ValueError:
            return error(400, "bad_request", f"{where}.feedStartDate must be YYYY-MM-DD.")
        if not earliest <= start <= today:
            return error(
                400,
                "feed_start_date_out_of_range",
                f"{where}.feedStartDate must be between {earliest} and {today}.",
            )
        plans.append((account, target_id, target_name.strip(), kind, start))

    try:
        with transaction.atomic():
            linked = _link(session, plans, now)
    except (IntegrityError, lifecycle.IllegalTransition):
        # Another session linked one of these accounts meanwhile, or the connection closed.
        return error(409, "already_linked", "An account was linked meanwhile; nothing was changed.")
    if linked is None:
        return error(409, "session_used", "This link session was already used.")
    return JsonResponse(
        {
            "feeds": [
                {
                    "feedId": feed.pk,
                    "sourceAccountId": account.account_id,
                    "status": "connected",
                    "feedStartDate": feed.feed_start_date.isoformat(),
                }
                for account, feed in linked
            ]
        },
        status=201,
    )


def _link(session: LinkSession, plans: list, now: dt.datetime) -> list | None:
    taken = LinkSession.objects.filter(pk=session.pk, completed__isnull=True).update(completed=now)
    if not taken:
        return None
    return [
        (
            account,
            linking.link_feed(
                SourceAccount.objects.select_related("connection").get(pk=account.pk),
                target_account_id=target_id,
                target_account_name=target_name,
                target_account_type=kind,
                feed_start_date=start,
                actor=QBO,
                credential_set=session.credential_set,
            ),
        )
        for account, target_id, target_name, kind, start in plans
    ]


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
    task_id = async_task("feeds.tasks.push_feed", feed.pk, "update")
    record(QBO, "feed.refresh_requested", feed, task=task_id)
    return JsonResponse({"feedId": feed.pk, "queued": True}, status=202)


@qbo_endpoint("POST")
def disconnect(request: HttpRequest, body: dict, feed_id: str) -> JsonResponse:
    feed = _feed(feed_id, body)
    if feed is None:
        return error(404, "unknown_feed", f"No feed {feed_id!r}.")
    linking.disable_feed(feed, actor=QBO)
    feed.refresh_from_db()
    disabled = feed.disabled_on_utc or feed.ended or timezone.now()
    return JsonResponse({"feedId": feed.pk, "disabledAt": disabled.isoformat()})
