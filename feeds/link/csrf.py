"""CSRF for pages served with `Referrer-Policy: no-referrer`.

Under that policy browsers send no `Referer` and `Origin: null` with a form POST, and Django's
CSRF middleware refuses both (the Origin does not match; over HTTPS it also wants a Referer). On
the Link pages the token check alone decides: the form field must match the CSRF cookie, which is
`Secure`, `HttpOnly` and `SameSite=Lax`, and HSTS keeps it from being planted over plain HTTP.

Django's middleware stays in `MIDDLEWARE` for every other page; the Link views are exempted from
it and wrapped in `csrf_protect_no_referrer`, which runs the same checks but this one."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import decorator_from_middleware
from django.views.decorators.csrf import csrf_exempt


class NoReferrerCsrfMiddleware(CsrfViewMiddleware):
    def process_view(self, request: HttpRequest, callback, callback_args, callback_kwargs):
        if request.META.get("HTTP_ORIGIN") == "null":
            del request.META["HTTP_ORIGIN"]
            request._csrf_no_referrer = True  # type: ignore[attr-defined]
        return super().process_view(request, callback, callback_args, callback_kwargs)

    def _check_referer(self, request: HttpRequest) -> None:
        if getattr(request, "_csrf_no_referrer", False) and "HTTP_REFERER" not in request.META:
            return
        super()._check_referer(request)


_protect = decorator_from_middleware(NoReferrerCsrfMiddleware)


def csrf_protect_no_referrer(view: Callable) -> Callable:
    protected = _protect(view)

    @wraps(view)
    def wrapper(*args, **kwargs):
        return protected(*args, **kwargs)

    return csrf_exempt(wrapper)
