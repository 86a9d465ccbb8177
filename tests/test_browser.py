"""In a real browser (Debian's chromium driven by Playwright): sign in, open a scorecard,
see the stop-lights, the gauge, the diamond chart and the strategy map drawn, edit a target
and see the score change, and be refused another department's scorecard; from the demo,
download the board pack and the workbook with the page's buttons. Screenshots, the files
and the board pack's pages as images are saved under test-artifacts/."""

from __future__ import annotations

import io
import subprocess

import pytest
from django.core.management import call_command
from django.db import connection
from openpyxl import load_workbook
from pypdf import PdfReader

from crm_scorecard.accounts.models import Level
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator, Scorecard
from crm_scorecard.scorecards.services import scorecard_import

from .browser import ARTIFACTS
from .factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CARD = {
    "name": "Service card",
    "mission": "Serve well",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Happy",
                    "indicators": [
                        {
                            "name": "CSAT",
                            "unit": "percent",
                            "values": {"2026-01": 0.7},
                            "baseline": 0.5,
                            "target": 0.9,
                        },
                        {"name": "NPS", "values": {"2026-01": 10}, "baseline": -20, "target": 30},
                        {
                            "name": "Repeat calls",
                            "values": {"2026-01": 0.08},
                            "optimization": "minimize",
                            "baseline": 0.2,
                            "target": 0.05,
                        },
                    ],
                }
            ],
        },
        {
            "name": "Internal process",
            "goals": [
                {
                    "name": "Fast",
                    "indicators": [
                        {
                            "name": "Wait",
                            "values": {"2026-01": 60},
                            "optimization": "minimize",
                            "baseline": 120,
                            "target": 40,
                        }
                    ],
                }
            ],
        },
        {
            "name": "Learning & growth",
            "goals": [
                {
                    "name": "Skilled",
                    "indicators": [
                        {
                            "name": "Training hours",
                            "values": {"2026-01": 12},
                            "baseline": 0,
                            "target": 20,
                        }
                    ],
                }
            ],
        },
    ],
    "links": [{"from": "Skilled", "to": "Fast"}, {"from": "Fast", "to": "Happy"}],
}


