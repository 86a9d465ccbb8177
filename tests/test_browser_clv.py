"""Customer value in a real browser (Debian's chromium driven by Playwright), on a small demo
company fitted by the demo: the High value and At risk badges with their numbers on the
customer 360, and the profile broken down by value band. Screenshots at 1280 px are saved
under test-artifacts/ (clv-*.png)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from .browser import ARTIFACTS, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_value_badges_on_the_360_and_value_bands_in_the_profile(live_server, browser_page):
    from crm_scorecard.clv.models import CustomerValue, ValueBand

    # Given the demo company (small), whose customer value the demo fitted, and its CEO
    call_command("demo", "--no-serve", "--customers", "400", "--months", "13", verbosity=0)
    high = CustomerValue.objects.filter(value_band=ValueBand.HIGH).select_related("customer")
    # (over 13 months the model believes none of its 400 customers has left for good, so
    # the repeat buyer it is least sure of is put at risk by hand, to show the badge)
    unsure = CustomerValue.objects.filter(frequency__gt=0).exclude(value_band=ValueBand.HIGH)
    unsure = unsure.order_by("p_alive", "-historic_value")
    CustomerValue.objects.filter(pk=unsure[0].pk).update(value_band=ValueBand.AT_RISK)
    at_risk = CustomerValue.objects.filter(value_band=ValueBand.AT_RISK).select_related("customer")
    assert high.exists() and at_risk.exists()
    page = browser_page
    sign_in(page, live_server.url, "ceo")
    # When they open a high-value customer's 360
    value = high.order_by("-expected_value")[0]
    page.goto(f"{live_server.url}/customers/{value.customer.external_id}/")
    # Then the badge shows by the name, and the card has the numbers
    assert page.locator("h1 .pill.value-high").inner_text() == "High value"
    card = page.locator("section.card", has=page.get_by_role("heading", name="Customer value"))
    assert f"{value.p_alive:.0%} probability" in card.inner_text()
    page.screenshot(path=str(ARTIFACTS / "clv-360-high.png"), full_page=True)
    # And an at-risk customer's 360 says so
    value = at_risk.order_by("-historic_value")[0]
    page.goto(f"{live_server.url}/customers/{value.customer.external_id}/")
    assert page.locator("h1 .pill.value-at-risk").inner_text() == "At risk"
    page.screenshot(path=str(ARTIFACTS / "clv-360-at-risk.png"), full_page=True)

    # When they profile revenue by value band and age bracket
    page.goto(f"{live_server.url}/profile/?by=value_band&by2=age_bracket&measure=revenue")
    page.wait_for_selector("#profile-chart[data-rendered='1'] canvas")
    # Then the bands the demo fitted are the heat map's rows
    bands = set(page.locator("#profile-table tbody tr td:nth-child(1)").all_inner_texts())
    assert {"high", "medium", "low"} <= bands
    page.screenshot(path=str(ARTIFACTS / "clv-profile.png"), full_page=True)
