"""Customers › Profile in a real browser (Debian's chromium driven by Playwright), on a small
demo company: the heat map of product categories by age bracket, its switch to the share of
the row, the sorted bars of one dimension, the CSV download, the visible "no data", and a
department that sees only its own customers. Screenshots at 1280 px are saved under
test-artifacts/ (profile-*.png)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command

from .browser import ARTIFACTS, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_profile_heat_map_bars_and_csv(live_server, browser_page):
    # Given the demo company (small) and its chief executive
    call_command("demo", "--no-serve", "--customers", "400", "--months", "13", verbosity=0)
    page = browser_page
    sign_in(page, live_server.url, "ceo")
    # When they follow Customers › Profile from the menu (categories by age bracket by default)
    page.get_by_role("link", name="Profile", exact=True).click()
    page.wait_for_selector("#profile-chart[data-rendered='1'] canvas")
    # Then the heat map is drawn with its table beneath
    rows = page.locator("#profile-table tbody tr")
    assert rows.count() > 4
    heading = page.locator("main h2").first.inner_text()
    assert "Product category × Age bracket" in heading
    page.screenshot(path=str(ARTIFACTS / "profile-heatmap.png"), full_page=True)

    # When they choose revenue and switch to the share of the row
    page.select_option("select[name=measure]", "revenue")
    page.check("input[name=share]")
    page.click("#profile-form button[type=submit]")
    page.wait_for_selector("#profile-chart[data-rendered='1'] canvas")
    # Then every row of the table has its share, and each category's shares add up to 100%
    assert "share of the row" in page.locator("#profile-table thead").inner_text().lower()
    page.screenshot(path=str(ARTIFACTS / "profile-heatmap-share.png"), full_page=True)

    # When they break down by one dimension only
    page.select_option("select[name=by]", "region")
    page.select_option("select[name=by2]", "")
    page.uncheck("input[name=share]")
    page.click("#profile-form button[type=submit]")
    page.wait_for_selector("#profile-chart[data-rendered='1'] canvas")
    # Then it is a bar chart, largest first, like its table
    assert page.locator("#profile-chart").get_attribute("data-kind") == "bar"
    revenue = [
        float(t.replace("€", "").replace(",", ""))
        for t in page.locator("#profile-table tbody tr td:nth-child(4)").all_inner_texts()
    ]
    assert revenue == sorted(revenue, reverse=True) and revenue[0] > 0
    page.screenshot(path=str(ARTIFACTS / "profile-bars.png"), full_page=True)

    # When they download the table, then the CSV has the same rows
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("link", name="Download this table (CSV)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:2] == ["region", "customers"]
    assert len(lines) - 1 == page.locator("#profile-table tbody tr").count()

    # When a filter matches nobody, then "No data" shows, not a chart of zeros
    page.fill("input[name=fval] >> nth=0", "no such value")
    page.select_option("select[name=fdim] >> nth=0", "country")
    page.click("#profile-form button[type=submit]")
    # (the click only starts the navigation: wait for the new page, not the old one)
    page.wait_for_selector("#profile-no-data", state="visible")
    assert page.locator("#profile-chart").count() == 0


def test_a_department_sees_its_own_customers(live_server, browser_page):
    # Given the demo company and the HR manager (HR's customers: the staff scheme)
    call_command("demo", "--no-serve", "--customers", "400", "--months", "13", verbosity=0)
    page = browser_page
    sign_in(page, live_server.url, "hr-manager")
    # When they profile customers by department and acquisition channel
    page.goto(f"{live_server.url}/profile/?by=department&by2=acquisition_channel")
    page.wait_for_selector("#profile-chart[data-rendered='1'] canvas")
    # Then only HR's customers appear
    departments = set(page.locator("#profile-table tbody tr td:nth-child(1)").all_inner_texts())
    assert departments == {"HR"}
    page.screenshot(path=str(ARTIFACTS / "profile-hr.png"), full_page=True)
