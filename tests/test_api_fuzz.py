"""Schema-driven fuzzing of the client API with schemathesis, in-process through WSGI."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings

from accounts.audit import Actor
from feeds import linking
from tests.conftest import issue_key

MAX_EXAMPLES = 30

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    }
)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture(autouse=True)
def keep_connection():
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)



@pytest.fixture
def fuzz_world(alice, enabled):
    linking.link_feed(
        alice.checking,
        target_account_id="1",
        target_account_name="Checking",
        target_account_type="Bank",
        feed_start_date=timezone.localdate() - dt.timedelta(days=7),
        actor=Actor.system(),
    )
    return {
        "key": issue_key("alice"),
        "ids": {
            "companyId": str(alice.company.pk),
            "connectionId": str(alice.connection.pk),
            "accountId": alice.checking.account_id,
        },
    }


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler(), config=CONFIG)


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_api_fuzz(db, case, fuzz_world):
    headers = {"Authorization": f"Bearer {fuzz_world['key']}"}
    with transaction.atomic():
        r = case.call_and_validate(headers=headers, checks=CHECKS)
        _log(case, r, "rand")
        transaction.set_rollback(True)
    real = {k: v for k, v in fuzz_world["ids"].items() if k in case.path_parameters}
    if real:
        again = case.derive()
        again.path_parameters = {**case.path_parameters, **real}
        with transaction.atomic():
            r = again.call_and_validate(headers=headers, checks=CHECKS)
            _log(again, r, "real")
            transaction.set_rollback(True)


def _log(case, r, kind):
    import json
    with open("/tmp/fuzzlog.jsonl", "a") as f:
        f.write(json.dumps({"op": case.operation.label, "kind": kind, "status": r.status_code, "phase": str(case.meta.phase.name) if case.meta else None, "body": r.text[:300]}) + "\n")
