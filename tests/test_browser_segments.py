"""Customers › Segments and Cohorts in a real browser (Debian's chromium driven by
Playwright), on a small demo company (the demo scores RFM on the day of its last order and
a month before): the segments table, its chart and the moves; the cohort heat map and its
switch to revenue per customer; a saved segment exported as CSV; a department that sees
only its own customers. Screenshots at 1280 px are saved under test-artifacts/
(segments-*.png)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command

from .browser import ARTIFACTS, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def _all_customers(page) -> int:
    cell = page.locator("#segment-table tfoot th.num").inner_text()
    return int(cell.replace(",", ""))


def test_segments_and_cohorts_pages(live_server, browser_page):
    # Given the demo company (small) and its chief executive
    call_command("demo", "--no-serve", "--customers", "400", "--months", "13", verbosity=0)
    page = browser_page
    sign_in(page, live_server.url, "ceo")
    # When they follow Segments from the menu
    page.get_by_role("link", name="Segments", exact=True).click()
    page.wait_for_selector("#rfm-chart[data-rendered='12'] canvas")
    # Then every customer is in the table, buyers in named segments, and moves are listed
    everyone = _all_customers(page)
    assert everyone >= 300
    assert page.locator("#segment-table tbody tr").count() == 12
    assert "Champions" in page.locator("#segment-table").inner_text()
    assert page.locator("#moves-table tbody tr").count() >= 3
    page.screenshot(path=str(ARTIFACTS / "segments-rfm.png"), full_page=True)
    # When they open Cohorts: the heat map of the share still buying, then revenue
    page.get_by_role("link", name="Cohorts", exact=True).first.click()
    page.wait_for_selector("#cohort-chart[data-rendered='retention'] canvas")
    assert page.locator("#retention-table tbody tr").count() >= 6
    page.screenshot(path=str(ARTIFACTS / "segments-cohorts.png"), full_page=True)
    page.get_by_role("button", name="Revenue per customer").click()
    page.wait_for_selector("#cohort-chart[data-rendered='revenue']")
    page.screenshot(path=str(ARTIFACTS / "segments-cohorts-revenue.png"))
    # When they save the at-risk customers of Sales and export them
    page.goto(f"{live_server.url}/segments/saved/")
    page.fill("input[name=name]", "Win back")
    page.select_option("select[name=owner]", label="Sales")
    page.select_option("select[name=rfm_segment]", value="at_risk")
    page.click("main form button[type=submit]")
    page.wait_for_selector("#saved-table")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    # Then the file lists at-risk customers only
    assert rows and {r["rfm_segment"] for r in rows} == {"at_risk"}
    page.screenshot(path=str(ARTIFACTS / "segments-saved.png"), full_page=True)
    # And Sales' manager sees fewer customers than the whole company
    page.click("form.who button[type=submit]")
    sign_in(page, live_server.url, "sales-manager")
    page.goto(f"{live_server.url}/segments/")
    page.wait_for_selector("#rfm-chart[data-rendered='12'] canvas")
    assert 0 < _all_customers(page) < everyone
