"""A real HTTP receiver of webhooks, as a client backend runs one: every request is verified
with the `standardwebhooks` verifier (from the `webhook-*` headers only) and with the `svix`
verifier (from the `svix-*` headers only), against any of the secrets it was given. It can be
told to misbehave: answer 503 to a share of requests, answer late, or drop the connection.

    with Receiver() as receiver:
        receiver.secrets.append(secret)      # the endpoint's, from its creation
        ...
        receiver.wait_for(lambda r: r.ids_of("connection.created"), 10)
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook


@dataclass
class Received:
    id: str
    timestamp: str
    signatures: list[str]
    body: bytes
    event: dict[str, Any]

    @property
    def event_type(self) -> str:
        return self.event["eventType"]

    @property
    def payload(self) -> dict[str, Any]:
        return self.event["payload"]


@dataclass
class Faults:
    """What share of requests is answered 503, answered after `delay` seconds (`slow_rate`),
    or has its connection dropped without an answer; `status`: answer every request with it."""

    fail_rate: float = 0.0
    slow_rate: float = 0.0
    delay: float = 0.0
    drop_rate: float = 0.0
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    def __init__(self, seed: int = 7, verify: bool = True) -> None:
        self.secrets: list[str] = []
        self.faults = Faults()
        self.verify = verify
        self.received: list[Received] = []  # verified and answered 2xx
        self.requests = 0  # every request, whatever became of it
        self.answers: Counter[str] = Counter()  # "200", "503", "dropped", "slow", "unverified"
        self.unverified: list[str] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # What arrived ---------------------------------------------------------------------------

    def of_type(self, event_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event_type == event_type]

    def ids_of(self, event_type: str) -> set[str]:
        return {r.id for r in self.of_type(event_type)}

    def types(self) -> list[str]:
        with self._lock:
            return [r.event_type for r in self.received]

    def distinct_ids(self) -> set[str]:
        with self._lock:
            return {r.id for r in self.received}

    def wait_for(self, check: Callable[[Receiver], Any], timeout: float, step: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            outcome = check(self)
            if outcome:
                return outcome
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s; received {len(self.received)} "
                    f"({dict(Counter(self.types()))}), answers {dict(self.answers)}"
                )
            time.sleep(step)

    # Serving --------------------------------------------------------------------------------

    def _verified(self, body: bytes, headers: dict[str, str]) -> bool:
        standard = {k: v for k, v in headers.items() if k.startswith("webhook-")}
        svix = {k: v for k, v in headers.items() if k.startswith("svix-")}
        for secret in list(self.secrets):
            try:
                StandardWebhook(secret).verify(body, standard)
                SvixWebhook(secret).verify(body, svix)
            except Exception:  # noqa: S112 - the next secret may verify it
                continue
            return True
        return False

    def _decide(self) -> str:
        with self._lock:
            self.requests += 1
            roll = self._random.random()
        faults = self.faults
        if roll < faults.drop_rate:
            return "dropped"
        roll -= faults.drop_rate
        if roll < faults.fail_rate:
            return "503"
        roll -= faults.fail_rate
        if roll < faults.slow_rate:
            return "slow"
        return "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, text: bytes = b"", extra: dict | None = None) -> None:
                # A sender that gave up waiting (a slow answer) has closed the connection.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    for name, value in (extra or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                decision = receiver._decide()
                if decision == "dropped":
                    with receiver._lock:
                        receiver.answers["dropped"] += 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if decision == "slow":
                    with receiver._lock:
                        receiver.answers["slow"] += 1
                    time.sleep(receiver.faults.delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.verify and not receiver._verified(body, headers):
                    with receiver._lock:
                        receiver.answers["unverified"] += 1
                        receiver.unverified.append(headers.get("webhook-id", ""))
                    self._answer(400, b"signature not verified")
                    return
                if decision == "503":
                    with receiver._lock:
                        receiver.answers["503"] += 1
                    self._answer(503, b"busy")
                    return
                status = receiver.faults.status or 200
                with receiver._lock:
                    receiver.answers[str(status)] += 1
                    if 200 <= status < 300:
                        receiver.received.append(
                            Received(
                                id=headers["webhook-id"],
                                timestamp=headers["webhook-timestamp"],
                                signatures=headers["webhook-signature"].split(" "),
                                body=body,
                                event=json.loads(body),
                            )
                        )
                self._answer(status, b"ok", receiver.faults.headers)

        return Handler
