"""The operator's dashboard (issue 19): each figure against a world whose answers are known
(`tests.dashboard_data`), each attention count against the admin list it links to, the page's
query count against the size of the data, and the drill-down of a company."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from feeds import dashboard, maintenance
from feeds.models import DeliveryDay
from tests import dashboard_data as data
from tests.dashboard_data import EXPECTED, NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    return data.build()


def test_each_attention_count_is_what_the_world_holds(world):
    counts = {item.rule.key: item.count for item in dashboard.attention(NOW)}
    assert counts == EXPECTED["attention"]


def test_a_feed_in_its_grace_period_says_the_day_its_account_becomes_disconnected(world):
    [feed] = dashboard.grace_feeds(NOW)
    assert feed.feed_id == world.grace_feed.pk
    assert feed.disconnects_on == EXPECTED["disconnects_on"]
    # The rule the day comes from is the maintenance's own: the run before leaves the account
    # connected, the run that day disconnects it.
    due = maintenance.disconnects_on(world.grace_feed.disabled_on_utc)
    account = world.grace_feed.source_account
    with time_machine.travel(due - dt.timedelta(days=1), tick=False):
        maintenance.run_daily_maintenance()
    account.refresh_from_db()
    assert account.status == "connected"
    with time_machine.travel(due, tick=False):
        maintenance.run_daily_maintenance()
    account.refresh_from_db()
    assert account.status == "disconnected"


def test_the_worker_is_late_once_it_missed_two_beats(db):
    data.build(heartbeat_age=dt.timedelta(seconds=170))
    assert not dashboard.worker(NOW).late
    assert dashboard.worker(NOW + dt.timedelta(seconds=20)).late


def test_a_worker_never_seen_needs_attention(db):
    state = dashboard.worker(NOW)
    assert state.late and state.last_seen is None
    dashboard.beat(NOW)
    assert not dashboard.worker(NOW).late


def test_the_daily_figures_are_each_days_in_toronto_with_exact_percentiles(world):
    with time_machine.travel(NOW, tick=False):
        assert dashboard.refresh_days() == dashboard.WINDOW_DAYS  # the first time: all 30
        days = {d.day: d for d in dashboard.days()}
    assert len(days) == dashboard.WINDOW_DAYS
    for day, expected in EXPECTED["days"].items():
        got = days[day]
        assert (got.written, got.delivered, got.failures) == (
            expected["written"],
            expected["delivered"],
            expected["failures"],
        ), day
        assert got.latency_p50 == pytest.approx(expected.get("p50"), abs=0.01), day
        assert got.latency_p95 == pytest.approx(expected.get("p95"), abs=0.01), day
    others = [d for day, d in days.items() if day not in EXPECTED["days"]]
    assert all((d.written, d.delivered, d.failures) == (0, 0, 0) for d in others)


def test_only_days_not_final_are_computed_again(world):
    with time_machine.travel(NOW, tick=False):
        dashboard.refresh_days()
    final = set(DeliveryDay.objects.filter(final=True).values_list("day", flat=True))
    assert NOW.date() not in final and NOW.date() - dt.timedelta(days=1) in final
    with time_machine.travel(NOW + dt.timedelta(minutes=5), tick=False):
        assert dashboard.refresh_days() == 1  # today only
    # The next morning, yesterday is computed once more (and then final), today is new.
    with time_machine.travel(NOW + dt.timedelta(hours=10), tick=False):
        assert dashboard.refresh_days() == 2
        assert DeliveryDay.objects.count() == dashboard.WINDOW_DAYS


def test_the_backlog_counts_what_active_feeds_still_have_to_deliver(world):
    backlog = dashboard.backlog()
    assert backlog.pending == EXPECTED["backlog"]
    assert backlog.age(NOW) == dt.timedelta(hours=EXPECTED["backlog_age_hours"])


def test_the_funnel_follows_the_last_30_days_connections(world):
    assert dashboard.funnel(NOW).__dict__ == EXPECTED["funnel"]


# The page ------------------------------------------------------------------------------------


def _home(client) -> str:
    with time_machine.travel(NOW, tick=False):
        response = client.get("/admin/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_home_page_shows_each_figure_in_its_tables(operator_client, world):
    with time_machine.travel(NOW, tick=False):
        dashboard.refresh_days()
    page = _home(operator_client)
    for key, count in EXPECTED["attention"].items():
        rule = dashboard.RULES[key]
        assert re.search(
            rf'<a href="[^"]*\?attention={key}"><span class="attention-count">{count}</span>', page
        ), key
        assert str(rule.label) in page
    row = re.search(r'<tr data-day="2026-11-23">(.*?)</tr>', page).group(1)
    assert '<td class="written">3</td><td class="delivered">3</td>' in row
    assert '<td class="p50">2 min</td><td class="p95">10 min</td>' in row
    today = re.search(r'<tr data-day="2026-11-25">(.*?)</tr>', page).group(1)
    assert '<td class="p50">60 min</td>' in today
    assert '<strong id="backlog-pending">2</strong>' in page
    assert '<strong id="backlog-age">6.0 h</strong>' in page
    assert page.count('<svg class="dashboard-chart"') == 4
    funnel = re.search(r'<table class="dashboard-table" id="funnel">(.*?)</table>', page, re.S)
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", funnel.group(1))] == list(
        EXPECTED["funnel"].values()
    )
    assert "3 Dec 2026" in page  # the day Bois's account becomes disconnected
    assert "The worker is running" in page


def test_the_home_page_in_french(operator_client, world):
    operator_client.cookies["django_language"] = "fr"
    page = _home(operator_client)
    assert "À surveiller" in page
    assert "Livraison au cours des 30 derniers jours" in page
    assert "3 décembre 2026" in page


@pytest.mark.parametrize("key", list(EXPECTED["attention"]))
def test_each_attention_link_opens_its_list_filtered_by_the_same_rule(operator_client, world, key):
    rule = dashboard.RULES[key]
    meta = rule.model._meta
    with time_machine.travel(NOW, tick=False):
        page = operator_client.get(
            f"/admin/{meta.app_label}/{meta.model_name}/?attention={key}"
        ).content.decode()
    shown = re.findall(r'<input type="checkbox" name="_selected_action" value="([^"]+)"', page)
    expected = {str(pk) for pk in rule.queryset(NOW).values_list("pk", flat=True)}
    assert len(expected) == EXPECTED["attention"][key]
    assert set(shown) == expected


def test_the_page_costs_the_same_queries_however_much_data(operator_client, world):
    with time_machine.travel(NOW, tick=False):
        dashboard.refresh_days()
        operator_client.get("/admin/")
        with CaptureQueriesContext(db_connection) as small:
            operator_client.get("/admin/")
        data.grow(30)
        dashboard.refresh_days()
        with CaptureQueriesContext(db_connection) as big:
            operator_client.get("/admin/")
    assert len(big) == len(small)
    assert len(small) <= 20, [q["sql"][:80] for q in small.captured_queries]


def test_compute_now_recomputes_the_figures(operator_client, world):
    with time_machine.travel(NOW, tick=False):
        response = operator_client.post("/admin/dashboard/refresh/")
        assert response.status_code == 302
        assert DeliveryDay.objects.filter(day=NOW.date(), written=2).exists()
        assert operator_client.get("/admin/dashboard/refresh/").status_code == 405


def test_the_company_overview_shows_its_connections_accounts_feeds_and_deliveries(
    operator_client, world
):
    page = operator_client.get(f"/admin/dashboard/company/{world.acme.pk}/").content.decode()
    assert "Acme Checking" in page and "Acme Card" in page
    assert world.main_feed.pk in page and world.card_feed.pk in page
    assert "rejected by QBO" in page and "failed, will retry" in page
    assert "deliverybatch.status" in page  # its events
    assert "Bois" not in page
    with CaptureQueriesContext(db_connection) as queries:
        operator_client.get(f"/admin/dashboard/company/{world.bois.pk}/")
    with CaptureQueriesContext(db_connection) as more:
        operator_client.get(f"/admin/dashboard/company/{world.acme.pk}/")
    assert len(queries) == len(more)


def test_the_dashboard_is_for_operators_only(client, world):
    assert client.get("/admin/dashboard/company/" + str(world.acme.pk) + "/").status_code == 302
    assert client.post("/admin/dashboard/refresh/").status_code == 302
