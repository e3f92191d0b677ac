"""Where webhook sending spends its time: the profile behind bench/webhooks.py's figures.

Sets up a fresh database (SQLite, or PostgreSQL with --postgres) with EVENTS pending deliveries
to the test receiver (as bench/webhooks.py does), then sends them in one process
(`feeds.webhooks.sending.deliver_due`, as one `send_webhooks` task does, without the queue)
under cProfile, with a timer on each phase: claiming, signing, the request, recording. Prints
the phases, the slowest functions, and the bare loop's time for the same bodies. Not part of
`make bench` (a profile slows what it measures).

    .venv/bin/python bench/profile_webhooks.py [--events 5000] [--postgres [URL]] [--no-verify]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py
import webhooks  # noqa: E402
from common import DEFAULT_POSTGRES, ROOT, TIMED, bench_env, postgres_database  # noqa: E402

INNER = """
import collections, cProfile, io, json, pstats, sys, time
import django
django.setup()
from feeds import leases
from feeds.webhooks import sending

"""
INNER += (
    TIMED
    + """
timed(leases, "take_some", "claim")
timed(sending, "signed_request", "sign")
timed(sending, "_post", "request")
timed(sending, "_record", "record")
profile = cProfile.Profile()
started = time.perf_counter()
profile.enable()
result = sending.deliver_due(sys.argv[2])
profile.disable()
seconds = time.perf_counter() - started
out = io.StringIO()
pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(int(sys.argv[1]))
print(json.dumps({"delivered": result.delivered, "seconds": seconds, "spent": spent,
                  "calls": calls, "profile": out.getvalue()}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES, default=None)
    parser.add_argument("--no-verify", dest="verify", action="store_false")
    parser.add_argument("--top", type=int, default=30, help="functions to show")
    args = parser.parse_args()

    receiver = webhooks.make_receiver(args.verify)
    with tempfile.TemporaryDirectory() as tmp, receiver:
        if args.postgres:
            url = postgres_database(args.postgres, "linksite_bench_profile", create=True)
        else:
            url = f"sqlite:///{tmp}/profile.sqlite3"
        env = bench_env(url, WEBHOOK_ALLOW_HTTP="1", WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1")
        try:
            made = webhooks._inner(env, "setup", receiver.url, str(args.events))
            receiver.secrets.append(made["secret"])
            bare = webhooks._inner(env, "bare", made["endpoint"])
            result = json.loads(
                subprocess.run(
                    [sys.executable, "-c", INNER, str(args.top), made["endpoint"]],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.splitlines()[-1]
            )
        finally:
            if args.postgres:
                postgres_database(args.postgres, "linksite_bench_profile", create=False)

    print(result["profile"])
    n = max(result["delivered"], 1)
    print(
        f"{result['delivered']:,} delivered in {result['seconds']:.2f} s under the profiler, "
        f"{result['seconds'] / n * 1000:.2f} ms per delivery"
    )
    print(f"{'phase':<26}{'ms per delivery':>16}{'share':>8}")
    for label, seconds in result["spent"].items():
        print(f"{label:<26}{seconds / n * 1000:>16.3f}{seconds / result['seconds']:>8.0%}")
    print(f"{'bare loop, per request':<26}{bare['seconds'] / bare['events'] * 1000:>16.3f}")


if __name__ == "__main__":
    main()
