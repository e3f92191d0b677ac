from django.urls import path

from feeds.link import views

app_name = "link"
urlpatterns = [
    path("start", views.start, name="start"),
    path("company", views.company_start, name="company"),
    path("", views.connect, name="connect"),
    path("location", views.country, name="country"),
    path("accounts", views.choose, name="choose"),
    path("setup", views.setup, name="setup"),
    path("credentials", views.credentials_page, name="credentials"),
    path("revoke", views.revoke, name="revoke"),
    path("done", views.done, name="done"),
    path("leave", views.leave, name="leave"),
    path("status", views.status, name="status"),
    path("language", views.language, name="language"),
    path("problem/<slug:kind>", views.problem_page, name="problem"),
]
