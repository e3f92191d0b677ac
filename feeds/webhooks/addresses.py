"""Where a webhook may go, so that webhooks cannot be turned against the deployment's own
network: an `https` URL (plain `http` only with WEBHOOK_ALLOW_HTTP), whose host resolves only to
public addresses (loopback, private, link-local, shared and reserved ranges only with
WEBHOOK_ALLOW_PRIVATE_ADDRESSES).

Checked when an endpoint is saved (`url_problem`) and again for every connection a delivery
opens (`session`): the address checked is the address connected to, so a name that resolves
elsewhere by the time of sending (DNS rebinding) is caught too."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

MAX_URL_LENGTH = 2000


def address_allowed(address: str) -> bool:
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (raises OSError when it does not)."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def url_problem(url: Any) -> str | None:
    """What is wrong with `url` as a webhook endpoint, in the user's language; None if nothing.
    A name that does not resolve yet is accepted (sending retries it)."""
    if not isinstance(url, str) or not url.strip():
        return _("url is required.")
    if not storable(url):
        return _("url is not a valid URL.")
    if len(url) > MAX_URL_LENGTH:
        return _("url is longer than %(max)s characters.") % {"max": MAX_URL_LENGTH}
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return _("url is not a valid URL.")
    schemes = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in schemes:
        return _("url must start with https://.")
    if not parts.hostname or any(c.isspace() or ord(c) < 32 for c in url):
        return _("url is not a valid URL.")
    if parts.username is not None or parts.password is not None:
        return _("url must not carry a user name or password.")
    if parts.fragment:
        return _("url must not have a fragment (#…).")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            return None
    if not all(address_allowed(a) for a in addresses):
        return _(
            "url points to a loopback, private or link-local address; webhooks go to public "
            "addresses only."
        )
    return None


def storable(text: str) -> bool:
    """Text a database can store (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


class AddressRefused(NewConnectionError):
    """The host resolved to an address webhooks may not go to."""


class _Guarded:
    """A connection that checks every address its host resolves to before connecting, then
    connects to the address it checked."""

    _dns_host: str
    port: int
    host: str

    def _new_conn(self) -> socket.socket:
        try:
            addresses = resolve(self._dns_host, self.port)
        except OSError:
            return super()._new_conn()  # type: ignore[misc]  # urllib3 reports it as it does
        refused = [a for a in addresses if not address_allowed(a)]
        if refused:
            raise AddressRefused(
                self,  # type: ignore[arg-type]
                f"{self.host} resolves to {', '.join(refused)}: webhooks go to public addresses "
                "only (WEBHOOK_ALLOW_PRIVATE_ADDRESSES is off)",
            )
        original = self._dns_host
        self._dns_host = addresses[0]
        try:
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = original


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }


def session() -> requests.Session:
    """A session for sending webhooks: no proxies or .netrc from the environment, and (unless
    private addresses are allowed) every connection checked."""
    sending = requests.Session()
    sending.trust_env = False
    adapter = HTTPAdapter() if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES else _GuardedAdapter()
    sending.mount("http://", adapter)
    sending.mount("https://", adapter)
    return sending


def refused(exc: BaseException) -> str | None:
    """The reason, when a request failed because its address was refused."""
    seen: BaseException | None = exc
    for _depth in range(6):
        if seen is None:
            return None
        if isinstance(seen, AddressRefused):
            return str(seen).split(": ", 1)[-1]
        nested = getattr(seen, "reason", None)
        if nested is None and seen.args and isinstance(seen.args[0], BaseException):
            nested = seen.args[0]
        seen = nested or seen.__context__
    return None