def test_manager_sees_and_edits_a_scorecard(live_server, browser_page):
    # Given a Service manager and the Service scorecard, and a Sales scorecard
    service, sales = DepartmentFactory(name="Service"), DepartmentFactory(name="Sales")
    mine = scorecard_import(card=files.parse(CARD), department=service)
    theirs = scorecard_import(card=files.parse({**CARD, "name": "Sales card"}), department=sales)
    user = UserFactory(username="boss", level=Level.MANAGER, departments=[service])
    user.set_password("a-long-secret-1")
    user.save()
    page = browser_page
    # When they sign in
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "a-long-secret-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert "Service card" in page.content() and "Sales card" not in page.content()
    # And open the scorecard for January
    page.goto(f"{live_server.url}/scorecards/{mine.pk}/?period=2026-01")
    page.wait_for_selector("#gauge[data-rendered='1'] canvas")
    # Then stop-lights are shown for every row and the gauge is drawn
    lights = page.locator("#tree .light")
    assert lights.count() == 11
    assert page.locator("#tree .light.green, #tree .light.yellow, #tree .light.red").count() >= 8
    page.screenshot(path=str(ARTIFACTS / "scorecard.png"), full_page=True)
    # On a tablet the page still fits its width (no sideways scrolling)
    page.set_viewport_size({"width": 820, "height": 1180})
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    page.screenshot(path=str(ARTIFACTS / "scorecard-tablet.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    # CSAT: (0.7 - 0.5) / 0.4 = 0.5
    csat = page.locator("#tree tr", has_text="CSAT")
    assert "50%" in csat.inner_text()
    # The diamond chart is drawn
    page.goto(f"{live_server.url}/scorecards/{mine.pk}/diamond/?period=2026-01")
    page.wait_for_selector("#radar[data-rendered='1'] canvas")
    page.screenshot(path=str(ARTIFACTS / "diamond.png"), full_page=True)
    # The strategy map is drawn, and a goal box opens the goal
    page.goto(f"{live_server.url}/scorecards/{mine.pk}/map/?period=2026-01")
    page.wait_for_selector(
        "#map[data-rendered='3-2'] canvas"
    )  # three goal boxes and two arrows drawn
    page.screenshot(path=str(ARTIFACTS / "strategy_map.png"), full_page=True)
    # And the indicator page draws its history on a time axis, values as percentages
    csat_id = Indicator.objects.get(goal__perspective__scorecard=mine, name="CSAT").pk
    page.goto(f"{live_server.url}/indicators/{csat_id}/?period=2026-01")
    page.wait_for_selector("#history-chart[data-rendered='1'] canvas")
    assert "70%" in page.locator(".facts").inner_text()
    page.screenshot(path=str(ARTIFACTS / "indicator.png"), full_page=True)
    # When the CSAT target is lowered to 0.8: (0.7 - 0.5) / 0.3 = 0.667
    page.goto(f"{live_server.url}/indicators/{csat_id}/edit/")
    page.fill("input[name=target]", "0.8")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.screenshot(path=str(ARTIFACTS / "edit.png"), full_page=True)
    assert page.url == f"{live_server.url}/scorecards/{mine.pk}/", page.locator("main").inner_text()
    page.goto(f"{live_server.url}/scorecards/{mine.pk}/?period=2026-01")
    assert "67%" in page.locator("#tree tr", has_text="CSAT").inner_text()
    # And another department's scorecard is refused as not found
    response = page.goto(f"{live_server.url}/scorecards/{theirs.pk}/")
    assert response is not None and response.status == 404
    # And every page reads on a tablet without sideways scrolling
    page.set_viewport_size({"width": 820, "height": 1180})
    pages = {
        "home": "/",
        "scorecard": f"/scorecards/{mine.pk}/?period=2026-01",
        "diamond": f"/scorecards/{mine.pk}/diamond/?period=2026-01",
        "map": f"/scorecards/{mine.pk}/map/?period=2026-01",
        "indicator": f"/indicators/{csat_id}/?period=2026-01",
        "edit": f"/indicators/{csat_id}/edit/",
        "customers": "/customers/",
    }
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(ARTIFACTS / f"tablet-{name}.png"), full_page=True)
        assert width <= 820, f"{name} is {width}px wide on an 820px tablet"
    # (The test's own database connection was opened beside Playwright's event loop, where
    # the test database's teardown cannot see it: close it here.)
    connection.close()


def test_manager_downloads_the_demo_board_pack_and_workbook(live_server, browser_page):
    # Given the demo company (small) and its Customer Service manager
    call_command("demo", "--no-serve", "--customers", "200", "--months", "13", verbosity=0)
    card = Scorecard.objects.filter(department__name="Customer Service").order_by("pk").first()
    theirs = Scorecard.objects.filter(department__name="Sales").order_by("pk").first()
    assert card is not None and theirs is not None
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "service-manager")
    page.fill("input[name=password]", "demo")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    # When they open their scorecard and press "PDF board pack"
    page.goto(f"{live_server.url}/scorecards/{card.pk}/")
    page.wait_for_selector("#gauge[data-rendered='1'] canvas")
    note = page.locator("#downloads [data-download-note]")
    with page.expect_download(timeout=120_000) as pdf_download:
        page.get_by_role("link", name="PDF board pack").click()
        # Then while it is made, the note beside the button says so
        assert "Preparing the board pack" in note.inner_text()
        page.screenshot(path=str(ARTIFACTS / "board-pack-preparing.png"))
    pdf = pdf_download.value
    # And the board pack arrives named after the scorecard, department and month
    period = page.locator("select[name=period] option[selected]").get_attribute("value")
    assert pdf.suggested_filename.endswith(f"-customer-service-{period}.pdf")
    pdf_path = ARTIFACTS / "board-pack.pdf"
    pdf.save_as(str(pdf_path))
    # (the note is cleared once the file is saved)
    page.wait_for_function(
        "() => document.querySelector('#downloads [data-download-note]').textContent === ''"
    )
    pages = PdfReader(str(pdf_path)).pages
    text = "".join(p.extract_text() for p in pages)
    assert card.name in text and "Customer Service" in text and period in text
    # And its pages render as images, to be looked at (test-artifacts/board-pack-N.png)
    for old in ARTIFACTS.glob("board-pack-[0-9]*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-r", "70", "-png", str(pdf_path), str(ARTIFACTS / "board-pack")],
        check=True,
        timeout=120,
    )
    rendered = sorted(ARTIFACTS.glob("board-pack-[0-9]*.png"))
    assert len(rendered) == len(pages) >= 4
    # When they press "Excel workbook", then the workbook arrives with the scored tree
    with page.expect_download(timeout=120_000) as xlsx_download:
        page.get_by_role("link", name="Excel workbook").click()
    book_path = ARTIFACTS / "workbook.xlsx"
    xlsx_download.value.save_as(str(book_path))
    book = load_workbook(io.BytesIO(book_path.read_bytes()))
    assert {"Scorecard", "History", "Fix first"} <= set(book.sheetnames)
    # And the workbook with breakdowns by channel holds each metric indicator's split
    page.get_by_text("Workbook with breakdowns").click()
    page.select_option("#downloads select[name=by]", "channel")
    with page.expect_download(timeout=120_000) as split_download:
        page.locator("#downloads form button[type=submit]").click()
    split = load_workbook(io.BytesIO(split_download.value.path().read_bytes()))["Breakdowns"]
    assert {split.cell(r, 2).value for r in range(2, split.max_row + 1)} == {"channel"}
    # And Sales' board pack is not found for them
    refused = page.request.get(f"{live_server.url}/scorecards/{theirs.pk}/report.pdf")
    assert refused.status == 404 and "content-disposition" not in refused.headers
    connection.close()
