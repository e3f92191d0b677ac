"""A pull through the IDX API as QBO makes it, on SQLite and on PostgreSQL, against a bare
baseline served by the same gunicorn in the same run.

The data: one checking account, linked by QBO's first pull (`pulls.link_on_first_pull`, as the
IDX view does) eight UTC days ago (writes need a connected account, and in pull mode only a
pull connects one), then written to through the real write rule
(`feeds.writes.write_transactions`, what the API's POST runs) 1,000 transactions a day for the
7 UTC days before today, as ten writes of 100 at 01:00, 03:00, … 19:00 UTC, each under
time-machine at that moment. So the rows are real rows with the `created` (the `modifiedDate`
the pull filters on) the write rule itself gives them, and every write is checked against the
rules as of its day (not future, within 7 days, ordered), which setting `created` directly
afterwards would skip.

The pull: one client with a keep-alive `requests.Session`, `GET
/partners/intuit/idx/accounts/{id}/transactions?startDate=D-7&endDate=D&pageSize=2000&page=N`
(the real Basic credentials and X-Partner-Key) for N = 1, 2, … until a page is short or
`totalResults` is reached: 4 pages, 7,000 transactions, 4.2 MB. The client does not parse
the bodies (QBO does that on its own machines); it reads `totalResults` from the end of each.
linksite runs under gunicorn with the gthread worker (`--workers 2 --threads 1 --keep-alive
30`; the sync worker closes every connection) and persistent database connections.

Two kinds of linksite pull are timed, interleaved with the baseline's:
- **re-pull**: the same window again once a pull has served it (QBO re-reads overlapping
  windows). Every row is already delivered, so it is the read path: auth (the verified
  credentials are cached), the covered account, the link and `last_pulled`, a count and a page
  query per page, the JSON.
- **first pull of the rows**: before each repetition (untimed) the 7,000 rows are set back to
  pending (and on PostgreSQL the table vacuumed), so each page also marks its 2,000 rows
  delivered and records an audit event, as QBO's daily pull of new transactions does.
The link itself happens once (in the setup, as above); the warm-up pull, not timed, binds the
credential set.

The baseline: a minimal WSGI app (`bare_application` below) served by the same gunicorn, same
options, on the same database, read by the same client with the same URLs. Per request it does
only what any server must to give the same bytes: parse the path and query, one SELECT of the
account, one COUNT and one page SELECT (same filter and order, LIMIT/OFFSET) with the bare
DB-API driver (sqlite3 / psycopg, one persistent connection per worker), build the same dicts in
the same key order and `json.dumps` them. No auth, no Django, no delivery marking. Its bodies are
checked to be byte for byte the API's before timing. This is the fairest "bare" for a target
meant to say what Django's stack and the pull's rules cost: HTTP, the SQL and the
serialisation are in both. (An in-process ORM read + json.dumps is printed for context too: it
has no HTTP at all, so it is not the target's baseline.)

Figures: the median of the repetitions, as pulls per second. Target (issue 14): linksite's
re-pull at least 50 % of the baseline's pulls per second. The re-pull is the like-for-like
figure, since the baseline reads and serialises the same rows; the first pull does that and
also writes all 7,000 rows (an UPDATE that leaves the pending index), so its ratio to the same
baseline is reported next to it, not against the target. The host's cores may be shared with
other work; compare ratios from one run. Writes bench/results/pull.json.

    .venv/bin/python bench/pull.py [--repeat 7] [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py
from common import (  # noqa: E402
    add_account,
    bench_connection,
    bench_env,
    each_database,
    free_port,
    save_results,
    start_gunicorn,
    stop,
)

DAYS, PER_DAY, WRITES_PER_DAY, PAGE_SIZE = 7, 1000, 10, 2000
ACCOUNT_ID = "pull-chk"
PARTNER_KEY = "bench-partner-key"
IDX = "/partners/intuit/idx/"
WORKERS = 2
GUNICORN_OPTIONS = ("--worker-class", "gthread", "--threads", "1", "--keep-alive", "30")


def window() -> tuple[dt.date, dt.date]:
    """startDate (included), endDate (excluded): the 7 UTC days before today."""
    today = dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=DAYS), today


# Inside a process set up on the bench database ------------------------------------------------


def inner_setup() -> dict:
    import django

    django.setup()
    import time_machine

    from accounts.audit import Actor
    from feeds import credentials, pulls, writes
    from feeds.models import BankTransaction

    bench = bench_connection()
    account = add_account(bench.connection, ACCOUNT_ID, "Operating", "000123456789")
    credential_set, password = credentials.issue(
        bench.connection, [account], origin="link", actor=Actor.smb(bench.connection.pk)
    )
    start, _end = window()
    midnight = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    with time_machine.travel(midnight - dt.timedelta(hours=12), tick=False):
        pulls.link_on_first_pull(account, credential_set, None, actor=Actor.qbo())
    writer, n = Actor.system("bench writes"), 0
    for day in range(DAYS):
        for slot in range(WRITES_PER_DAY):
            moment = midnight + dt.timedelta(days=day, hours=1 + 2 * slot)
            with time_machine.travel(moment, tick=False):
                from django.utils import timezone

                cleared = timezone.localdate().isoformat()
                rows = []
                for _ in range(PER_DAY // WRITES_PER_DAY):
                    n += 1
                    amount = (1 + n % 500) + (n % 100) / 100
                    rows.append(
                        {
                            "id": f"txn-{n:06}",
                            "clearedOnDate": cleared,
                            "amount": round(amount if n % 7 == 0 else -amount, 2),
                            "description": f"Card purchase #{n} at a coffee roaster, Montréal QC",
                        }
                    )
                operation = writes.write_transactions(
                    account,
                    {"accountId": ACCOUNT_ID, "transactions": rows},
                    path_account_id=ACCOUNT_ID,
                    actor=writer,
                )
                if operation.status != "Success":
                    raise SystemExit(f"write refused: {operation.error_message}")
    stored = BankTransaction.objects.filter(source_account=account).count()
    return {"username": credential_set.username, "password": password, "stored": stored}


def inner_orm() -> dict:
    """Context, no HTTP: the same pages read and shaped as the view does (`pulls.served_page`,
    `shapes`), and json.dumps; no auth, no middleware, no marking."""
    import django

    django.setup()
    from feeds import pulls
    from feeds.idx import shapes
    from feeds.models import SourceAccount

    account = SourceAccount.objects.get(account_id=ACCOUNT_ID)
    start, end = window()
    times = []
    for _ in range(5):
        began = time.perf_counter()
        rows = pulls.transactions_in_window(account, start, end)
        total = rows.count()
        for number in range(1, -(-total // PAGE_SIZE) + 1):
            chosen = pulls.served_page(rows, number, PAGE_SIZE)
            json.dumps(
                shapes.page(
                    [shapes.transaction_json(r, account) for r in chosen],
                    number,
                    PAGE_SIZE,
                    total,
                )
            )
        times.append(time.perf_counter() - began)
    return {"orm_pull_seconds": statistics.median(times)}


# The bare baseline: a WSGI app without Django ---------------------------------------------------


def connect(url: str):
    if url.startswith("sqlite:///"):
        import sqlite3

        return sqlite3.connect(url.removeprefix("sqlite:///"), check_same_thread=False)
    import psycopg

    return psycopg.connect(url, autocommit=True)


_db = None
BARE_SQL = {
    "account": "SELECT id, account_id, currency FROM feeds_sourceaccount WHERE account_id = ?",
    "count": "SELECT COUNT(*) FROM feeds_banktransaction"
    " WHERE source_account_id = ? AND created >= ? AND created < ?",
    "page": "SELECT transaction_id, cleared_on_date, description, amount, created"
    " FROM feeds_banktransaction WHERE source_account_id = ? AND created >= ? AND created < ?"
    " ORDER BY created, id LIMIT ? OFFSET ?",
}


def _utc(value) -> dt.datetime:
    if isinstance(value, str):  # SQLite: what Django stored, naive UTC
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _stamp(value) -> str:
    return _utc(value).isoformat().replace("+00:00", "Z")


def bare_application(environ, start_response):
    """GET /partners/intuit/idx/accounts/{id}/transactions?startDate&endDate&page&pageSize:
    the same bytes as linksite's answer, for a checking account (a `deposit`)."""
    global _db
    if _db is None:
        _db = connect(os.environ["DATABASE_URL"])
    sqlite = not hasattr(_db, "pgconn")
    path = environ["PATH_INFO"].removeprefix(IDX).split("/")
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    number, size = int(query.get("page", 1)), int(query.get("pageSize", 100))
    bounds = [
        dt.datetime.combine(dt.date.fromisoformat(query[name]), dt.time.min, tzinfo=dt.UTC)
        for name in ("startDate", "endDate")
    ]
    if sqlite:  # Django's form of a datetime in SQLite
        bounds = [b.replace(tzinfo=None).isoformat(" ") for b in bounds]
    queries = BARE_SQL if sqlite else {k: q.replace("?", "%s") for k, q in BARE_SQL.items()}
    cursor = _db.cursor()
    cursor.execute(queries["account"], [path[1]])
    pk, account_id, currency = cursor.fetchone()
    cursor.execute(queries["count"], [pk, *bounds])
    total = cursor.fetchone()[0]
    cursor.execute(queries["page"], [pk, *bounds, size, (number - 1) * size])
    results = []
    for transaction_id, cleared, description, amount, created in cursor.fetchall():
        cleared = cleared if isinstance(cleared, str) else cleared.isoformat()
        amount = f"{amount:.2f}" if isinstance(amount, float | int) else str(amount)
        credit = not amount.startswith("-")
        kind = "credit" if credit else "debit"
        results.append(
            {
                "transactionId": transaction_id,
                "accountId": account_id,
                "accountType": "deposit",
                "transactionDate": cleared,
                "postedDate": cleared,
                "transactionDescription": description,
                "amount": {"currency": currency, "amount": amount},
                "transactionValueType": "CREDIT" if credit else "DEBIT",
                "transactionMutability": False,
                "status": "POSTED",
                "depositTransactionInfo": {"depositTransactionType": kind},
                "cashCardTransactionInfo": None,
                "creditCardTransactionInfo": None,
                "lineOfCreditTransactionInfo": None,
                "loanTransactionInfo": None,
                "modifiedDate": _stamp(created),
            }
        )
    body = json.dumps(
        {"results": results, "pageNumber": number, "pageSize": size, "totalResults": total}
    ).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


