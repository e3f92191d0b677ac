"""One error shape for every API response that is not a success (`product.md` §9), the hosted
service's: `{statusCode, service, error, correlationId, validation: {errors, warnings},
canBeRetried, detailedErrorCode}`.

`canBeRetried` is a string, as there: `"True"` for a transient failure (408, 429, 500, 502, 503,
504) that the same request may get past later, `"False"` for anything the request itself must
change. `detailedErrorCode` is the HTTP status times 100 (`40400` for a 404): room for finer
codes under each status later, none defined yet."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse

from feeds.writes import Problem

HEADER = "X-Correlation-Id"
SERVICE = "LinksiteApi"
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


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


def detailed_code(status: int) -> int:
    return status * 100


def body(
    request: HttpRequest,
    status: int,
    message: str,
    errors: list[Problem] | None = None,
    service: str = SERVICE,
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "service": service,
        "error": message,
        "correlationId": correlation_id(request),
        "validation": {"errors": [p.as_json() for p in errors or []], "warnings": []},
        "canBeRetried": "True" if status in RETRYABLE else "False",
        "detailedErrorCode": detailed_code(status),
    }


def response(
    request: HttpRequest,
    status: int,
    message: str,
    errors: list[Problem] | None = None,
    headers: dict[str, str] | None = None,
    service: str = SERVICE,
) -> JsonResponse:
    result = JsonResponse(body(request, status, message, errors, service), status=status)
    for name, value in (headers or {}).items():
        result[name] = value
    return result


def from_api_error(request: HttpRequest, exc: ApiError) -> JsonResponse:
    return response(request, exc.status, exc.message, exc.errors, exc.headers)
