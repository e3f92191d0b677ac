"""Signed Link URLs: bound to one connection, valid for one hour, revocable.

A token signs the connection id and its `link_generation`; raising the generation revokes every
token issued before. Nothing is stored per token, so every read of a connection can hand out a
fresh URL.

A company's `redirect` is the company-level entry (as the hosted service has one): signed with the
company id, valid for one hour, it leads to the company's current QBO connection (one is opened
if it has none) and from there to that connection's Link URL."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core import signing

from accounts.models import Company
from feeds.models import Connection

SALT = "linksite.link-url"
COMPANY_SALT = "linksite.company-link-url"
MAX_AGE_SECONDS = 3600
START_PATH = "/link/start"
COMPANY_PATH = "/link/company"


class LinkTokenError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "expired", "invalid" or "revoked"


def make_token(connection: Connection) -> str:
    return signing.dumps({"c": str(connection.pk), "g": connection.link_generation}, salt=SALT)


def link_url(connection: Connection) -> str:
    return f"{settings.SITE_URL}{START_PATH}?{urlencode({'token': make_token(connection)})}"


def _load(token: str, salt: str) -> dict:
    try:
        payload = signing.loads(token, salt=salt, max_age=MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise LinkTokenError("expired") from None
    except signing.BadSignature:
        raise LinkTokenError("invalid") from None
    if not isinstance(payload, dict):
        raise LinkTokenError("invalid")
    return payload


def read_token(token: str) -> Connection:
    """The connection a token is for, or LinkTokenError saying why it cannot be used."""
    payload = _load(token, SALT)
    connection = Connection.objects.select_related("company").filter(pk=payload.get("c")).first()
    if connection is None or connection.link_generation != payload.get("g"):
        raise LinkTokenError("revoked")
    return connection


def company_url(company: Company) -> str:
    token = signing.dumps({"co": str(company.pk)}, salt=COMPANY_SALT)
    return f"{settings.SITE_URL}{COMPANY_PATH}?{urlencode({'token': token})}"


def read_company_token(token: str) -> Company:
    """The company a company-level token is for, or LinkTokenError ("revoked" once the company
    is deleted)."""
    payload = _load(token, COMPANY_SALT)
    company = Company.objects.filter(pk=payload.get("co")).first()
    if company is None:
        raise LinkTokenError("revoked")
    return company
