"""Where a push spends its time: the profile behind the push figures in README "Performance".

Sets up a fresh database (SQLite, or PostgreSQL with --postgres) with FEEDS feeds of EACH pending
transactions, serves the sandbox with gunicorn, then pushes every feed in one process (as a
worker task does, without the queue) under cProfile, with a timer on each phase of a batch:
recording it, building its payload, the request to the sandbox, marking it delivered. Prints
the phases per feed and per batch, the slowest functions, and the bare loop's time for the same
payloads. Not part of `make bench` (a profile slows what it measures).

    .venv/bin/python bench/profile_push.py --feeds 1 --each 200000   # one long backlog
    .venv/bin/python bench/profile_push.py --feeds 300 --each 100    # the daily push's shape
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py
import push  # noqa: E402
from common import (  # noqa: E402
    DEFAULT_POSTGRES,
    ROOT,
    TIMED,
    bench_env,
    free_port,
    postgres_database,
    start_gunicorn,
    stop,
)

INNER = """
import collections, cProfile, io, json, pstats, sys, time
import django
django.setup()
from feeds.delivery import batches, push
from feeds.qbo import client

"""
INNER += (
    TIMED
    + """
timed(batches, "next_batch", "record a batch")
timed(batches, "payload", "build its payload")
timed(client.QboClient, "push", "request to the sandbox")
timed(batches, "mark_delivered", "mark it delivered")
feeds = batches.feeds_to_push()
profile = cProfile.Profile()
started = time.perf_counter()
profile.enable()
for feed_id in feeds:
    push.push_feed(feed_id, "schedule")
profile.disable()
seconds = time.perf_counter() - started
out = io.StringIO()
pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(int(sys.argv[1]))
print(json.dumps({"feeds": len(feeds), "seconds": seconds, "spent": spent, "calls": calls,
                  "profile": out.getvalue()}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--each", type=int, default=100)
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES, default=None)
    parser.add_argument("--top", type=int, default=25, help="functions to show")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            url = postgres_database(args.postgres, "linksite_bench_profile", create=True)
        else:
            url = f"sqlite:///{tmp}/profile.sqlite3"
        port = free_port()
        env = bench_env(url, QBO_BASE_URL=f"http://127.0.0.1:{port}/qbo-sandbox/api/v1")
        try:
            total = args.feeds * args.each
            if args.feeds == 1:
                feeds = push._inner(env, "setup", str(args.each))
            else:
                feeds = push._inner(env, "setup", f"fan={args.feeds}x{args.each}")
            server = start_gunicorn(env, port, 2)
            try:
                result = json.loads(
                    subprocess.run(
                        [sys.executable, "-c", INNER, str(args.top)],
                        cwd=ROOT,
                        env=env,
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout.splitlines()[-1]
                )
                size = min(args.each, 1000)
                bare = push._inner(env, "bare", feeds["bare-loop"], str(total), str(size))
            finally:
                stop(server)
        finally:
            if args.postgres:
                postgres_database(args.postgres, "linksite_bench_profile", create=False)

    batches = result["calls"].get("request to the sandbox", 1)
    print(result["profile"])
    print(
        f"{result['feeds']} feed(s) x {args.each}: {result['seconds']:.2f} s under the profiler, "
        f"{result['seconds'] / result['feeds'] * 1000:.1f} ms per feed, {batches} batch(es)"
    )
    print(f"{'phase':<26}{'ms per batch':>14}{'share':>8}")
    for label, seconds in result["spent"].items():
        per_batch = seconds / max(result["calls"][label], 1) * 1000
        print(f"{label:<26}{per_batch:>14.1f}{seconds / result['seconds']:>8.0%}")
    print(f"{'bare loop, per request':<26}{bare['seconds'] / batches * 1000:>14.1f}")
    if sum(result["spent"].values()) > result["seconds"]:
        print("(the pipeline records, builds and marks while a request is on the wire, so the")
        print(" shares add up to more than the whole)")


if __name__ == "__main__":
    main()
