from django.urls import path, re_path

from feeds.idx import views

app_name = "idx"
urlpatterns = [
    path("openapi.json", views.openapi_json, name="openapi"),
    path("accounts", views.accounts, name="accounts"),
    path("accounts/<str:account_id>/transactions", views.transactions, name="transactions"),
    re_path(r"^(?P<rest>.*)$", views.not_found, name="not-found"),
]
