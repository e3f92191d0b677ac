"""What linksite sends to QBO (`product.md` §6): signed batches of transactions, over one
keep-alive HTTP session per worker process, with connect and read timeouts; what QBO answers
is read in `wire.py`."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings

from feeds.qbo import signing, wire


class QboClient:
    def __init__(
        self,
        base_url: str | None = None,
        partner_key: str | None = None,
        secret: str | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> None:
        self.base_url = (base_url or settings.QBO_BASE_URL).rstrip("/")
        self.partner_key = partner_key or settings.QBO_PARTNER_KEY
        self.secret = secret or settings.QBO_SIGNING_SECRET
        self.timeout = timeout or (settings.QBO_CONNECT_TIMEOUT, settings.QBO_READ_TIMEOUT)
        self.session = requests.Session()

    def push(self, feed_id: str, payload: dict[str, Any]) -> requests.Response:
        """POST one batch; raises requests' exceptions for timeouts and connection errors."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        url = requests.utils.requote_uri(
            f"{self.base_url}/feeds/{quote(feed_id, safe='')}/transactions"
        )
        # Each attempt is a request of its own, with its own request id (QBO de-duplicates a
        # re-sent batch by its batchId); the path is signed as it goes on the wire.
        headers = {
            "Content-Type": "application/json",
            **signing.sign(self.partner_key, self.secret, "POST", urlsplit(url).path, body),
        }
        return self.session.post(url, data=body, headers=headers, timeout=self.timeout)

    def send_batch(self, feed_id: str, body: dict[str, Any]) -> wire.Answer:
        """POST one batch (`wire.batch_body`) and read QBO's answer. Never raises for what the
        network or QBO does: no answer is a transient one. After an answer that cannot be
        trusted the session's connections are dropped."""
        try:
            response = self.push(feed_id, body)
        except requests.RequestException as exc:
            answer = wire.no_answer(exc)
        else:
            answer = wire.read_answer(response, len(body["transactions"]))
        if answer.broken:
            self.reset()
        return answer

    def reset(self) -> None:
        """Drop the kept-alive connections (after an answer that was cut short or garbled, the
        next bytes on that connection cannot be trusted)."""
        self.session.close()
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()


_client: QboClient | None = None


def client() -> QboClient:
    """The process's client (one keep-alive session per worker process), made anew if the
    settings it was made with have changed."""
    global _client
    wanted = (
        settings.QBO_BASE_URL.rstrip("/"),
        settings.QBO_PARTNER_KEY,
        settings.QBO_SIGNING_SECRET,
    )
    if _client is None or (_client.base_url, _client.partner_key, _client.secret) != wanted:
        if _client is not None:
            _client.close()
        _client = QboClient()
    return _client
