from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from accounts import views as accounts_views
from feeds.api import api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("link/", include("feeds.link.urls")),
    path("qbo/v1/", include("feeds.qbo_api.urls")),
    # The IDX API QBO pulls from (pull mode; 404 in push mode), at the hosted service's path.
    path("partners/intuit/idx/", include("feeds.idx.urls")),
    path("branding/logo", accounts_views.logo, name="org-logo"),
    path("healthz", accounts_views.healthz, name="healthz"),
]

if settings.QBO_SANDBOX_ENABLED:
    # The QBO emulator (product.md §7): same process for the demo, but it talks to linksite only
    # over HTTP, through the wire protocol.
    urlpatterns.append(path("qbo-sandbox/", include("qbo_sandbox.urls")))
