"""In a real browser: a board pack made in the background (the progress bar, then the file)
and a report scheduled by email. Screenshots are saved under test-artifacts/."""

from __future__ import annotations

import pytest
from django.db import connection
from pypdf import PdfReader

from crm_scorecard.accounts.models import Level
from crm_scorecard.jobs.models import PageJob, ScheduledReport
from crm_scorecard.jobs.worker import Runner
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.services import scorecard_import

from .browser import ARTIFACTS
from .factories import DepartmentFactory, UserFactory
from .test_browser import CARD

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_board_pack_in_the_background_and_a_scheduled_report(live_server, browser_page):
    # Given a Service manager, an analyst of theirs, and the Service scorecard
    service = DepartmentFactory(name="Service")
    card = scorecard_import(card=files.parse(CARD), department=service)
    user = UserFactory(username="boss", level=Level.MANAGER, departments=[service])
    user.set_password("a-long-secret-1")
    user.save()
    UserFactory(username="ana", email="ana@example.com", level=Level.ANALYST, departments=[service])
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "a-long-secret-1")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    # When they open January and press "PDF board pack in the background"
    page.goto(f"{live_server.url}/scorecards/{card.pk}/?period=2026-01")
    page.wait_for_selector("#gauge[data-rendered='1'] canvas")
    page.get_by_role("button", name="PDF board pack in the background").click()
    # Then a progress bar says it waits for the worker (no worker runs yet)
    job_part = page.locator("#report-jobs .job")
    job_part.wait_for()
    assert "Waiting for the worker" in job_part.inner_text()
    assert job_part.locator("progress").get_attribute("value") == "0"
    page.locator("#downloads").screenshot(path=str(ARTIFACTS / "job-waiting.png"))
    # When the worker runs the queue
    assert Runner(name="browser-test", schedule=False).drain() == 1
    # Then within a few polls the bar is full and offers the file
    save = page.locator("#report-jobs .job a.button")
    save.wait_for(timeout=15_000)
    assert job_part.locator("progress").get_attribute("value") == "100"
    assert save.inner_text() == "Save service-card-service-2026-01.pdf"
    page.locator("#downloads").screenshot(path=str(ARTIFACTS / "job-ready.png"))
    with page.expect_download(timeout=60_000) as download:
        save.click()
    pack = download.value
    assert pack.suggested_filename == "service-card-service-2026-01.pdf"
    text = "".join(p.extract_text() for p in PdfReader(pack.path()).pages)
    assert "Service card" in text and "2026-01" in text
    assert PageJob.objects.get().status == PageJob.Status.DONE
    # When they open Scheduled reports and schedule the workbook weekly for the analyst
    page.get_by_role("link", name="Scheduled reports").click()
    page.wait_for_url(f"{live_server.url}/scorecards/{card.pk}/schedules/")
    page.select_option("select[name=format]", "xlsx")
    page.select_option("select[name=frequency]", "weekly")
    page.get_by_label("ana (ana, ana@example.com)").check()
    page.get_by_role("button", name="Schedule").click()
    # Then it is listed, and stored for the analyst
    page.wait_for_selector("#schedules")
    assert "Every Monday" in page.locator("#schedules").inner_text()
    page.screenshot(path=str(ARTIFACTS / "scheduled-reports.png"), full_page=True)
    report = ScheduledReport.objects.get()
    assert (report.format, list(report.recipients.values_list("username", flat=True))) == (
        "xlsx",
        ["ana"],
    )
    connection.close()
