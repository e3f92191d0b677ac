"""Updates that send back the whole object a client read (as the hosted service's SDK does): a
field the update cannot change is fine when it equals the stored value, and a 400 naming it when
it differs. Fields the object does not have are ignored, like every request body's unknown
fields; computed fields that change on every read (a fresh `linkUrl` or `redirect`) are never
compared."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import TypeAdapter

from feeds.api.errors import ApiError, field_error

_JSON = TypeAdapter(Any)


def _as_json(current: dict[str, Any]) -> dict[str, Any]:
    return _JSON.dump_python(current, mode="json")


def _moment(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def same(sent: Any, stored: Any) -> bool:
    """Whether `sent` says the same as the stored JSON value, whatever its spelling: a number as
    a string or with other trailing zeros, a timestamp in another offset or precision, a date
    sent as a midnight timestamp, null for an empty value."""
    if sent in (None, "") and stored in (None, ""):
        return True
    if isinstance(stored, bool) or isinstance(sent, bool):
        return sent is stored
    if isinstance(stored, (int, float)) and isinstance(sent, (int, float, str)):
        try:
            return Decimal(str(sent)) == Decimal(str(stored))
        except InvalidOperation:
            return False
    if isinstance(stored, str) and isinstance(sent, str):
        if sent == stored:
            return True
        if len(stored) == 10 and stored[4] == "-":  # a date: a timestamp of that day too
            return sent[:10] == stored and _moment(sent) is not None
        stored_at, sent_at = _moment(stored), _moment(sent)
        if stored_at is not None and sent_at is not None and len(stored) > 10:
            return abs(stored_at - sent_at) < dt.timedelta(milliseconds=1)
        return False
    return sent == stored


def refuse_changed(
    raw: Any, current: dict[str, Any], *, writable: set[str], computed: set[str] = frozenset()
) -> None:
    """Raise a 400 naming the first field of `raw` outside `writable` that differs from
    `current` (the object's JSON form as a read returns it)."""
    if not isinstance(raw, dict):
        raise ApiError(400, "The body must be a JSON object.")
    stored = _as_json(current)
    for name, value in raw.items():
        if name in writable or name in computed or name not in stored:
            continue
        if not same(value, stored[name]):
            raise field_error(
                400,
                name,
                "readOnly",
                f"{name} cannot be changed by this update (it is {stored[name]!r}); send it "
                "unchanged or leave it out.",
            )
