"""What every `/api/` request goes through before and after its view: a correlation id, the body
size and content-type checks, English messages, and the error shape for anything Django itself
answers (unknown path, wrong method, a crash) instead of an HTML page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from feeds.api import errors

logger = logging.getLogger("linksite.api")

PREFIX = "/api/"
BODY_METHODS = {"POST", "PUT", "PATCH"}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and "+json" in media)


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(PREFIX):
            return self.get_response(request)
        cid = errors.correlation_id(request)
        with translation.override("en-ca"):
            response = self.check(request) or self.get_response(request)
            if response.status_code >= 400 and not response.get("Content-Type", "").startswith(
                "application/json"
            ):
                response = self.as_json(request, response)
        response[errors.HEADER] = cid
        response["Cache-Control"] = "no-store"
        return response

    def check(self, request: HttpRequest) -> HttpResponse | None:
        if "\x00" in request.path:
            return errors.response(request, 404, "No id contains the NUL character.")
        if request.method not in BODY_METHODS:
            return None
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            return errors.response(request, 400, "Content-Length is not a number.")
        limit = settings.API_MAX_BODY_BYTES
        if length > limit:
            return errors.response(
                request,
                413,
                f"The body is {length} bytes; the limit is {limit} bytes "
                "(1000 transactions fit with room to spare).",
            )
        content_type = request.headers.get("Content-Type", "")
        if length and not _is_json(content_type):
            return errors.response(
                request,
                415,
                f"Send the body as application/json (Content-Type was {content_type!r}).",
            )
        return None

    def as_json(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        status = response.status_code
        if status == 404:
            message = f"No API endpoint at {request.path}; see /api/v1/docs."
        elif status == 405:
            message = (
                f"{request.method} is not allowed on {request.path}; "
                f"allowed: {response.get('Allow', '')}."
            )
        else:
            message = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        converted = errors.response(request, status, message)
        if "Allow" in response:
            converted["Allow"] = response["Allow"]
        return converted

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(PREFIX):
            return None
        logger.exception(
            "API error %s on %s %s", errors.correlation_id(request), request.method, request.path
        )
        return errors.response(
            request,
            500,
            "Something went wrong on our side. Quote the correlationId to support if it "
            "happens again.",
        )
