"""Response headers every page gets."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# Scripts and styles come only from our own static files: no inline script anywhere. The Django
# admin and the API docs page (Swagger UI) still use inline `style` attributes, so only their
# pages allow inline styles.
_BASE = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
CSP = _BASE + "; style-src 'self'"
CSP_ADMIN = _BASE + "; style-src 'self' 'unsafe-inline'"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            admin = request.path.startswith(("/admin/", "/api/v1/docs"))
            response["Content-Security-Policy"] = CSP_ADMIN if admin else CSP
        if request.path.startswith("/link/"):
            # Link pages carry one-time secrets: never cached, never leaked through a Referer.
            response["Cache-Control"] = "no-store"
            response["Referrer-Policy"] = "no-referrer"
        return response
