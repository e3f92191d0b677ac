"""Public views of the accounts app: the operator's logo."""

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.http import http_date
from django.views.decorators.http import condition, require_GET

from accounts.models import OrganizationSettings


def _logo_etag(request: HttpRequest) -> str | None:
    updated = OrganizationSettings.current().logo_updated
    return f'"{updated.timestamp():.6f}"' if updated else None


@require_GET
@condition(etag_func=_logo_etag)
def logo(request: HttpRequest) -> HttpResponse:
    org = OrganizationSettings.current(logo=True)
    if not org.logo_content_type:
        raise Http404("No logo")
    response = HttpResponse(bytes(org.logo), content_type=org.logo_content_type)
    response["Cache-Control"] = "public, max-age=300"
    if org.logo_updated:
        response["Last-Modified"] = http_date(org.logo_updated.timestamp())
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    """For a load balancer's health check (and the Link page benchmark's baseline): the process
    answers, nothing else is looked at."""
    response = HttpResponse("ok\n", content_type="text/plain")
    response["Cache-Control"] = "no-store"
    return response
