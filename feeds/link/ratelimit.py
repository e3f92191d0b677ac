"""The Link pages' rate limit: RATE_LIMIT_LINK requests per client address (`feeds.ratelimits`);
beyond it the "Too many requests" page, in the user's language, with `Retry-After`."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from feeds import ratelimits
from feeds.link import views

PREFIX = "/link/"


class LinkRateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(PREFIX) and not request.path.startswith(PREFIX + "problem/"):
            address = ratelimits.client_address(request)
            try:
                ratelimits.check(request, "link", address, settings.RATE_LIMIT_LINK)
            except ratelimits.RateLimited as exc:
                response = views.problem(request, "busy", 429)
                response["Retry-After"] = str(exc.retry_after)
                return response
        return self.get_response(request)
