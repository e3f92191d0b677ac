"""The hosted service's `query` and `orderBy` list parameters, turned into a Django `Q` and an
`order_by` over one resource's fields.

Grammar (the hosted service's querying page): `field op value` with op one of `=`, `!=`, `~`
(contains, strings only, case-insensitive), `>`, `<`, `>=`, `<=` (dates, timestamps, numbers);
terms joined by `&&` and `||`, `&&` binding tighter; curly braces `{…}` group. A value may be
in double or single quotes; bare, it runs to the next `&&`, `||` or `}` and is trimmed. The cost
is bounded: at most `MAX_LENGTH` characters (the hosted service's documented limit),
`MAX_TERMS` terms and `MAX_DEPTH` nested braces.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact, IContains, IsNull
from pydantic import Field as PydanticField

from accounts.models import Country
from feeds.api.errors import field_error
from feeds.models import ConnectionStatus, DeliveryState, PushStatus, TransactionType

MAX_LENGTH = 2048
MAX_TERMS = 50
MAX_DEPTH = 8

STRING, UUID, ENUM, DATE, DATETIME, NUMBER = "string", "uuid", "enum", "date", "datetime", "number"
ORDERED = {DATE, DATETIME, NUMBER}
LOOKUPS = {"=": "exact", ">": "gt", "<": "lt", ">=": "gte", "<=": "lte", "~": "icontains"}

_NAME = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*(!=|>=|<=|=|~|>|<)\s*")
_BARE = re.compile(r"(?:(?!&&|\|\|)[^}])*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?\d{1,16}(?:\.\d{1,2})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class Field:
    """One queryable field: its model column (None for a constant) and how its values parse."""

    column: str | None
    kind: str
    choices: tuple[str, ...] = ()
    key: str | None = None  # a key of the JSON object in `column` (a company's tags)


Fields = dict[str, Field]


def describe(fields: Fields) -> str:
    return ", ".join(
        f"{name} ({'one of ' + '/'.join(f.choices) if f.kind == ENUM else f.kind})"
        for name, f in fields.items()
    )


def _value(name: str, field: Field, op: str, text: str) -> Any:
    if op == "~" and field.kind != STRING:
        raise QueryError(f"{name} is a {field.kind}: '~' (contains) works on strings only.")
    if op in (">", "<", ">=", "<=") and field.kind not in ORDERED:
        raise QueryError(f"{name} is a {field.kind}: '{op}' works on dates and numbers only.")
    try:
        if field.kind == STRING:
            return text
        if field.kind == UUID:
            return uuid.UUID(text)
        if field.kind == ENUM:
            if text not in field.choices:
                raise ValueError
            return text
        if field.kind == DATE:
            if not _DATE.fullmatch(text):
                raise ValueError
            return dt.date.fromisoformat(text)
        if field.kind == DATETIME:
            if _DATE.fullmatch(text):
                text += "T00:00:00"
            value = dt.datetime.fromisoformat(text)
            return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        if not _NUMBER.fullmatch(text):
            raise ValueError
        return Decimal(text)
    except (ValueError, OverflowError):
        expected = {
            UUID: "an id",
            ENUM: "one of " + ", ".join(field.choices),
            DATE: "a date YYYY-MM-DD",
            DATETIME: "an ISO 8601 timestamp such as 2026-11-25T12:00:00Z",
            NUMBER: "a number with at most 2 decimals",
        }[field.kind]
        raise QueryError(f"{name} must be {expected}, not {text[:40]!r}.") from None


def _key_term(field: Field, op: str, value: Any) -> Q:
    text = KeyTextTransform(field.key, field.column)
    if op == "!=":  # a row without the key is not equal either
        return Q(IsNull(text, True)) | ~Q(Exact(text, value))
    return Q(IContains(text, value) if op == "~" else Exact(text, value))


def _term(name: str, field: Field, op: str, value: Any) -> Q:
    if field.key is not None:
        return _key_term(field, op, value)
    if field.column is None:  # a constant: true for every row or for none
        matches = (value == field.choices[0]) == (op == "=")
        return Q() if matches else Q(pk__in=[])
    if op == "!=":
        return ~Q(**{field.column: value})
    return Q(**{f"{field.column}__{LOOKUPS[op]}": value})


class _Parser:
    def __init__(self, text: str, fields: Fields) -> None:
        self.text, self.fields, self.pos, self.terms = text, fields, 0, 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def take(self, token: str) -> bool:
        self.skip()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def either(self, depth: int) -> Q:
        result = self.both(depth)
        while self.take("||"):
            result |= self.both(depth)
        return result

    def both(self, depth: int) -> Q:
        result = self.primary(depth)
        while self.take("&&"):
            result &= self.primary(depth)
        return result

    def primary(self, depth: int) -> Q:
        if self.take("{"):
            if depth >= MAX_DEPTH:
                raise QueryError(f"braces nest at most {MAX_DEPTH} deep.")
            result = self.either(depth + 1)
            if not self.take("}"):
                raise QueryError(f"a '{{' has no matching '}}' (at character {self.pos + 1}).")
            return result
        return self.comparison()

    def comparison(self) -> Q:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(f"at most {MAX_TERMS} terms.")
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise QueryError(
                f"expected a term such as name=value at character {self.pos + 1}: "
                f"{self.text[self.pos : self.pos + 20]!r}."
            )
        name, op = match.groups()
        field = self.fields.get(name)
        if field is None:
            raise QueryError(f"unknown field {name!r}.")
        self.pos = match.end()
        quote = self.text[self.pos : self.pos + 1]
        if quote in ("'", '"'):
            end = self.text.find(quote, self.pos + 1)
            if end < 0:
                raise QueryError(f"the value of {name} opens a {quote} that is never closed.")
            text = self.text[self.pos + 1 : end]
            self.pos = end + 1
        else:
            bare = _BARE.match(self.text, self.pos)
            text = bare.group().strip()  # type: ignore[union-attr]
            self.pos = bare.end()  # type: ignore[union-attr]
            if not text:
                raise QueryError(f"{name}{op} needs a value.")
        return _term(name, field, op, _value(name, field, op, text))


def parse(text: str, fields: Fields) -> Q:
    """The `Q` a query string means over `fields`; QueryError says what is wrong."""
    if len(text) > MAX_LENGTH:
        raise QueryError(f"at most {MAX_LENGTH} characters.")
    if _CONTROL.search(text):
        raise QueryError("contains a control character (such as NUL).")
    parser = _Parser(text, fields)
    result = parser.either(0)
    parser.skip()
    if parser.pos != len(text):
        raise QueryError(
            f"unexpected {text[parser.pos : parser.pos + 20]!r} at character {parser.pos + 1}."
        )
    return result


def ordering(text: str, fields: Fields) -> list[Any]:
    """The `order_by` arguments for `orderBy` (one field, `-` for descending), nulls last and
    the primary key as a tiebreak so that pages are stable."""
    name = text.strip()
    descending = name.startswith("-")
    name = name.removeprefix("-")
    field = fields.get(name)
    if field is None or field.column is None:
        raise QueryError(f"cannot order by {name[:40]!r}.")
    column = F(field.column)
    if descending:
        return [column.desc(nulls_last=True), "-pk"]
    return [column.asc(nulls_last=True), "pk"]


def apply(rows: QuerySet, fields: Fields, query: str | None, order_by: str | None) -> QuerySet:
    """`rows` filtered by `query` and ordered by `orderBy` (else left in their default order);
    either one invalid is a 400 naming it."""
    allowed = f" Fields: {describe(fields)}."
    if query:
        try:
            rows = rows.filter(parse(query, fields))
        except QueryError as exc:
            raise field_error(400, "query", "query", f"query: {exc}{allowed}") from None
    if order_by:
        try:
            rows = rows.order_by(*ordering(order_by, fields))
        except QueryError as exc:
            raise field_error(
                400,
                "orderBy",
                "orderBy",
                f"orderBy: {exc} Use a field, '-' first for descending.{allowed}",
            ) from None
    return rows


class _Tags(dict):
    """Every name is a tag key, compared as a string (`=`, `!=`, `~`)."""

    def get(self, name: str, default: Any = None) -> Field:  # type: ignore[override]
        return Field("tags", STRING, key=name)


def apply_tags(rows: QuerySet, text: str | None) -> QuerySet:
    """Companies filtered by the hosted service's `tags` parameter (`region=uk && team~fin`);
    invalid, a 400 naming `tags`."""
    if not text:
        return rows
    try:
        return rows.filter(parse(text, _Tags()))
    except QueryError as exc:
        raise field_error(
            400,
            "tags",
            "tags",
            f"tags: {exc} Use key=value, key!=value or key~value, joined by && and ||.",
        ) from None


def tags_param() -> Any:
    return PydanticField(
        None,
        max_length=MAX_LENGTH,
        description="Filter by tags: `key=value`, `key!=value` (also true without the key), "
        "`key~value` (contains, case-insensitive), joined by `&&` and `||`, grouped with `{…}`.",
    )


def query_param(fields: Fields) -> Any:
    return PydanticField(
        None,
        max_length=MAX_LENGTH,
        description=(
            "Filter, in the hosted service's query language: `field=value`, `field!=value`, "
            "`field~value` (contains, strings, case-insensitive), `>`, `<`, `>=`, `<=` (dates "
            "YYYY-MM-DD, ISO 8601 timestamps, numbers), joined by `&&` (binds tighter) and `||`, "
            "grouped with `{…}`; values may be quoted with `\"` or `'`. At most "
            f"{MAX_TERMS} terms. Fields: {describe(fields)}."
        ),
    )


def order_param(fields: Fields) -> Any:
    return PydanticField(
        None,
        max_length=100,
        description=(
            "Order by one field, `-` first for descending (ties in id order). Fields: "
            + ", ".join(name for name, f in fields.items() if f.column)
            + "."
        ),
    )


# The fields of each list, named as in its JSON form (`feeds/api/common.py`). ----------------

COMPANY_FIELDS: Fields = {
    "id": Field("id", UUID),
    "name": Field("name", STRING),
    "description": Field("description", STRING),
    "country": Field("country", ENUM, tuple(Country.values)),
    "created": Field("created", DATETIME),
}
CONNECTION_FIELDS: Fields = {
    "id": Field("id", UUID),
    "platformKey": Field("platform_key", STRING),
    "status": Field("status", ENUM, tuple(ConnectionStatus.values)),
    "created": Field("created", DATETIME),
}
PUSH_FIELDS: Fields = {
    "pushOperationKey": Field("key", UUID),
    "dataConnectionKey": Field("connection_id", UUID),
    "accountId": Field("account_id", STRING),
    "dataType": Field(None, ENUM, ("bankTransactions",)),
    "status": Field("status", ENUM, tuple(PushStatus.values)),
    "requestedOnUtc": Field("requested_on_utc", DATETIME),
    "completedOnUtc": Field("completed_on_utc", DATETIME),
    "errorMessage": Field("error_message", STRING),
}
TRANSACTION_FIELDS: Fields = {
    "id": Field("transaction_id", STRING),
    "date": Field("date", DATE),
    "clearedOnDate": Field("cleared_on_date", DATE),
    "amount": Field("amount", NUMBER),
    "description": Field("description", STRING),
    "transactionType": Field("transaction_type", ENUM, tuple(TransactionType.values)),
    "balance": Field("balance", NUMBER),
    "createdOnUtc": Field("created", DATETIME),
    "pushOperationKey": Field("push_operation_id", UUID),
    "deliveryState": Field("delivery_state", ENUM, tuple(DeliveryState.values)),
    "deliveredOnUtc": Field("delivered", DATETIME),
}
