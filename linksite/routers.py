"""The QBO sandbox's tables in a database of their own, when QBO_SANDBOX_DATABASE_URL gives one.

The sandbox stands in for QBO, a separate system with its own storage: sharing linksite's SQLite
file made its writes wait on linksite's write lock (and linksite's on its), which QBO never does.
The sandbox has no relation to linksite's tables, so nothing crosses the two databases."""

from __future__ import annotations

from typing import Any

SANDBOX_APP = "qbo_sandbox"
SANDBOX_DATABASE = "qbo_sandbox"


class SandboxRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return SANDBOX_DATABASE if model._meta.app_label == SANDBOX_APP else None

    db_for_write = db_for_read

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return (app_label == SANDBOX_APP) == (db == SANDBOX_DATABASE)
