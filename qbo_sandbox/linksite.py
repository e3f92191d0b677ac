"""The sandbox's HTTP client for linksite's `/qbo/v1/` endpoints (`product.md` §6): signed JSON
over `requests`, nothing else. Settings are read at call time."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from qbo_sandbox import signing

# Seconds: connecting, then reading the answer.
TIMEOUT = (5.0, 20.0)


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
    url = requests.utils.requote_uri(
        f"{settings.LINKSITE_URL.rstrip('/')}/qbo/v1/{path.lstrip('/')}"
    )
    # A new request id each time: two identical requests, even in the same second, are two
    # requests. The path is signed as it goes on the wire.
    headers = signing.sign(method, urlsplit(url).path, body)
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
    # The signature covers the path (the feed) and a request id of its own, so every press of
    # Update is a distinct signed request; the signed body is empty.
    return call("POST", f"feeds/{requests.utils.quote(feed_id, safe='')}/{action}")


def refresh(feed_id: str) -> dict[str, Any]:
    return _feed_action(feed_id, "refresh")


def disconnect(feed_id: str) -> dict[str, Any]:
    return _feed_action(feed_id, "disconnect")
