from django.urls import path, re_path

from feeds.qbo_api import views

app_name = "qbo"
urlpatterns = [
    path("openapi.json", views.openapi_json, name="openapi"),
    path("institution", views.institution, name="institution"),
    path("credentials/verify", views.verify, name="verify"),
    path("feeds", views.link_feeds, name="feeds"),
    path("feeds/<str:feed_id>/refresh", views.refresh, name="refresh"),
    path("feeds/<str:feed_id>/disconnect", views.disconnect, name="disconnect"),
    # Anything else under /qbo/v1/ answers the protocol's JSON 404, not a page.
    re_path(r"^(?P<rest>.*)$", views.not_found),
]
