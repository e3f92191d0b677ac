"""Reading a request's JSON body: decimals kept exact, no NaN or unpaired surrogates, and a 400 in
the API's error shape that says what is wrong."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from django.http import HttpRequest

from feeds.api.errors import field_error

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def load_json(raw: bytes) -> Any:
    """Parse a body with decimals kept exact. Refuses NaN/Infinity and text that is not valid
    Unicode (an unpaired surrogate escape such as \\ud800), which no database can store."""

    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    value = json.loads(raw, parse_float=Decimal, parse_constant=reject)
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("it contains an unpaired surrogate (\\ud800-\\udfff)") from None
    return value


def describe_json_error(exc: BaseException | None) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
    if isinstance(exc, UnicodeDecodeError):
        return "The body is not valid JSON: it is not UTF-8 text."
    if isinstance(exc, ValueError) and str(exc):
        return f"The body is not valid JSON: {exc}."
    return "The body is not valid JSON."


def json_object(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object (decimals kept exact), or a 400 saying what is wrong."""
    value = json_value(request)
    if not isinstance(value, dict):
        raise field_error(
            400,
            "body",
            "jsonObject",
            f"The body must be a JSON object, not {_json_type(value)}.",
        )
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def json_value(request: HttpRequest) -> Any:
    if not request.body:
        raise field_error(400, "body", "jsonObject", "The body is empty; send a JSON object.")
    try:
        value = load_json(request.body)
    except (ValueError, RecursionError) as exc:
        raise field_error(400, "body", "json", describe_json_error(exc)) from None
    return value
