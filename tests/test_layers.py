"""Who may import whom, read from the source (imports inside functions count too): the task
queue is touched only by feeds/tasks.py (and the schedules it runs), QBO's client and wire
format never climb back up into delivery, and the retry loop depends on nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FEEDS = Path(__file__).resolve().parent.parent / "feeds"


def imports() -> dict[str, set[str]]:
    """Each module of feeds/ (dotted) and the modules it imports."""
    found = {}
    for path in FEEDS.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        module = ".".join(path.relative_to(FEEDS.parent).with_suffix("").parts)
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        found[module.removesuffix(".__init__")] = names
    return found


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def offending(importer: str, *imported: str) -> list[tuple[str, str]]:
    return sorted(
        (module, name)
        for module, names in imports().items()
        if within(module, importer)
        for name in names
        if within(name, *imported)
    )


def test_only_the_tasks_and_their_schedules_touch_the_task_queue():
    queue = offending("feeds", "django_q")
    assert {module for module, _ in queue} <= {"feeds.tasks", "feeds.schedules"}, queue


def test_delivery_neither_queues_nor_names_the_workers_tasks():
    assert offending("feeds.delivery", "feeds.tasks", "django_q") == []
    strings = [
        path.name
        for path in (FEEDS / "delivery").rglob("*.py")
        if "feeds.tasks" in path.read_text()
    ]
    assert strings == []


@pytest.mark.parametrize("module", ["feeds.qbo.client", "feeds.qbo.wire", "feeds.qbo.signing"])
def test_qbos_client_and_wire_format_never_import_delivery_or_the_tasks(module):
    assert offending(module, "feeds.delivery", "feeds.tasks") == []


def test_nothing_in_feeds_qbo_imports_delivery():
    # The inbound views queue an Update through feeds.tasks, as admin does.
    assert offending("feeds.qbo", "feeds.delivery") == []


def test_the_retry_loop_depends_on_nothing_of_ours():
    assert offending("feeds.retrying", "feeds", "accounts", "django", "django_q") == []
