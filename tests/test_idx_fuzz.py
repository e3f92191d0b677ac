"""Schema-driven fuzzing of the IDX API with schemathesis, against our own OpenAPI document
(`feeds/idx/openapi.py`), as `test_api_fuzz.py` does for the client API: no 5xx, documented
status codes and content types, bodies that match the documented schemas.

Each generated case is sent as drawn (no credentials, or bogus ones: 401s), with alice's real
credentials and a partner key, and then with her real account ids in the path, each request in
a savepoint that is rolled back. The document is built in-process (in push mode, the default of
the test settings, it is not served)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings

from accounts.audit import Actor
from feeds import credentials
from feeds.idx import openapi
from tests.makers import make_transaction
from tests.test_api_fuzz import CHECKS, CONFIG

MAX_EXAMPLES = 30
KEY = "fuzz-partner-key"

APP = WSGIHandler()
schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG)
schema.app = APP


@pytest.fixture(autouse=True)
def _wsgi_keeps_the_connection(keep_connection):
    """Requests go straight to the WSGI handler (conftest's `keep_connection`)."""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def world(alice, enabled, settings):
    settings.QBO_DELIVERY = frozenset({"pull"})
    settings.IDX_PARTNER_KEYS = [KEY]
    settings.IDX_RATE_LIMIT_PER_MINUTE = 1_000_000
    cache.clear()
    credential_set, password = credentials.issue(
        alice.connection, [alice.checking, alice.card], origin="link", actor=Actor.smb("fuzz")
    )
    earlier = timezone.now() - dt.timedelta(days=2)
    make_transaction(alice.checking, "t-1", created=earlier)
    make_transaction(alice.checking, "t-2", amount=100, transaction_type="Credit")
    make_transaction(alice.card, "t-3")
    headers = {
        "Authorization": "Basic " + b64(f"{credential_set.username}:{password}"),
        "X-Partner-Key": b64(KEY),
    }
    return {"headers": headers, "accounts": [alice.checking.account_id, alice.card.account_id]}


def variants(case: schemathesis.Case, world: dict) -> Iterator[tuple[schemathesis.Case, dict]]:
    yield case, {}
    yield case.derive(), world["headers"]
    if "accountId" in (case.path_parameters or {}):
        for account_id in world["accounts"]:
            real = case.derive()
            real.path_parameters = {**case.path_parameters, "accountId": account_id}
            yield real, world["headers"]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_idx_fuzz(db, case, world):
    for variant, headers in variants(case, world):
        with transaction.atomic():
            variant.call_and_validate(headers=headers, checks=CHECKS)
            transaction.set_rollback(True)
