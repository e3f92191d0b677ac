"""The organization settings in a real browser, as the operator sees them at 1280 px: each callout
counter right under its field, and the preview of the Link pages, whose buttons do nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from accounts.models import OrganizationSettings
from feeds.models import CredentialSet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SETTINGS = "/admin/accounts/organizationsettings/1/change/"


@pytest.fixture
def operator_page(page: Page, live_server) -> Page:
    get_user_model().objects.create_superuser("operator", "ops@example.com", "ops-pass-123")
    OrganizationSettings.objects.update_or_create(
        pk=1,
        defaults={
            "institution_name": "Maple Bank",
            "callout_title_en": "Keep them private",
            "callout_body_en": "Maple Bank will never ask you for these credentials.",
        },
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("ops-pass-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Edit the organization settings")).to_be_visible()
    return page


def test_each_callout_counter_sits_right_under_its_field(
    operator_page: Page, live_server, output_path
):
    page = operator_page
    page.goto(live_server.url + SETTINGS)
    for name, limit in [
        ("callout_title_en", 50),
        ("callout_body_en", 150),
        ("callout_title_fr", 50),
        ("callout_body_fr", 150),
    ]:
        field = page.locator(f"#id_{name}")
        counter = page.locator(f".field-{name} .charcount")
        box, count = field.bounding_box(), counter.bounding_box()
        text = counter.evaluate(
            "el => { const r = document.createRange(); r.selectNodeContents(el);"
            " return r.getBoundingClientRect().left; }"
        )
        assert 0 <= count["y"] - (box["y"] + box["height"]) <= 12, (name, box, count)
        assert abs(text - box["x"]) <= 12, (name, box["x"], text)
        field.fill("Merci")
        expect(counter).to_have_text(f"5 / {limit}")
    body = page.locator("#id_callout_body_en")
    assert body.evaluate("el => el.tagName") == "TEXTAREA"
    assert body.bounding_box()["height"] >= 50  # three lines, not one
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "organization-settings-1280.png"), full_page=True)


def test_the_preview_shows_the_link_pages_and_its_buttons_do_nothing(
    operator_page: Page, live_server, output_path
):
    page = operator_page
    page.goto(live_server.url + SETTINGS)
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Preview the Link pages").click()
    preview = opened.value
    preview.set_viewport_size({"width": 1280, "height": 900})
    expect(preview.get_by_text("Preview: this is how SMB users see the Link pages")).to_be_visible()
    expect(preview.get_by_role("heading", level=1)).to_have_text("Connect to QuickBooks Online")
    preview.get_by_role("link", name="Screen with the callout").click()
    expect(preview).to_have_url(
        f"{live_server.url}/admin/accounts/organizationsettings/preview/setup/"
    )
    expect(preview.get_by_text("Keep them private")).to_be_visible()
    for control in (
        preview.get_by_role("button", name="Get credentials"),
        preview.get_by_role("link", name="Change the accounts"),
    ):
        control.click()
        preview.wait_for_timeout(300)
        expect(preview).to_have_url(
            f"{live_server.url}/admin/accounts/organizationsettings/preview/setup/"
        )
    assert not CredentialSet.objects.exists()
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    preview.screenshot(path=str(folder / "preview-setup-1280.png"), full_page=True)
    # The banner's own links still work.
    preview.get_by_role("link", name="Back to the organization settings").click()
    expect(preview).to_have_url(live_server.url + SETTINGS)
