"""Running a real `manage.py qcluster` from a test: a cluster against the test database, on the
leg's broker (the database on SQLite, Redis on PostgreSQL), delivering to the sandbox served by
the live server. Fixtures `broker` and `clusters` (shared through conftest.py)."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection as db_connection

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def database_url() -> str:
    """The test database, as a DATABASE_URL a subprocess can use."""
    cfg = db_connection.settings_dict
    if db_connection.vendor == "sqlite":
        return f"sqlite:///{cfg['NAME']}"
    auth = cfg["USER"] + (f":{cfg['PASSWORD']}" if cfg["PASSWORD"] else "")
    return f"postgres://{auth}@{cfg['HOST'] or '127.0.0.1'}:{cfg['PORT'] or 5432}/{cfg['NAME']}"


def wait_for(check: Callable[[], bool], timeout: float, what: str, step: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


class Cluster:
    """One `manage.py qcluster` in a process group of its own, against the test database."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> Cluster:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: b"running." in self.output(), 60, "the cluster to start")
        return self

    def output(self) -> bytes:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"qcluster exited:\n{self.log.read_text()[-3000:]}")
        return self.log.read_bytes()[self.offset :]

    def pids(self) -> set[int]:
        """The cluster's processes (its group)."""
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.process.pid:
                        found.add(int(entry.name))
                except ProcessLookupError:
                    pass
        return found

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            # The main process stops its guard, which stops the others in order.
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass
        finally:
            # A worker left behind by the guard must not outlive the test.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process = None


@pytest.fixture
def broker(monkeypatch):
    """A queue of this test's own (so parallel runs never share one), on the leg's broker, for
    this process too (the refresh endpoint and the admin queue tasks here)."""
    from django_q.conf import Conf

    name = f"linksite-test-{uuid.uuid4().hex[:10]}"
    env = {"Q_CLUSTER_NAME": name, "REDIS_URL": ""}
    monkeypatch.setattr(Conf, "PREFIX", name)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", name)
    monkeypatch.setattr(Conf, "Q_STAT", f"django_q:{name}:cluster")
    if db_connection.vendor == "postgresql":
        import redis

        client = redis.from_url(REDIS_URL)
        try:
            client.ping()
        except redis.RedisError as exc:
            pytest.fail(f"the PostgreSQL leg runs the worker on Redis; none at {REDIS_URL}: {exc}")
        env["REDIS_URL"] = REDIS_URL
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
        yield env
        for key in client.scan_iter(f"*{name}*"):
            client.delete(key)
        client.close()
    else:
        yield env


@pytest.fixture
def clusters(live_server, broker, settings, tmp_path):
    """Start qclusters with `start(**settings)`; all are stopped at the end of the test."""
    settings.QBO_BASE_URL = f"{live_server.url}/qbo-sandbox/api/v1"
    settings.LINKSITE_URL = live_server.url
    started: list[Cluster] = []
    counter = itertools.count(1)

    def start(**extra: str) -> Cluster:
        env = {
            **os.environ,
            **broker,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "QBO_BASE_URL": settings.QBO_BASE_URL,
            "LINKSITE_URL": live_server.url,
            "Q_WORKERS": "2",
            "LOG_LEVEL": "INFO",
            **extra,
        }
        cluster = Cluster(env, tmp_path / f"qcluster-{next(counter)}.log")
        started.append(cluster)
        return cluster.start()

    yield start
    for cluster in started:
        cluster.stop()
