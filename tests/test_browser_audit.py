"""In a real browser: a manager changes a target and comments on a month's value; the
indicator page draws the comment on its history chart (its tooltip shows the text as text)
and lists it under the chart, with the change in the audit trail; the board pack's page
with that indicator prints the comment and marks the month. Screenshots and the pack's page
as an image are saved under test-artifacts/ (audit-*.png)."""

from __future__ import annotations

import io
import subprocess

import pytest
from pypdf import PdfReader, PdfWriter

from crm_scorecard.accounts.models import Level
from crm_scorecard.reports.exports import report_export
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator
from crm_scorecard.scorecards.services import scorecard_import

from .browser import ARTIFACTS
from .factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
COMMENT = "Dip due to the warehouse move <script>alert(1)</script>"

CARD = {
    "name": "Sales card",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Win customers",
                    "indicators": [
                        {
                            "name": "Visits",
                            "values": {
                                "2026-06": 820,
                                "2026-07": 860,
                                "2026-08": 900,
                                "2026-09": 880,
                                "2026-10": 610,
                                "2026-11": 870,
                            },
                            "baseline": 400,
                            "target": 1000,
                        }
                    ],
                }
            ],
        }
    ],
}


def test_comment_on_the_chart_and_the_change_in_the_trail(live_server, browser_page):
    # Given a Sales manager and the Sales scorecard
    sales = DepartmentFactory(name="Sales")
    card = scorecard_import(card=files.parse(CARD), department=sales)
    visits = Indicator.objects.get(goal__perspective__scorecard=card)
    boss = UserFactory(username="sales-manager", level=Level.MANAGER, departments=[sales])
    boss.set_password("a-long-secret-1")
    boss.save()
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "sales-manager")
    page.fill("input[name=password]", "a-long-secret-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    # When they lower the target from 1,000 to 950
    page.goto(f"{live_server.url}/indicators/{visits.pk}/edit/")
    page.fill("input[name=target]", "950")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    # And comment on October's dip on the indicator page
    page.goto(f"{live_server.url}/indicators/{visits.pk}/?period=2026-11")
    page.fill(".comment-form input[name=period]", "2026-10")
    page.fill(".comment-form textarea[name=text]", COMMENT)
    page.click(".comment-form button[type=submit]")
    page.wait_for_selector("#history-chart[data-rendered='1'] canvas")
    assert page.url.endswith("?period=2026-11#comments")  # back on the month it was on
    # Then the chart marks one commented month, and the comment is listed under it as text
    assert page.locator("#history-chart").get_attribute("data-comments") == "1"
    listed = page.locator("#comments .comments li").inner_text()
    assert "2026-10" in listed and COMMENT in listed and "sales-manager" in listed
    # And the audit trail says who changed the target, from what to what
    changes = page.locator("#changes").inner_text()
    assert "Target changed from 1,000 to 950 by sales-manager on" in changes
    # And hovering October on the chart shows the comment in the tooltip, as text
    page.locator("#history-chart").scroll_into_view_if_needed()
    box = page.locator("#history-chart").bounding_box()
    assert box is not None
    x, y = page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById("history-chart"))
                 .convertToPixel({seriesIndex: 0}, [Date.UTC(2026, 9, 1), 610])"""
    )
    page.mouse.move(box["x"] + x, box["y"] + y)
    tooltip = page.locator(".chart-tip").filter(has_text="warehouse")
    tooltip.first.wait_for(state="visible", timeout=5000)
    assert COMMENT in tooltip.first.inner_text() and "2026-10" in tooltip.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "audit-indicator.png"), full_page=True)
    # And the goal's page lists its changes too (the indicator added at the import)
    page.goto(f"{live_server.url}/scorecards/{card.pk}/goals/{visits.goal_id}/?period=2026-11")
    assert "Indicator 'Visits' added by an operator" in page.locator("#changes").inner_text()
    page.screenshot(path=str(ARTIFACTS / "audit-goal.png"), full_page=True)
    # And the scorecard page loads its own changes when "Changes" is opened (htmx, under CSP)
    page.goto(f"{live_server.url}/scorecards/{card.pk}/?period=2026-11")
    page.click(".changes-card summary")
    page.wait_for_selector(".changes-card #changes")
    assert "Goal 'Win customers' added by an operator" in page.locator(".changes-card").inner_text()
    page.screenshot(path=str(ARTIFACTS / "audit-scorecard-changes.png"), full_page=True)
    # And the manager, following the indicator as its department's manager, mutes it there
    page.goto(f"{live_server.url}/indicators/{visits.pk}/?period=2026-11")
    assert "following (as its manager)" in page.locator("#follow").inner_text()
    page.click("#follow button")
    page.wait_for_load_state()
    assert page.url.endswith(f"/indicators/{visits.pk}/?period=2026-11")
    assert "Alerts: muted" in page.locator("#follow").inner_text()
    # And the board pack's page for the perspective prints the comment under the chart
    export = report_export(user=boss, pk=card.pk, fmt="pdf", period="2026-11")
    reader = PdfReader(io.BytesIO(export.content))
    number = next(i for i, p in enumerate(reader.pages) if "warehouse" in (p.extract_text() or ""))
    single = PdfWriter()
    single.add_page(reader.pages[number])
    pdf_path = ARTIFACTS / "audit-board-pack-page.pdf"
    with pdf_path.open("wb") as out:
        single.write(out)
    for old in ARTIFACTS.glob("audit-board-pack-page-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-r", "90", "-png", str(pdf_path), str(ARTIFACTS / "audit-board-pack-page")],
        check=True,
        timeout=120,
    )
    assert list(ARTIFACTS.glob("audit-board-pack-page-*.png"))
