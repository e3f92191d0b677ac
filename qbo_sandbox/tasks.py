"""What the worker runs for the sandbox (thin: calls `qbo_sandbox.pulling`)."""

from __future__ import annotations

from qbo_sandbox import pulling


def daily_pull() -> dict[str, int]:
    return pulling.pull_all()
