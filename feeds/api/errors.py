"""One error shape for every API response that is not a success (`product.md` §9):
`{statusCode, error, correlationId, validation: {errors, warnings}}`."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, JsonResponse

from feeds.writes import Problem

HEADER = "X-Correlation-Id"


class ApiError(Exception):
    """Raise anywhere in an API view to answer with the error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Problem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}


def field_error(status: int, item: str, validator: str, message: str) -> ApiError:
    return ApiError(status, message, [Problem(item, message, validator)])


def correlation_id(request: HttpRequest) -> str:
    value = getattr(request, "correlation_id", None)
    if value is None:
        value = request.correlation_id = uuid.uuid4().hex  # type: ignore[attr-defined]
    return value


def body(
    request: HttpRequest,
    status: int,
    message: str,
    errors: list[Problem] | None = None,
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "error": message,
        "correlationId": correlation_id(request),
        "validation": {"errors": [p.as_json() for p in errors or []], "warnings": []},
    }


def response(
    request: HttpRequest,
    status: int,
    message: str,
    errors: list[Problem] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    result = JsonResponse(body(request, status, message, errors), status=status)
    for name, value in (headers or {}).items():
        result[name] = value
    return result


def from_api_error(request: HttpRequest, exc: ApiError) -> JsonResponse:
    return response(request, exc.status, exc.message, exc.errors, exc.headers)


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
