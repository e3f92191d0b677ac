"""The house's layers, read from every module's imports (`tests/imports.py`: imports inside
functions, dynamic imports and dotted strings such as "feeds.tasks.push_feed" count; nothing is
run). Surfaces call the domain; the domain calls QBO's client and the models; nothing calls
back up, and no modules import each other in a circle. README, "How the parts fit together"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports import ROOT, imported_names

# What people and systems call: the client API, the Link pages, the endpoints QBO calls (the
# pushed protocol and the IDX API it pulls from), admin, the worker's tasks and their
# schedules, the management commands and the template filters.
SURFACES = (
    # The app's start-up, which wires the worker's side to the events the domain records.
    "feeds.apps",
    "feeds.schedules",
    "feeds.api",
    "feeds.link",
    "feeds.qbo_api",
    "feeds.idx",
    "feeds.admin",
    "feeds.admin_dashboard",
    "feeds.tasks",
    "feeds.management",
    "feeds.templatetags",
)


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def imports(*folders: str) -> dict[str, set[str]]:
    """Each module under the folders (dotted; migrations aside) and what it imports."""
    found = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.parts:
                found[_module(path)] = imported_names(path.read_text(encoding="utf-8"), path)
    assert found, f"no source under {folders}"
    return found


def offending(importer: str, *imported: str) -> list[tuple[str, str]]:
    return sorted(
        (module, name)
        for module, names in imports("feeds", "accounts").items()
        if within(module, importer)
        for name in names
        if within(name, *imported)
    )


def test_accounts_imports_nothing_from_feeds():
    assert offending("accounts", "feeds") == []


def test_the_domain_calls_no_surface():
    calls_up = [
        (module, name)
        for module, name in offending("feeds", *SURFACES)
        if not within(module, *SURFACES)
    ]
    assert calls_up == []


def test_only_the_tasks_and_their_schedules_touch_the_task_queue():
    queue = offending("feeds", "django_q") + offending("accounts", "django_q")
    assert {module for module, _ in queue} <= {"feeds.tasks", "feeds.schedules"}, queue


def test_delivery_neither_queues_nor_names_the_workers_tasks():
    assert offending("feeds.delivery", "feeds.tasks", "django_q") == []


@pytest.mark.parametrize("module", ["feeds.qbo.client", "feeds.qbo.wire", "feeds.qbo.signing"])
def test_qbos_client_and_wire_format_never_import_delivery_or_the_tasks(module):
    assert offending(module, "feeds.delivery", "feeds.tasks") == []


def test_nothing_in_feeds_qbo_imports_delivery_the_tasks_or_a_surface():
    # The endpoints QBO calls are a surface of their own (feeds.qbo_api); they queue an Update
    # through feeds.tasks, as admin does.
    assert offending("feeds.qbo", "feeds.delivery", "feeds.tasks", *SURFACES) == []


def test_the_retry_loop_depends_on_nothing_of_ours():
    assert offending("feeds.retrying", "feeds", "accounts", "django", "django_q") == []


def find_circle(modules: dict[str, set[str]]) -> list[str]:
    """A path of modules that ends where it began, or [] if the imports have no circle."""

    def target(name: str) -> str | None:
        """The module a dotted name is in: the longest module it starts with."""
        candidates = [m for m in modules if within(name, m)]
        return max(candidates, key=len) if candidates else None

    # A module's own package (`from feeds.delivery import batches` inside feeds.delivery.push)
    # is not an edge: the package is there before any of its modules.
    graph = {
        module: {t for t in map(target, names) if t is not None and not within(module, t)}
        for module, names in modules.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circle.extend([*path, node, nxt])
                return True
            if nxt not in state and visit(nxt, [*path, node]):
                return True
        state[node] = 2
        return False

    for module in sorted(graph):
        if module not in state and visit(module, []):
            break
    return circle


def test_no_modules_import_each_other_in_a_circle():
    assert find_circle(imports("feeds", "accounts")) == []


def test_the_circle_finder_finds_a_circle_and_not_a_package_init():
    assert find_circle({"feeds.a": {"feeds.b.f"}, "feeds.b": {"feeds.c"}, "feeds.c": {"feeds.a"}})
    package = {"feeds.d": {"feeds.d.push"}, "feeds.d.push": {"feeds.d", "feeds.d.batches"}}
    assert find_circle({**package, "feeds.d.batches": set()}) == []
