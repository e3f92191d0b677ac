"""Where a Link screen spends its time: the profile behind the Link figures in README
"Performance". A fresh SQLite database (or PostgreSQL with --postgres) with a connection of 50
source accounts, all chosen, in a real Link session; then each screen, and both baselines (the
trivial view and admin's login page), requested REPEAT times through Django's WSGI handler in
one process (no network, no server), under cProfile. Prints each path's time per request, its SQL
queries per request, and the functions it spends most in. Not part of `make bench` (a profile
slows what it measures).

    .venv/bin/python bench/profile_link.py [--repeat 300] [--top 25] [--postgres [URL]]
        [--only status] [--sort tottime]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py
import link_pages  # noqa: E402
from common import DEFAULT_POSTGRES, bench_env, postgres_database  # noqa: E402

INNER = """
import cProfile, io, json, pstats, re, sys, time
import django
django.setup()
from django.conf import settings
from django.db import connection, reset_queries
from django.test import Client

setup = json.loads(sys.argv[1])
repeat, top, only = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = Client()
assert client.get(setup["url"].replace(settings.SITE_URL, "")).status_code == 302
page = client.get("/link/accounts").content.decode()
ids = re.findall(r'name="accounts" value="(\\d+)"', page)
assert client.post("/link/accounts", {"accounts": ids}).status_code == 302
paths = json.loads(sys.argv[5])
for label, path in paths.items():
    if only and only not in label:
        continue
    for _ in range(20):  # warm: templates compiled, connections open
        client.get(path)
    connection.force_debug_cursor = True
    reset_queries()
    client.get(path)
    queries = list(connection.queries)
    connection.force_debug_cursor = False
    rounds = []  # the best of 5 rounds: other work on the machine only ever adds time
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(max(1, repeat // 5)):
            response = client.get(path)
        rounds.append((time.perf_counter() - started) / max(1, repeat // 5) * 1000)
    bare = min(rounds)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for _ in range(repeat):
        response = client.get(path)
    profile.disable()
    per = (time.perf_counter() - started) / repeat * 1000
    print(f"== {label} ({path}): {response.status_code}, {bare:.2f} ms a request "
          f"({per:.2f} ms under the profiler), {len(queries)} queries")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(sys.argv[6]).print_stats(top)
    print(out.getvalue().split("ncalls", 1)[-1] if top else "")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", default="", help="only the paths whose label has this")
    parser.add_argument("--path", action="append", default=[], help="another path to profile")
    parser.add_argument("--sort", default="cumulative", help="pstats order (tottime, …)")
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            url = postgres_database(args.postgres, "linksite_profile_link", create=True)
        else:
            url = f"sqlite:///{tmp}/profile.sqlite3"
        env = bench_env(url, SITE_URL="http://testserver", ALLOWED_HOSTS="testserver")
        try:
            setup = subprocess.run(
                [sys.executable, link_pages.__file__, "--inner", "x"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.splitlines()[-1]
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    INNER,
                    setup,
                    str(args.repeat),
                    str(args.top),
                    args.only,
                    json.dumps({**link_pages.SCREENS, **{p: p for p in args.path}}),
                    args.sort,
                ],
                env=env,
                check=True,
            )
        finally:
            if args.postgres:
                postgres_database(args.postgres, "linksite_profile_link", create=False)


if __name__ == "__main__":
    main()
