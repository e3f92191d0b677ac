"""Who is calling the IDX API: `X-Partner-Key: base64(key)` (a key of the `IDX_PARTNER_KEYS`
setting or one made in admin), then `Authorization: Basic base64(username:password)` with the
credentials the SMB got on the Link page, checked by `feeds.credentials.authenticate_pull` (the
rule the push protocol's verify uses: one slow hash whatever the username, the lockout).

Every refusal is the same `Refused`; a call refused for its partner key or its header still
spends one password check, so that the time does not tell which part was wrong. Requests are
counted per partner key before any credentials are checked (`RateLimited` beyond the rate);
calls with no known partner key share one count."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import PartnerKey
from feeds import credentials, ratelimits
from feeds.models import CredentialSet

logger = logging.getLogger("linksite.idx")

QBO = Actor.qbo()
# last_used of an admin key is a hint for operators; one write every few minutes is plenty.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


class Refused(Exception):
    """401: something about the call's credentials is wrong. Never says what."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _b64(value: str) -> str | None:
    try:
        return base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def partner_key(request: HttpRequest) -> str | None:
    """Which partner key the call carries ("setting:<n>" or "admin:<pk>"), or None."""
    key = _b64(request.headers.get("X-Partner-Key", ""))
    if not key:
        return None
    found = PartnerKey.identify(key, settings.IDX_PARTNER_KEYS)
    if found and found.startswith("admin:"):
        now = timezone.now()
        PartnerKey.objects.filter(
            Q(last_used__isnull=True) | Q(last_used__lt=now - LAST_USED_RESOLUTION),
            pk=int(found.removeprefix("admin:")),
        ).update(last_used=now)
    return found


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    decoded = _b64(value)
    if decoded is None:
        return None
    if "\x00" in decoded:
        return None
    username, colon, password = decoded.partition(":")
    if not colon or not username or not password:
        return None
    return username[:100], password[:100]


def count_request(request: HttpRequest, key_id: str) -> None:
    """One more request for this partner key; RateLimited beyond IDX_RATE_LIMIT_PER_MINUTE
    (`feeds.ratelimits`: shared by every process when the cache is Redis, per process
    otherwise)."""
    try:
        ratelimits.check(request, "idx", key_id, f"{settings.IDX_RATE_LIMIT_PER_MINUTE}/m")
    except ratelimits.RateLimited as exc:
        raise RateLimited(exc.retry_after) from None


def authenticate(request: HttpRequest) -> CredentialSet:
    """The credential set the call pulls with, or Refused / RateLimited."""
    key_id = partner_key(request)
    pair = basic_credentials(request)
    if key_id is None or pair is None:
        # Calls without a known partner key share one count, so that they cannot make linksite
        # spend a slow hash on each of any number of them.
        count_request(request, "unknown")
        credentials.check_nothing(pair[1] if pair else "")
        # Nothing is stored for a call that names no known partner key: a log line, no key.
        logger.info("IDX call refused: partner key or Authorization header not accepted")
        raise Refused
    count_request(request, key_id)
    try:
        credential_set = credentials.authenticate_pull(*pair, actor=QBO)
    except credentials.CredentialError as exc:
        logger.info("IDX call refused: credentials not accepted (%s)", exc.reason)
        raise Refused from None
    return credential_set
