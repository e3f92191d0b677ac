"""What every benchmark script shares: the environment its servers and workers run with, a
gunicorn serving linksite (and the sandbox), and one leg per database (SQLite in a temporary
folder, then PostgreSQL in a database of its own, created and dropped)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_POSTGRES = os.environ.get(
    "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CONN_MAX_AGE": "60",  # persistent connections, as in production
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    """linksite under gunicorn (the production server the README recommends), ready."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "linksite.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        wait(lambda: port_open(port), 30, "gunicorn")
    except BaseException:
        stop(server)
        raise
    return server


def postgres_database(url: str, name: str, create: bool) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def each_database(postgres: str, name: str, run: Callable[[str, str, Path], Any]) -> list[Any]:
    """`run(database, DATABASE_URL, scratch folder)` on SQLite, then on PostgreSQL if reachable."""
    legs = []
    with tempfile.TemporaryDirectory() as tmp:
        legs.append(run("sqlite", f"sqlite:///{tmp}/bench.sqlite3", Path(tmp)))
        try:
            url = postgres_database(postgres, name, create=True)
        except Exception as exc:  # noqa: BLE001 - report and go on with SQLite only
            print(f"PostgreSQL leg skipped: {exc}", file=sys.stderr)
        else:
            try:
                legs.append(run("postgresql", url, Path(tmp)))
            finally:
                postgres_database(postgres, name, create=False)
    return legs