# The client -----------------------------------------------------------------------------------


def pull(session, base: str, headers: dict[str, str]) -> list[bytes]:
    """Every page of the window, as QBO reads them: until a short page or totalResults."""
    start, end = window()
    pages, number = [], 1
    while True:
        answer = session.get(
            f"{base}{IDX}accounts/{ACCOUNT_ID}/transactions",
            params={
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
                "pageSize": PAGE_SIZE,
                "page": number,
            },
            headers=headers,
        )
        if answer.status_code != 200:
            raise SystemExit(f"page {number}: {answer.status_code} {answer.text[:300]}")
        body = answer.content
        pages.append(body)
        total = int(body[body.rindex(b'"totalResults": ') + 16 : -1])
        if number * PAGE_SIZE >= total:
            return pages
        number += 1


def reset_pending(url: str) -> None:
    """Every row pending again (untimed), so the next pull serves them for the first time."""
    db = connect(url)
    try:
        db.execute("UPDATE feeds_banktransaction SET delivery_state = 'pending', delivered = NULL")
        if url.startswith("sqlite:///"):
            db.commit()
        else:
            db.execute("VACUUM ANALYZE feeds_banktransaction")
    finally:
        db.close()


def run_leg(name: str, database_url: str, repeat: int) -> dict:
    import base64

    import requests

    env = bench_env(
        database_url,
        QBO_DELIVERY="pull",
        IDX_PARTNER_KEYS=PARTNER_KEY,
        # One account's pull is a handful of calls; the bench makes more a minute than QBO.
        IDX_RATE_LIMIT_PER_MINUTE="1000000",
    )

    def inner(command: str) -> dict:
        return json.loads(
            subprocess.run(
                [sys.executable, __file__, "--inner", command],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.splitlines()[-1]
        )

    began = time.perf_counter()
    setup = inner("setup")
    print(f"[{name}] {setup['stored']} rows written in {time.perf_counter() - began:.0f} s")
    if setup["stored"] != DAYS * PER_DAY:
        raise SystemExit(f"expected {DAYS * PER_DAY} rows, found {setup['stored']}")
    headers = {
        "Authorization": "Basic "
        + base64.b64encode(f"{setup['username']}:{setup['password']}".encode()).decode(),
        "X-Partner-Key": base64.b64encode(PARTNER_KEY.encode()).decode(),
    }
    api_port, bare_port = free_port(), free_port()
    api = start_gunicorn(env, api_port, WORKERS, extra=GUNICORN_OPTIONS)
    try:
        bare = start_gunicorn(
            env, bare_port, WORKERS, app="bench.pull:bare_application", extra=GUNICORN_OPTIONS
        )
        try:
            api_base, bare_base = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
            with requests.Session() as api_session, requests.Session() as bare_session:
                # Warm-up (binds the credential set, serves every row once), and the check that
                # the baseline gives the same bytes.
                first = pull(api_session, api_base, headers)
                again = pull(api_session, api_base, headers)
                theirs = pull(bare_session, bare_base, {})
                served = sum(len(json.loads(page)["results"]) for page in again)
                if served != DAYS * PER_DAY or len(first) != len(again):
                    raise SystemExit(f"the pull served {served} transactions")
                if again != theirs:
                    raise SystemExit("the bare baseline's bytes differ from the API's")
                size = sum(map(len, again))
                repull, baseline, fresh = [], [], []
                for _ in range(repeat):
                    for times, session, base, head in (
                        (repull, api_session, api_base, headers),
                        (baseline, bare_session, bare_base, {}),
                    ):
                        began = time.perf_counter()
                        pull(session, base, head)
                        times.append(time.perf_counter() - began)
                for _ in range(repeat):
                    reset_pending(database_url)
                    began = time.perf_counter()
                    pull(api_session, api_base, headers)
                    fresh.append(time.perf_counter() - began)
                    # a baseline repetition right after, so that both see the same moment
                    began = time.perf_counter()
                    pull(bare_session, bare_base, {})
                    baseline.append(time.perf_counter() - began)
        finally:
            stop(bare)
    finally:
        stop(api)
    orm = inner("orm")
    api_s, bare_s, fresh_s = (statistics.median(t) for t in (repull, baseline, fresh))
    return {
        "database": name,
        "transactions": DAYS * PER_DAY,
        "pages": len(again),
        "bytes": size,
        "repetitions": {"repull": len(repull), "first_pull": len(fresh), "bare": len(baseline)},
        "repull_seconds": api_s,
        "first_pull_seconds": fresh_s,
        "bare_seconds": bare_s,
        "orm_in_process_seconds": orm["orm_pull_seconds"],
        "repull_per_s": 1 / api_s,
        "first_pull_per_s": 1 / fresh_s,
        "bare_per_s": 1 / bare_s,
        "repull_ratio": bare_s / api_s,
        "first_pull_ratio": bare_s / fresh_s,
        "all_seconds": {"repull": repull, "first_pull": fresh, "bare": baseline},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner_setup() if args.inner == "setup" else inner_orm()))
        return

    legs = each_database(
        args.postgres,
        "linksite_bench_pull",
        lambda name, url, tmp: run_leg(name, url, args.repeat),
    )
    print(
        f"A pull of {DAYS} days x {PER_DAY} transactions (pages of {PAGE_SIZE}) over HTTP "
        f"(gunicorn gthread, {WORKERS} workers, keep-alive), median of the repetitions"
    )
    print(
        f"{'database':<12}{'re-pull/s':>10}{'first/s':>9}{'bare/s':>8}{'re-pull':>9}"
        f"{'first':>7}{'target':>8}   in process (ORM + dumps, no HTTP)"
    )
    for leg in legs:
        mark = "✔" if leg["repull_ratio"] >= 0.5 else "✘"
        print(
            f"{leg['database']:<12}{leg['repull_per_s']:>10.2f}{leg['first_pull_per_s']:>9.2f}"
            f"{leg['bare_per_s']:>8.2f}{leg['repull_ratio']:>9.0%}{leg['first_pull_ratio']:>7.0%}"
            f"{'≥50%':>7}{mark}   {leg['orm_in_process_seconds'] * 1000:.0f} ms a pull"
        )
    save_results("pull", legs)


if __name__ == "__main__":
    main()
