"""Browser tests: pytest-playwright driving Debian's chromium against pytest-django's live server.

Playwright's sync API runs an event loop in the test thread, which trips Django's async-safety
guard on every ORM call; the live server runs in its own thread, so the guard is switched off
for the test process only (never in settings). Without /usr/bin/chromium the tests are skipped
with a message, unless REQUIRE_BROWSER=1, where that is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(f"REQUIRE_BROWSER=1 but {message}.")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=message))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-gpu",
        ],
    }
