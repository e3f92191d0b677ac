"""Where a pull spends its time: the profile behind the pull figure in README "Performance".

Sets up a fresh database (SQLite, or PostgreSQL with --postgres) as `bench/pull.py` does (one
account, 7 days x 1,000 transactions written through the write rule), then re-pulls the window
(pages of 2,000) in one process through Django's test client (the whole view stack, no HTTP)
under cProfile, with a timer on each phase of a page: auth, the link check and `last_pulled`,
the count, the page query (rows made into models), marking, the JSON shapes, the encoding.
Prints the phases per page and the slowest functions. Not part of `make bench` (a profile
slows what it measures).

    .venv/bin/python bench/profile_pull.py [--postgres] [--first]   # --first: rows pending
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py
import pull  # noqa: E402
from common import DEFAULT_POSTGRES, ROOT, TIMED, bench_env, postgres_database  # noqa: E402

INNER = """
import base64, collections, cProfile, io, json, pstats, sys, time
import django
django.setup()
from django.db.models.query import QuerySet
from django.http import JsonResponse
from django.test import Client
from feeds import pulls
from feeds.idx import auth, shapes
sys.path.insert(0, "bench")
import pull

"""
INNER += (
    TIMED
    + """
timed(auth, "authenticate", "auth")
timed(pulls, "link_on_first_pull", "link check")
timed(pulls, "record_pull", "last_pulled")
timed(QuerySet, "count", "count")
timed(QuerySet, "_fetch_all", "page query + models")
timed(pulls, "mark_served", "mark served")
timed(shapes, "transaction_json", "shapes")
timed(JsonResponse, "__init__", "json encoding")

setup = json.loads(sys.argv[2])
first = sys.argv[3] == "first"
head = {
    "Authorization": "Basic "
    + base64.b64encode(f"{setup['username']}:{setup['password']}".encode()).decode(),
    "X-Partner-Key": base64.b64encode(pull.PARTNER_KEY.encode()).decode(),
}
start, end = pull.window()
client = Client()

def one_pull():
    pages, number = 0, 1
    while True:
        answer = client.get(
            f"{pull.IDX}accounts/{pull.ACCOUNT_ID}/transactions",
            {"startDate": start, "endDate": end, "pageSize": pull.PAGE_SIZE, "page": number},
            headers=head,
        )
        assert answer.status_code == 200, answer.content[:300]
        pages += 1
        if number * pull.PAGE_SIZE >= answer.json()["totalResults"]:
            return pages
        number += 1

one_pull()  # binds the set, serves every row
spent.clear(); calls.clear()
from feeds.models import BankTransaction
profile = cProfile.Profile()
seconds, pages = 0.0, 0
for _ in range(3):
    if first:
        BankTransaction.objects.update(delivery_state="pending", delivered=None)
    started = time.perf_counter()
    profile.enable()
    pages += one_pull()
    profile.disable()
    seconds += time.perf_counter() - started
out = io.StringIO()
pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(int(sys.argv[1]))
print(json.dumps({"pages": pages, "seconds": seconds, "spent": spent, "calls": calls,
                  "profile": out.getvalue()}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES, default=None)
    parser.add_argument("--first", action="store_true", help="rows pending before each pull")
    parser.add_argument("--top", type=int, default=30, help="functions to show")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            url = postgres_database(args.postgres, "linksite_bench_profile_pull", create=True)
        else:
            url = f"sqlite:///{tmp}/profile.sqlite3"
        env = bench_env(
            url,
            QBO_DELIVERY="pull",
            IDX_PARTNER_KEYS=pull.PARTNER_KEY,
            IDX_RATE_LIMIT_PER_MINUTE="1000000",
        )

        def run(*argv: str) -> dict:
            return json.loads(
                subprocess.run(
                    [sys.executable, *argv], cwd=ROOT, env=env, check=True, capture_output=True
                ).stdout.splitlines()[-1]
            )

        try:
            setup = run(str(ROOT / "bench" / "pull.py"), "--inner", "setup")
            result = run(
                "-c", INNER, str(args.top), json.dumps(setup), "first" if args.first else "re"
            )
        finally:
            if args.postgres:
                postgres_database(args.postgres, "linksite_bench_profile_pull", create=False)

    print(result["profile"])
    pages = result["pages"]
    print(
        f"{pages} pages: {result['seconds']:.2f} s under the profiler, "
        f"{result['seconds'] / pages * 1000:.1f} ms per page"
    )
    print(f"{'phase':<22}{'ms per page':>12}{'share':>8}")
    for label, seconds in result["spent"].items():
        print(f"{label:<22}{seconds / pages * 1000:>12.1f}{seconds / result['seconds']:>8.0%}")


if __name__ == "__main__":
    main()
