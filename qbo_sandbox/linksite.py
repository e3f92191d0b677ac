"""The sandbox's HTTP client for linksite's `/qbo/v1/` endpoints (`product.md` §6): signed JSON
over `requests`, nothing else. Settings are read at call time."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import requests
from django.conf import settings

from qbo_sandbox import signing

# Seconds: connecting, then reading the answer.
TIMEOUT = (5.0, 20.0)


class _SignatureLedger:
    """linksite accepts a signature once per method and path. The signature covers only the
    second and the body, so two identical requests in one second (two institution searches, a
    GET's body is empty) would sign alike: the second then waits for the next second."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.second = 0
        self.sent: set[tuple[str, str, str]] = set()

    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        while True:
            headers = signing.sign(body)
            second = int(headers["X-Signature"].split(",")[0][2:])
            with self.lock:
                if second != self.second:
                    self.second, self.sent = second, set()
                key = (method, url, headers["X-Signature"])
                if key not in self.sent:
                    self.sent.add(key)
                    return headers
            time.sleep(1.001 - time.time() % 1)


_ledger = _SignatureLedger()


class LinksiteUnavailable(Exception):
    """linksite could not be reached, or answered something that is not the protocol."""


class LinksiteRefused(Exception):
    """linksite answered with an error: its status, `error` code and `message`."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message


def call(method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send one signed request to `{LINKSITE_URL}/qbo/v1/{path}`; return the JSON answer of a
    2xx, raise LinksiteRefused for a 4xx/5xx with a JSON error, LinksiteUnavailable otherwise."""
    body = b"" if payload is None else json.dumps(payload).encode()
    url = f"{settings.LINKSITE_URL.rstrip('/')}/qbo/v1/{path.lstrip('/')}"
    headers = _ledger.headers(method, url, body)
    if payload is not None:
        headers["Content-Type"] = "application/json"
    try:
        response = requests.request(method, url, data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise LinksiteUnavailable(str(exc)) from exc
    try:
        answer = response.json() if response.content else {}
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise LinksiteUnavailable(f"{response.status_code}: not a JSON object")
    if 200 <= response.status_code < 300:
        return answer
    if response.status_code >= 500:
        raise LinksiteUnavailable(f"{response.status_code}: {answer.get('error', '')}")
    raise LinksiteRefused(
        response.status_code, str(answer.get("error", "")), str(answer.get("message", ""))
    )


def institution() -> dict[str, Any]:
    return call("GET", "institution")


def verify_credentials(username: str, password: str) -> dict[str, Any]:
    return call("POST", "credentials/verify", {"username": username, "password": password})


def link_feeds(link_session_id: str, feeds: list[dict[str, Any]]) -> dict[str, Any]:
    return call("POST", "feeds", {"linkSessionId": link_session_id, "feeds": feeds})


def _feed_action(feed_id: str, action: str) -> dict[str, Any]:
    # The body names the feed (the path is not signed) and a request id, so every press of
    # Update is a distinct signed request.
    body = {"feedId": feed_id, "requestId": uuid.uuid4().hex}
    return call("POST", f"feeds/{requests.utils.quote(feed_id, safe='')}/{action}", body)


def refresh(feed_id: str) -> dict[str, Any]:
    return _feed_action(feed_id, "refresh")


def disconnect(feed_id: str) -> dict[str, Any]:
    return _feed_action(feed_id, "disconnect")
