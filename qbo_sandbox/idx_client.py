"""The sandbox's HTTP client for linksite's IDX partner API (`/partners/intuit/idx/`, pull
mode): Basic credentials and a base64 partner key over `requests`, pages followed. Settings are
read at call time."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import requests
from django.conf import settings

from qbo_sandbox.linksite import TIMEOUT

PAGE_SIZE = 2000
# A guard against a server whose totals never add up: no pull reads more pages than this.
MAX_PAGES = 1000


class IdxUnavailable(Exception):
    """linksite could not be reached, or answered something that is not the IDX API."""


class IdxRefused(Exception):
    """linksite answered with an error: its status and, for a 429, `Retry-After` (seconds)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def get(username: str, password: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
    """One GET of `{LINKSITE_URL}/partners/intuit/idx/{path}`: the JSON object of a 200, else
    IdxRefused (4xx) or IdxUnavailable (anything else)."""
    url = f"{settings.LINKSITE_URL.rstrip('/')}/partners/intuit/idx/{path.lstrip('/')}"
    headers = {
        "Authorization": "Basic " + _b64(f"{username}:{password}"),
        "X-Partner-Key": _b64(settings.QBO_SANDBOX_PARTNER_KEY),
        "Accept": "application/json",
    }
    try:
        response = requests.get(url, params=params, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise IdxUnavailable(str(exc)) from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise IdxUnavailable(f"{response.status_code}: not a JSON object")
    if response.status_code == 200:
        return answer
    if 400 <= response.status_code < 500:
        retry_after = response.headers.get("Retry-After", "")
        raise IdxRefused(
            response.status_code,
            str(answer.get("error", "")),
            int(retry_after) if retry_after.isdigit() else None,
        )
    raise IdxUnavailable(f"{response.status_code}: {answer.get('error', '')}")


def _pages(username: str, password: str, path: str, params: dict[str, Any]) -> Iterator[dict]:
    for number in range(1, MAX_PAGES + 1):
        answer = get(username, password, path, {**params, "page": number, "pageSize": PAGE_SIZE})
        results = answer.get("results")
        if not isinstance(results, list):
            raise IdxUnavailable("the answer has no results")
        yield from (r for r in results if isinstance(r, dict))
        total = answer.get("totalResults")
        if not results or not isinstance(total, int) or number * PAGE_SIZE >= total:
            return


def accounts(username: str, password: str) -> list[dict[str, Any]]:
    """`GET accounts`, every page."""
    return list(_pages(username, password, "accounts", {}))


def transactions(
    username: str, password: str, account_id: str, start_date: str
) -> list[dict[str, Any]]:
    """`GET accounts/{id}/transactions?startDate=...`, every page."""
    path = f"accounts/{requests.utils.quote(account_id, safe='')}/transactions"
    return list(_pages(username, password, path, {"startDate": start_date}))
