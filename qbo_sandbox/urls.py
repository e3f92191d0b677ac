from django.urls import path
from django.views.generic import RedirectView

from qbo_sandbox import receiver, views

app_name = "qbo_sandbox"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="qbo_sandbox:dashboard"), name="home"),
    path("dashboard", views.dashboard, name="dashboard"),
    path("chart-of-accounts", views.chart_of_accounts, name="chart"),
    path("banking", views.bank_transactions, name="banking"),
    path("banking/link", views.link_search, name="link"),
    path("banking/link/terms", views.link_terms, name="link-terms"),
    path("banking/link/sign-in", views.link_sign_in, name="link-sign-in"),
    path("banking/link/accounts", views.link_accounts, name="link-accounts"),
    path("banking/link/cancel", views.link_cancel, name="link-cancel"),
    path("banking/updates", views.updates, name="updates"),
    path("banking/<int:pk>/update", views.feed_update, name="feed-update"),
    path("banking/<int:pk>/edit", views.feed_edit, name="feed-edit"),
    path("faults", views.faults, name="faults"),
    path(
        "api/v1/feeds/<str:feed_id>/transactions",
        receiver.receive_transactions,
        name="receive-transactions",
    ),
]
