"""Schema-driven fuzzing of what QBO calls on linksite (`/qbo/v1`, `product.md` §6) with
schemathesis, against our own OpenAPI document (`feeds/qbo_api/openapi.py`), as
`test_api_fuzz.py` does for the client API: no 5xx, documented status codes and content types,
bodies that match the documented schemas.

The requests are signed by a WSGI layer in front of linksite (`Signer`), which sees the body
bytes and the path exactly as linksite will, and signs them per §6 under a new request id. Each
generated case is sent:
1. as generated, with the X-Partner-Key, X-Request-Id and X-Signature schemathesis drew (401s);
2. signed correctly, so the generated bodies and ids reach the real validation;
3. signed correctly with alice's real ids: her feed in the path; her open link session in the
   body, and then also her account and today's date in each planned feed (so plans get linked);
   her credential set's username in the body, and then its password too (so a set is spent);
4. signed wrongly: with another secret, for another path, for another method, too old (401s).
Each request runs in a savepoint that is rolled back. `STATS` counts requests and statuses."""

from __future__ import annotations

import io
import itertools
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler, get_path_info
from django.db import transaction
from hypothesis import HealthCheck, settings

from accounts.audit import Actor
from feeds import credentials, feed_rules
from feeds.qbo import signing
from feeds.qbo_api import openapi
from tests.test_api_fuzz import CHECKS, CONFIG

MAX_EXAMPLES = 30
MODE = "X-Test-Signing"
STATS: Counter[str] = Counter()


class Signer:
    """Sign each request on its way into linksite, as the header `X-Test-Signing` says: "good",
    "secret" (another secret), "path" (signed for another path), "method" (for another method),
    "stale" (six minutes old); without it the request goes in as it is."""

    def __init__(self, app: WSGIHandler) -> None:
        self.app = app
        self.ids = itertools.count(1)

    def __call__(self, environ: dict, start_response):
        mode = environ.pop("HTTP_" + MODE.upper().replace("-", "_"), None)
        if mode is not None:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            method, path = environ["REQUEST_METHOD"], get_path_info(environ)
            secret = django_settings.QBO_SIGNING_SECRET
            now = None
            if mode == "secret":
                secret = "not-the-secret"
            elif mode == "path":
                path = "/qbo/v1/institution" if path != "/qbo/v1/institution" else "/qbo/v1/feeds"
            elif mode == "method":
                method = "GET" if method == "POST" else "POST"
            elif mode == "stale":
                now = time.time() - 360
            headers = signing.sign(
                django_settings.QBO_PARTNER_KEY,
                secret,
                method,
                path,
                body,
                request_id=f"fuzz-{next(self.ids)}",
                now=now,
            )
            for name, value in headers.items():
                environ["HTTP_" + name.upper().replace("-", "_")] = value

        def counting_start_response(status, headers, exc_info=None):
            STATS["requests"] += 1
            STATS[f"{status[0]}xx"] += 1
            STATS[f"{mode or 'as drawn'}: {status.split()[0]}"] += 1
            return start_response(status, headers, exc_info)

        return self.app(environ, counting_start_response)


schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG)
schema.app = Signer(WSGIHandler())


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    print("\n/qbo/v1 fuzzing:", dict(sorted(STATS.items())))


@pytest.fixture(autouse=True)
def _wsgi_keeps_the_connection(keep_connection):
    """Requests go straight to the WSGI handler (conftest's `keep_connection`)."""


@pytest.fixture
def world(alice, enabled):
    """alice's feed (connected, for refresh and disconnect), an open link session for her card,
    and a credential set for her checking account, still unspent."""
    feed = feed_rules.link_feed(
        alice.checking,
        target_account_id="35",
        target_account_name="Checking",
        target_account_type="Bank",
        feed_start_date=feed_rules.feed_start_window()[1],
        actor=Actor.system(),
    )
    linkable, _password = credentials.issue(
        alice.connection, [alice.card], origin="link", actor=Actor.smb("fuzz")
    )
    session, _accounts = feed_rules.open_link_session(linkable, actor=Actor.qbo())
    unspent, password = credentials.issue(
        alice.connection, [alice.card], origin="link", actor=Actor.smb("fuzz")
    )
    return {
        "feedId": feed.pk,
        "linkSessionId": session.pk,
        "username": unspent.username,
        "password": password,
        "sourceAccountId": alice.card.account_id,
        "today": feed_rules.feed_start_window()[1].isoformat(),
    }


def variants(case: schemathesis.Case, world: dict) -> Iterator[tuple[schemathesis.Case, dict]]:
    yield case, {}
    yield case.derive(), {MODE: "good"}
    real = case.derive()
    if "feedId" in (case.path_parameters or {}):
        real.path_parameters = {**case.path_parameters, "feedId": world["feedId"]}
        yield real, {MODE: "good"}
    elif isinstance(case.body, dict) and "linkSessionId" in case.body:
        real.body = {**case.body, "linkSessionId": world["linkSessionId"]}
        yield real, {MODE: "good"}
        # The session's own account, from today: generated plans that can be linked.
        items = real.body.get("feeds")
        if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
            repaired = real.derive()
            repaired.body = {
                **real.body,
                "feeds": [
                    {
                        **item,
                        "sourceAccountId": world["sourceAccountId"],
                        "feedStartDate": world["today"],
                    }
                    for item in items
                ],
            }
            yield repaired, {MODE: "good"}
    elif isinstance(case.body, dict) and "username" in case.body:
        real.body = {**case.body, "username": world["username"]}
        yield real, {MODE: "good"}
        spent = case.derive()
        spent.body = {**case.body, "username": world["username"], "password": world["password"]}
        yield spent, {MODE: "good"}
    for wrong in ("secret", "path", "method", "stale"):
        yield case.derive(), {MODE: wrong}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_qbo_fuzz(db, case, world):
    for variant, headers in variants(case, world):
        with transaction.atomic():
            response = variant.call_and_validate(headers=headers, checks=CHECKS)
            transaction.set_rollback(True)
        if headers.get(MODE) not in (None, "good") and variant.method == case.operation.method:
            assert response.status_code == 401, (headers, response.text)
