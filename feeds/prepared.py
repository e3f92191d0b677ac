"""Reads compiled to SQL once per process, then run with fresh parameters.

For the few reads every Link request and status poll makes, compiling the ORM query costs many
times running it (the accounts of a connection, on SQLite: 0.9 ms to compile, 0.04 ms to run). A
`Prepared` read is still built by the ORM, from the models' own rules (`Feed.ACTIVE` and the
like stay where they are): `build(*sentinels)` makes the queryset with a sentinel standing for
each parameter, the sentinels are found again among the compiled SQL's parameters, and every run
puts the real values in their place. Rows come back through the same converters the ORM applies
(decimals, datetimes, booleans), as tuples in `values_list` order (annotations last)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, QuerySet


@cache
def columns(model: type) -> list[str]:
    """The model's columns in `Model.from_db` order, read once the models are loaded (not at
    import): `values_list(*columns(M))` reads what `M.from_db("default", columns(M), row)` takes."""
    return [f.attname for f in model._meta.concrete_fields]


class Prepared:
    def __init__(
        self, build: Callable[..., QuerySet], *parameters: tuple[Field, Any], using: str = "default"
    ) -> None:
        """`parameters`: (the model field a parameter is compared with, a sentinel value of
        that field's type found nowhere else in the query)."""
        self.build = build
        self.parameters = parameters
        self.using = using
        self._compiled: dict[str, Any] | None = None

    def _compile(self) -> dict[str, Any]:
        connection = connections[self.using]
        queryset = self.build(*(sentinel for _field, sentinel in self.parameters))
        compiler = queryset.query.get_compiler(using=self.using)
        sql, params = compiler.as_sql()
        slots = []
        for field, sentinel in self.parameters:
            prepared = field.get_db_prep_value(sentinel, connection, prepared=False)
            found = [i for i, value in enumerate(params) if value == prepared]
            if not found:  # pragma: no cover - a wrong sentinel is a programming error
                raise ValueError(f"sentinel {sentinel!r} is not among the query's parameters")
            slots.append((field, found))
        expressions = [column[0] for column in compiler.select]
        return {
            "sql": sql,
            "params": list(params),
            "slots": slots,
            "converters": compiler.get_converters(expressions),
        }

    def rows(self, *values: Any) -> list[tuple]:
        """The rows for these parameter values."""
        if self._compiled is None:
            self._compiled = self._compile()
        compiled = self._compiled
        connection = connections[self.using]
        params = list(compiled["params"])
        for (field, positions), value in zip(compiled["slots"], values, strict=True):
            prepared = field.get_db_prep_value(value, connection, prepared=False)
            for position in positions:
                params[position] = prepared
        rows = _fetch(connection, compiled["sql"], params)
        converters = compiled["converters"]
        if not converters:
            return rows
        converted = []
        for row in rows:
            row = list(row)
            for position, (functions, expression) in converters.items():
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
            converted.append(tuple(row))
        return converted


def _fetch(connection: BaseDatabaseWrapper, sql: str, params: list) -> list[tuple]:
    """The statement's rows. Where Django would first check a reused connection with a round
    trip of its own (`CONN_HEALTH_CHECKS`, at a request's first statement), the read is the
    check: if it fails on a connection broken since its last use (a restarted database, a
    dropped socket), the connection is closed and the read, which changes nothing, runs once
    more on a new one. The request gets its answer either way, one round trip sooner."""
    own_check = (
        connection.connection is not None
        and connection.health_check_enabled
        and not connection.health_check_done
        and not connection.in_atomic_block
    )
    if own_check:
        connection.health_check_done = True
    try:
        with _cursor(connection) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    except (OperationalError, InterfaceError):
        if not own_check:
            raise
        connection.close()
    with _cursor(connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _cursor(connection: BaseDatabaseWrapper):
    """A cursor for a prepared read. On PostgreSQL with prepared statements switched on (the
    connection's `prepare_threshold`, `DATABASE_PREPARED_READS`), one that binds parameters on
    the server, so that psycopg prepares the statement on each connection after a few runs and
    PostgreSQL stops planning it anew; Django's own cursor (client-side binding) otherwise."""
    if (
        connection.vendor != "postgresql"
        or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None
    ):
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = ServerBindingCursor(connection.connection)
    # Django's wrappers, so that its error translation and query logging see these reads too.
    with connection.wrap_database_errors:
        if connection.queries_logged:
            return connection.make_debug_cursor(raw)
        return connection.make_cursor(raw)
