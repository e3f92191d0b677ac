"""API keys in the Authorization header: `Bearer <key>`, or `Basic <base64 of the key>` as the
hosted service's clients send it (`key:` and `:key` are accepted too). A missing, malformed,
unknown or revoked key all get the same 401."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.security.http import HttpAuthBase

from accounts.models import ApiKey
from feeds import ratelimits
from feeds.api.errors import ApiError

# last_used is a hint for operators; one write per key every few minutes is plenty.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


def _authenticate(request: HttpRequest, key: str) -> ApiKey | None:
    key = key.strip()
    if not key:
        return None
    api_key = ApiKey.authenticate(key)
    if api_key is not None:
        try:
            ratelimits.check(request, "api", str(api_key.client_id), settings.RATE_LIMIT_API)
        except ratelimits.RateLimited as exc:
            raise ApiError(
                429,
                f"Too many requests for this API client; retry after {exc.retry_after} seconds.",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None
        now = timezone.now()
        if api_key.last_used is None or api_key.last_used < now - LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used=now)
    return api_key


def _scheme(request: HttpRequest, name: str) -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != name:
        return None
    return credentials


class BearerKey(HttpAuthBase):
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> ApiKey | None:
        credentials = _scheme(request, "bearer")
        return None if credentials is None else _authenticate(request, credentials)


class BasicKey(HttpAuthBase):
    openapi_scheme = "basic"

    def __call__(self, request: HttpRequest) -> ApiKey | None:
        credentials = _scheme(request, "basic")
        if credentials is None:
            return None
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        user, colon, password = decoded.partition(":")
        if not colon:
            return _authenticate(request, decoded)
        if user and password:
            return None
        return _authenticate(request, user or password)
