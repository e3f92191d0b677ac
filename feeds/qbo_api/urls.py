from django.urls import path

from feeds.qbo_api import views

app_name = "qbo"
urlpatterns = [
    path("institution", views.institution, name="institution"),
    path("credentials/verify", views.verify, name="verify"),
    path("feeds", views.link_feeds, name="feeds"),
    path("feeds/<str:feed_id>/refresh", views.refresh, name="refresh"),
    path("feeds/<str:feed_id>/disconnect", views.disconnect, name="disconnect"),
]
