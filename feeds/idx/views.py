"""The IDX partner API QBO pulls from (`product.md` §12), under `/partners/intuit/idx/`:
`GET accounts` and `GET accounts/{accountId}/transactions`. Answers only while `QBO_DELIVERY`
includes `pull` (else 404 for every path). Errors have the client API's shape with `service`
naming this API; messages are in English."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt

from feeds import availability, pulls
from feeds.api import errors
from feeds.idx import auth, openapi, shapes
from feeds.models import CredentialSet
from feeds.writes import Problem

logger = logging.getLogger("linksite.idx")

SERVICE, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = shapes.SERVICE, shapes.MAX_PAGE_SIZE, shapes.PAGE_SIZE
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
NOT_AUTHENTICATED = (
    "Request not authenticated: send Authorization: Basic with valid credentials and "
    "X-Partner-Key with a valid partner key."
)


class IdxError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        item: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.item = status, message, item
        self.headers = headers or {}


def error_response(request: HttpRequest, exc: IdxError) -> JsonResponse:
    problems = [Problem(exc.item, exc.message, exc.item)] if exc.item else None
    return errors.response(request, exc.status, exc.message, problems, exc.headers, SERVICE)


def pull_enabled() -> bool:
    return "pull" in settings.QBO_DELIVERY


def idx_endpoint(view: Callable[..., dict[str, Any]]) -> Callable[..., HttpResponse]:
    """GET only; pull mode only; the caller authenticated (the credential set is passed on);
    every answer JSON, never cached, with its correlation id."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with translation.override("en-ca"):
            try:
                response = JsonResponse(_call(view, request, *args, **kwargs))
            except IdxError as exc:
                response = error_response(request, exc)
            except Exception:
                logger.exception("IDX endpoint %s failed", request.path)
                response = error_response(request, IdxError(500, "Something went wrong."))
        response[errors.HEADER] = errors.correlation_id(request)
        response["Cache-Control"] = "no-store"
        return response

    return wrapper


def _call(
    view: Callable[..., dict[str, Any]], request: HttpRequest, *args: Any, **kwargs: Any
) -> dict[str, Any]:
    if not pull_enabled():
        raise IdxError(404, "Not found.")
    if request.method != "GET":
        raise IdxError(405, "Use GET.", headers={"Allow": "GET"})
    if not availability.integration_enabled():
        # Before the credentials: a set is not bound by a call that cannot be served.
        raise IdxError(403, "This institution does not offer bank feeds now.")
    try:
        credential_set = auth.authenticate(request)
    except auth.RateLimited as exc:
        raise IdxError(
            429,
            f"Too many requests for this partner key; try again in {exc.retry_after} seconds.",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except auth.Refused:
        raise IdxError(401, NOT_AUTHENTICATED) from None
    connection = credential_set.connection
    if availability.is_deauthorized(connection):
        raise IdxError(401, NOT_AUTHENTICATED)
    return view(request, credential_set, *args, **kwargs)


@csrf_exempt
def openapi_json(request: HttpRequest) -> HttpResponse:
    """Our description of this API (pull mode only, like every path here; no auth needed)."""
    if not pull_enabled() or request.method != "GET":
        return not_found(request)
    return JsonResponse(openapi.document())


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under the IDX API: 404 in the error shape."""
    response = error_response(request, IdxError(404, "Not found."))
    response[errors.HEADER] = errors.correlation_id(request)
    response["Cache-Control"] = "no-store"
    return response


def _int(request: HttpRequest, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
    if not re.fullmatch(r"\d{1,9}", raw) or not (
        low <= int(raw) and (high is None or int(raw) <= high)
    ):
        raise IdxError(400, f"{name} must be a whole number {bounds}.", name)
    return int(raw)


def paging(request: HttpRequest) -> tuple[int, int]:
    return (
        _int(request, "page", 1, 1, None),
        _int(request, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
    )


def _date(request: HttpRequest, name: str) -> dt.date | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    try:
        if not DATE.fullmatch(raw):
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise IdxError(400, f"{name} must be a date written YYYY-MM-DD.", name) from None


@idx_endpoint
def accounts(request: HttpRequest, credential_set: CredentialSet) -> dict[str, Any]:
    number, size = paging(request)
    rows = pulls.covered_accounts(credential_set)
    total = rows.count()
    chosen = rows[(number - 1) * size : number * size]
    return shapes.page([shapes.account_json(a) for a in chosen], number, size, total)


@idx_endpoint
def transactions(
    request: HttpRequest, credential_set: CredentialSet, account_id: str
) -> dict[str, Any]:
    account = (
        pulls.covered_accounts(credential_set).filter(account_id=account_id).first()
        if "\x00" not in account_id
        else None
    )
    if account is None:
        raise IdxError(404, "These credentials cover no account with this id.", "accountId")
    start, end = _date(request, "startDate"), _date(request, "endDate")
    if start is not None and end is not None and end < start:
        raise IdxError(400, "endDate must not be before startDate.", "endDate")
    number, size = paging(request)
    pulls.link_on_first_pull(account, credential_set, start, actor=auth.QBO)
    pulls.record_pull(account)
    rows = pulls.transactions_in_window(account, start, end)
    total = rows.count()
    chosen = pulls.served_page(rows, number, size)
    pulls.mark_served(account, chosen, actor=auth.QBO)
    return shapes.page(
        [shapes.transaction_json(row, account) for row in chosen], number, size, total
    )
