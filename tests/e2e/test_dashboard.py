"""The operator's dashboard in a real browser (issue 19), in English and in French: each number
against the world `tests.dashboard_data` made, each attention link followed to its filtered
list, the company overview, screenshots (`dashboard-{lang}-*.png` under `test-results/`) and
the axe check (serious and critical violations fail)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from feeds import dashboard
from tests import dashboard_data as data
from tests.dashboard_data import EXPECTED, NOW

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Axe()
LABELS = {
    "en": {
        "failing_feeds": "Feeds whose last delivery failed or was rejected",
        "awaiting_retry": "Batches waiting for an operator retry",
        "in_grace": "Feeds disabled in QuickBooks, account not yet disconnected",
        "locked_credentials": "Locked credential sets",
        "pending_auth": "Connections pending authorization for more than a week",
        "webhook_endpoints": "Webhook endpoints failing or disabled",
    },
    "fr": {
        "failing_feeds": "Flux dont la dernière livraison a échoué ou a été refusée",
        "awaiting_retry": "Lots en attente d’une nouvelle tentative par un opérateur",
        "in_grace": "Flux désactivés dans QuickBooks, compte pas encore déconnecté",
        "locked_credentials": "Jeux d’identifiants verrouillés",
        "pending_auth": "Connexions en attente d’autorisation depuis plus d’une semaine",
        "webhook_endpoints": "Points de terminaison webhook en échec ou désactivés",
    },
}
TITLES = {"en": "Needs attention", "fr": "À surveiller"}
DISCONNECTS = {"en": "3 Dec 2026", "fr": "3 décembre 2026"}


@pytest.fixture
def clock():
    # The live server runs in this process: it sees the same clock, ticking from NOW.
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def world(clock):
    built = data.build()
    dashboard.refresh_days()
    return built


def sign_in(page: Page, live_server, lang: str) -> None:
    get_user_model().objects.create_superuser("operator", "ops@example.com", "ops-pass-123")
    page.context.add_cookies(
        [{"name": "django_language", "value": f"{lang}-ca", "url": live_server.url}]
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.locator("#id_username").fill("operator")
    page.locator("#id_password").fill("ops-pass-123")
    page.locator("input[type=submit]").click()
    expect(page.get_by_role("heading", name=TITLES[lang])).to_be_visible()


def axe_clean(page: Page, folder: Path, name: str) -> None:
    violations = AXE.run(page).response["violations"]
    with (folder / "axe-summary.txt").open("a") as summary:
        found = ", ".join(f"{v['id']} ({v['impact']})" for v in violations) or "none"
        summary.write(f"{name}: {len(violations)} violations: {found}\n")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in bad]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_dashboard_shows_the_worlds_figures_and_each_link_filters_its_list(
    page: Page, live_server, world, lang, output_path
):
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    sign_in(page, live_server, lang)
    home = page.url
    page.screenshot(path=str(folder / f"dashboard-{lang}-home-1280.png"), full_page=True)
    axe_clean(page, folder.parent, f"dashboard-{lang}-home")

    for key, label in LABELS[lang].items():
        item = page.locator(".attention-item", has_text=label)
        expect(item.locator(".attention-count")).to_have_text(str(EXPECTED["attention"][key]))
    expect(page.locator("#worker-state")).to_contain_text(
        "The worker is running" if lang == "en" else "Le travailleur fonctionne"
    )
    expect(page.locator("#grace-feeds .disconnects-on")).to_have_text(DISCONNECTS[lang])

    for day, expected in EXPECTED["days"].items():
        row = page.locator(f'#delivery-days tr[data-day="{day.isoformat()}"]')
        for column in ("written", "delivered", "failures"):
            expect(row.locator(f"td.{column}")).to_have_text(str(expected[column]))
    nov23 = page.locator('#delivery-days tr[data-day="2026-11-23"]')
    expect(nov23.locator("td.p50")).to_have_text("2 min")
    expect(nov23.locator("td.p95")).to_have_text("10 min")
    expect(page.locator("#backlog-pending")).to_have_text(str(EXPECTED["backlog"]))
    expect(page.locator("#backlog-age")).to_have_text("6.0 h" if lang == "en" else "6,0 h")
    funnel = page.locator("#funnel tbody td")
    expect(funnel).to_have_text([str(n) for n in EXPECTED["funnel"].values()])
    # Each chart is a picture with a name, and its figures are in a table.
    expect(page.locator("svg.dashboard-chart[role=img]")).to_have_count(4)

    for key, label in LABELS[lang].items():
        page.goto(home)
        page.locator(".attention-item", has_text=label).get_by_role("link").click()
        expect(page.locator("#changelist-filter")).to_contain_text(label)
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(EXPECTED["attention"][key])
        shown = {
            box.get_attribute("value")
            for box in page.locator("#result_list input[name=_selected_action]").all()
        }
        rule = dashboard.RULES[key]
        assert shown == {str(pk) for pk in rule.queryset().values_list("pk", flat=True)}, key
        page.screenshot(path=str(folder / f"dashboard-{lang}-{key}-1280.png"), full_page=True)

    # The drill-down of the company with the failing feeds, from the companies list.
    page.goto(f"{live_server.url}/admin/accounts/company/?q=Acme")
    page.get_by_role("link", name="Overview" if lang == "en" else "Aperçu").click()
    expect(page.locator("#company-feeds tbody tr")).to_have_count(2)
    expect(page.locator("#company-accounts")).to_contain_text("Acme Checking")
    expect(page.locator("#company-events")).to_contain_text("deliverybatch.status")
    page.screenshot(path=str(folder / f"dashboard-{lang}-company-1280.png"), full_page=True)
    axe_clean(page, folder.parent, f"dashboard-{lang}-company")


def test_the_dashboard_reads_without_javascript(browser, live_server, world, output_path):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server, "en")
    expect(page.locator("#delivery-days")).to_be_visible()
    expect(page.locator("#funnel")).to_be_visible()
    page.get_by_role("button", name="Compute now").click()
    expect(page.locator(".messagelist")).to_contain_text("Delivery figures")
    assert re.search(r"/admin/$", page.url)
    context.close()
