"""One error shape for every API response that is not a success (`product.md` §9):
`{statusCode, error, correlationId, validation: {errors, warnings}}`."""

from __future__ import annotations

import uuid
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
