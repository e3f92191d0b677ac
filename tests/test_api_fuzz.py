"""Schema-driven fuzzing of the client API (`product.md` §8, §9) with schemathesis.

The OpenAPI document is fetched from the live application, in-process through Django's WSGI
handler (no server, no network). `schema.parametrize()` makes one pytest test per operation; for
each operation Hypothesis draws cases from the document (schemathesis' coverage phase: boundary
and negative values, then its fuzzing phase: `MAX_EXAMPLES` random positive and negative cases),
deterministically (`derandomize`), so CI runs the same requests every time.

Every response must pass `CHECKS`: no 5xx, a documented status code and content type, and a body
that matches the documented schema for that status.

Each generated case is sent several times (see `variants`):
1. as generated, with the Authorization header schemathesis drew (none, or a bogus key): 401s;
2. with alice's real API key;
3. with alice's key and, since random path ids almost always get 404, alice's real ids in the
   path (her company, her connection, a write made beforehand for pushOperationKey, and for
   operations on an account each of her two accounts: one connected with a feed, one pending),
   so that the generated bodies and queries reach the real validation and storage code. For the
   write endpoint the body then carries the path's account id, and the case is sent once more
   "repaired" (dates inside the allowed window, amounts in cents: see `_repaired`) so that
   generated writes get stored too.
Each request runs in a savepoint that is rolled back, so a DELETE or a write in one example cannot
change what the next one sees.

schemathesis' lazy `from_fixture` integration cannot run under pytest 9.2 (it sets
`Node._nodeid`, which pytest no longer has), hence the document is loaded at import time; that
request touches no database.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from werkzeug.test import Client

from accounts.audit import Actor
from feeds import feed_rules
from feeds.models import HISTORY_DAYS
from tests.conftest import issue_key

MAX_EXAMPLES = 30  # per operation, fuzzing phase; the coverage phase adds its own fixed set

CONFIG = schemathesis.Config.from_dict(
    {
        # Stateful testing needs links between operations; the document declares none.
        "phases": {"stateful": {"enabled": False}},
        # Reproducible, and no example database (a failure found once must be found by the
        # deterministic run itself, not replayed from a local directory).
        "generation": {"deterministic": True, "database": "none"},
    }
)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]

DAY = dt.timedelta(days=1)


def _seed_write(account_id: str, day: dt.date) -> dict:
    return {
        "accountId": account_id,
        "transactions": [
            {
                "id": "seed-1",
                "clearedOnDate": day.isoformat(),
                "amount": "-12.50",
                "description": "Coffee beans",
                "balance": "87.50",
            },
            {
                "id": "seed-2",
                "clearedOnDate": day.isoformat(),
                "amount": 250,
                "description": "Deposit",
                "transactionType": "Credit",
            },
        ],
    }


WRITE_PATH = (
    "/api/v1/companies/{companyId}/connections/{connectionId}/push/bankAccounts/{accountId}"
    "/bankTransactions"
)

APP = WSGIHandler()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP, config=CONFIG)


@pytest.fixture(autouse=True)
def _wsgi_keeps_the_connection(keep_connection):
    """Requests go straight to the WSGI handler (conftest's `keep_connection`)."""


@pytest.fixture
def world(alice, enabled):
    """alice's data with a connected account, and two writes to it (one stored, one refused)
    so that the lists of push operations and transactions have something to show."""
    start = timezone.localdate() - dt.timedelta(days=HISTORY_DAYS)
    feed_rules.link_feed(
        alice.checking,
        target_account_id="1",
        target_account_name="Checking",
        target_account_type="Bank",
        feed_start_date=start,
        actor=Actor.system(),
    )
    headers = {"Authorization": f"Bearer {issue_key('alice')}"}
    ids = {"companyId": str(alice.company.pk), "connectionId": str(alice.connection.pk)}
    account_id = alice.checking.account_id
    path = WRITE_PATH.format(**ids, accountId=account_id)
    client = Client(APP)
    stored = client.post(path, json=_seed_write(account_id, start), headers=headers)
    tomorrow = timezone.localdate() + DAY
    refused = client.post(path, json=_seed_write(account_id, tomorrow), headers=headers)
    assert (stored.status_code, stored.json["status"]) == (200, "Success"), stored.json
    assert (refused.status_code, refused.json["status"]) == (200, "Failed"), refused.json
    ids["pushOperationKey"] = stored.json["pushOperationKey"]
    return {
        "headers": headers,
        # The connected account first, then the pending one.
        "ids": [
            {**ids, "accountId": alice.checking.account_id},
            {**ids, "accountId": alice.card.account_id},
        ],
    }


def _repaired(body: Any) -> Any:
    """The body with every transaction dated inside the last `HISTORY_DAYS` days, oldest first
    (its clearedOnDate, and its date if sent), and a numeric amount rounded to cents (1 for
    zero): generated bodies mostly leave the optional dates out and send 0 or a float with many
    decimals, so without this no generated write would ever be stored."""
    body = copy.deepcopy(body)
    items = body.get("transactions") if isinstance(body, dict) else None
    if isinstance(items, list):
        first = timezone.localdate() - dt.timedelta(days=HISTORY_DAYS)
        for index, item in enumerate(items):
            if isinstance(item, dict):
                day = (first + dt.timedelta(days=min(index, HISTORY_DAYS))).isoformat()
                item["clearedOnDate"] = day
                if "date" in item:
                    item["date"] = day
                amount = item.get("amount")
                if isinstance(amount, int | float) and not isinstance(amount, bool):
                    item["amount"] = round(amount, 2) or 1
    return body


def variants(
    case: schemathesis.Case, world: dict
) -> Iterator[tuple[schemathesis.Case, dict[str, str] | None]]:
    """Each request to send, with the headers to add. First the case as generated, with the
    Authorization header schemathesis drew for it (none, or a bogus key: a 401 is expected); then
    with alice's key; then with alice's key and her real ids in the path."""
    yield case, None
    yield case.derive(), world["headers"]
    if not case.path_parameters:
        return
    real_ids = world["ids"] if "accountId" in case.path_parameters else world["ids"][:1]
    for ids in real_ids:
        real = case.derive()
        real.path_parameters = {
            **case.path_parameters,
            **{k: v for k, v in ids.items() if k in case.path_parameters},
        }
        if case.path == WRITE_PATH and isinstance(case.body, dict) and "accountId" in case.body:
            real.body = {**case.body, "accountId": ids["accountId"]}
            yield real, world["headers"]
            repaired = real.derive()
            repaired.body = _repaired(real.body)
            yield repaired, world["headers"]
        else:
            yield real, world["headers"]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # The fixtures are shared by the examples on purpose: each request is rolled back.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_api_fuzz(db, case, world):
    for variant, headers in variants(case, world):
        with transaction.atomic():
            variant.call_and_validate(headers=headers, checks=CHECKS)
            transaction.set_rollback(True)
