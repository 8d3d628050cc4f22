"""The admin's price chart in a real browser: Debian's Chromium driven by Playwright (`make test` installs both)."""

from pathlib import Path

import pytest

from tests.factories import make_disputed_market

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches the network: no updates, sync, QUIC or first-run pages.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield context.new_page()
        finally:
            context.close()


@pytest.fixture
def disputed(live_server, settings):
    """Made before the browser starts: Playwright's event loop makes Django refuse the ORM in its thread."""
    from django.contrib.auth.models import User

    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    User.objects.create_superuser("ops", password="a-long-test-password")
    return make_disputed_market()


def test_an_operator_sees_each_source_the_consensus_and_the_disagreement(disputed, browser_page, live_server, tmp_path):
    btc, page = disputed, browser_page
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/coins/coin/{btc.pk}/change/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    page.wait_for_selector("svg.price-chart")

    series = page.eval_on_selector_all("svg.price-chart polyline.series", "lines => lines.map(l => l.dataset.series)")
    assert series == ["coincap", "coinpaprika", "legacy_csv", "consensus"]
    marks = page.locator("svg.price-chart rect.disagreement")
    assert marks.count() == 2 and marks.first.is_visible()
    box = page.locator("svg.price-chart").bounding_box()
    assert box["width"] > 600 and box["height"] > 150  # drawn, not an empty box
    assert not [e for e in errors if "Content Security Policy" in e], errors
    page.locator("#price-chart").screenshot(path=str(tmp_path / "price-chart.png"))
    page.screenshot(path=str(tmp_path / "coin-page.png"), full_page=True)
    assert (tmp_path / "price-chart.png").stat().st_size > 5000
