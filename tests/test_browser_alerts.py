"""In a real browser: a manager whose indicator turned red sees the bell's unread count in
the header, opens the alerts page, marks the digest read (the bell empties) and follows a
goal; no CSP violation or script error on the way. Screenshots under test-artifacts/."""

from __future__ import annotations

from datetime import date

import pytest

from crm_scorecard.accounts.models import Level
from crm_scorecard.alerts.models import Subscription
from crm_scorecard.periods import month_of
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Goal, Indicator
from crm_scorecard.scorecards.services import manual_value_set, scorecard_import

from .browser import ARTIFACTS
from .factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
CARD = {
    "name": "Service card",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Happy customers",
                    "indicators": [
                        {"name": "CSAT <survey>", "baseline": 1, "target": 5},
                        {"name": "Callbacks", "baseline": 0, "target": 10},
                    ],
                }
            ],
        }
    ],
}


def test_bell_list_mark_read_and_follow(live_server, browser_page):
    # Given Service's manager; Callbacks entered at 9 (90%: green), then CSAT at 2 (of 1 → 5:
    # 25%, red; the goal (25% + 90%) / 2 = 57.5%, yellow), each reported as it is entered
    service = DepartmentFactory(name="Service")
    card = scorecard_import(card=files.parse(CARD), department=service)
    user = UserFactory(username="boss", level=Level.MANAGER, departments=[service])
    user.set_password("a-long-secret-1")
    user.save()
    csat = Indicator.objects.get(goal__perspective__scorecard=card, name="CSAT <survey>")
    manual_value_set(
        indicator=Indicator.objects.get(name="Callbacks"), period=month_of(date.today()), value=9
    )
    manual_value_set(indicator=csat, period=month_of(date.today()), value=2)
    page = browser_page
    # When they sign in
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "a-long-secret-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    # Then the bell shows one unread digest
    assert page.locator(".bell .bell-count").inner_text() == "1"
    # When they open it
    page.click(".bell")
    page.wait_for_url(f"{live_server.url}/alerts/")
    # Then the digest lists CSAT (its name as text) turned red
    digest = page.locator("article.digest.unread")
    assert "CSAT <survey> turned red: score 25%" in digest.inner_text()
    page.screenshot(path=str(ARTIFACTS / "alerts.png"), full_page=True)
    # When they mark it read
    digest.get_by_role("button", name="Mark as read").click()
    page.wait_for_url(f"{live_server.url}/alerts/")
    # Then the bell has no count
    assert page.locator(".bell .bell-count").count() == 0
    assert page.locator("article.digest.unread").count() == 0
    # When they follow the goal from the list
    goal = Goal.objects.get(perspective__scorecard=card)
    page.select_option("#follow-subject", f"goal:{goal.pk}")
    page.get_by_role("button", name="Follow", exact=True).click()
    page.wait_for_url(f"{live_server.url}/alerts/")
    # Then it is followed
    assert "Following goal “Happy customers”" in page.locator("main").inner_text()
    assert Subscription.objects.filter(user=user, goal=goal, active=True).exists()
    page.screenshot(path=str(ARTIFACTS / "alerts-followed.png"), full_page=True)
