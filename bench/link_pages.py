"""Link screens under concurrent load, on SQLite and on PostgreSQL.

For each database: linksite under gunicorn (4 workers), a connection with 50 source accounts,
all chosen, in a real Link session; then wrk (Debian's package; installed with apt-get when
missing) loads each screen with 16 connections, in short rounds that take every screen in turn,
with the same server's trivial view (`/healthz`) and Django admin's login page (`/admin/login/`,
the framework's own simplest page that reads a session and renders a template) as the two
baselines. Prints, as medians over the rounds, each screen's median and p99 latency, requests
per second, and its median against both baselines (each ratio taken within a round); targets:
each screen ≤ 1.0x the admin login, the polled status ≤ 3x the trivial view. The number of SQL
queries per screen not growing with the number of accounts (1 vs 50) is pinned by a test
(`tests/test_link.py::test_no_link_screen_costs_more_queries_with_50_accounts_than_with_1`).
Writes bench/results/link_pages.json.

    .venv/bin/python bench/link_pages.py [--seconds 2] [--rounds 3] [--connections 16]
        [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

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

TRIVIAL = "trivial view (baseline)"
ADMIN_LOGIN = "admin login (baseline)"
SCREENS = {
    TRIVIAL: "/healthz",
    # Django's own simplest page that reads the session and renders a template.
    ADMIN_LOGIN: "/admin/login/",
    "1 connect": "/link/",
    "2 choose accounts": "/link/accounts",
    "3 set up in QuickBooks": "/link/setup",
    "4 credentials": "/link/credentials",
    "status (polled)": "/link/status",
}


def inner_setup() -> dict:
    import django

    django.setup()
    from feeds import link_urls

    connection = bench_connection(
        institution_name="Maple Bank",
        callout_title_en="Welcome",
        callout_body_en="Your accounts, in QuickBooks every morning.",
    ).connection
    for n in range(50):
        add_account(connection, f"acct-{n}", f"Account {n}", f"0001112223{n:02}")
    return {"url": link_urls.link_url(connection)}  # SITE_URL is the server's address


def _session(base: str, link_url: str) -> str:
    """A real Link session with every account chosen: its Cookie header."""
    import requests

    with requests.Session() as http:
        assert http.get(link_url).status_code == 200
        page = http.get(f"{base}/link/accounts").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        ids = re.findall(r'name="accounts" value="(\d+)"', page)
        chosen = http.post(
            f"{base}/link/accounts",
            data={"csrfmiddlewaretoken": token, "accounts": ids},
            allow_redirects=False,
        )
        assert chosen.status_code == 302, chosen.text[:300]
        return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def _wrk(url: str, cookie: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Cookie: {cookie}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "median_ms": ms("50"),
        "p99_ms": ms("99"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def run_leg(name: str, database_url: str, seconds: int, connections: int, rounds: int) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = bench_env(database_url, SITE_URL=base)
    setup = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--inner", base],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()[-1]
    )
    server = start_gunicorn(env, port, 4)
    runs: dict[str, list[dict]] = {label: [] for label in SCREENS}
    try:
        cookie = _session(base, setup["url"])
        # Short rounds, every screen in each: the machine's drift over a leg (other work on
        # its 2 cores) falls on every screen and both baselines alike.
        for number in range(rounds):
            print(f"[{name}] round {number + 1} of {rounds}", file=sys.stderr)
            for label, path in SCREENS.items():
                runs[label].append(_wrk(base + path, cookie, seconds, connections))
    finally:
        stop(server)
    screens = {}
    for label, measured in runs.items():
        # Each ratio is taken within a round, then the median over the rounds.
        screens[label] = {
            key: statistics.median(run[key] for run in measured)
            for key in ("median_ms", "p99_ms", "rps")
        }
        screens[label]["errors"] = sum(run["errors"] for run in measured)
        for key, baseline in (
            ("median_vs_baseline", TRIVIAL),
            ("median_vs_admin_login", ADMIN_LOGIN),
        ):
            screens[label][key] = statistics.median(
                run["median_ms"] / base_run["median_ms"]
                for run, base_run in zip(measured, runs[baseline], strict=True)
            )
    return {"database": name, "rounds": rounds, "screens": screens}


# Targets (issue 18): the polled status against the trivial view, every screen against the
# admin login page.
TARGETS = {"status (polled)": ("vs trivial", 3.0)}


def target_of(label: str) -> tuple[str, float] | None:
    if label in (TRIVIAL, ADMIN_LOGIN):
        return None
    return TARGETS.get(label, ("vs login", 1.0))


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("Installing wrk (apt-get)", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=2, help="per screen and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(inner_setup()))
        return
    ensure_wrk()
    legs = each_database(
        args.postgres,
        "linksite_bench_link",
        lambda name, url, tmp: run_leg(name, url, args.seconds, args.connections, args.rounds),
    )

    print(
        f"Link screens under load (gunicorn 4 workers, wrk {args.connections} connections, "
        f"{args.rounds} rounds of {args.seconds} s a screen, 50 accounts chosen; medians of the "
        "rounds)"
    )
    for leg in legs:
        print(f"{leg['database']}:")
        print(
            f"  {'screen':<26}{'median':>9}{'p99':>9}{'req/s':>8}{'vs trivial':>12}"
            f"{'vs login':>10}  target"
        )
        for label, f in leg["screens"].items():
            target = target_of(label)
            if target:
                kind, limit = target
                ratio = f["median_vs_baseline" if kind == "vs trivial" else "median_vs_admin_login"]
                verdict = f"{kind} ≤{limit:.0f}x " + ("met" if ratio <= limit else "MISSED")
            else:
                verdict = ""
            print(
                f"  {label:<26}{f['median_ms']:>7.1f}ms{f['p99_ms']:>7.1f}ms{f['rps']:>8.0f}"
                f"{f['median_vs_baseline']:>11.2f}x{f['median_vs_admin_login']:>9.2f}x"
                f"  {verdict}"
            )
    save_results("link_pages", legs)


if __name__ == "__main__":
    main()
