"""Background work on pages: a report made by the worker (progress, then the file) belongs
to the person who asked; a scorecard's scheduled reports are managed by its managers only.
Every refusal leaves nothing written."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from openpyxl import load_workbook
from pypdf import PdfReader

from crm_scorecard.jobs.models import PageJob, ScheduledReport
from crm_scorecard.jobs.services import page_jobs_prune
from crm_scorecard.jobs.worker import Runner
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.services import scorecard_import

from .factories import UserFactory

pytestmark = pytest.mark.django_db

CARD = {
    "name": 'Board "ü" card',  # typed by a person: a quote and a letter beyond ASCII
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "=Keep",
                    "indicators": [
                        {
                            "name": "Survey",
                            "values": {"2025-12": 2, "2026-01": 3},
                            "baseline": 1,
                            "target": 5,
                        }
                    ],
                }
            ],
        }
    ],
}
HX = {"HX-Request": "true"}


@pytest.fixture
def card(org):
    return scorecard_import(card=files.parse(CARD), department=org.sales)


def _start(client, user, card, **data):
    client.force_login(user)
    return client.post(
        f"/scorecards/{card.pk}/report-jobs/",
        {"fmt": "pdf", "period": "2026-01", **data},
        headers=HX,
    )


def _drain() -> int:
    return Runner(name="test", schedule=False).drain()


def test_a_board_pack_made_in_the_background_reaches_the_person_who_asked(client, org, card):
    # Given the Sales manager presses "PDF board pack in the background" on January
    answer = _start(client, org.sales_manager, card)
    # Then the answer is a progress bar that asks again every second, waiting for a worker
    assert answer.status_code == 200
    job = PageJob.objects.get()
    html = answer.content.decode()
    assert f'hx-get="/jobs/{job.pk}/"' in html and 'hx-trigger="every 1s"' in html
    assert '<progress max="100" value="0"' in html and "Waiting for the worker" in html
    assert "<script" not in html  # the Content-Security-Policy allows none inline
    assert (job.user, job.scorecard, job.format, job.period) == (
        org.sales_manager,
        card,
        "pdf",
        "2026-01",
    )
    # And the file is not there yet
    assert client.get(f"/jobs/{job.pk}/download/").status_code == 409
    # When the worker runs the queue
    assert _drain() == 1
    # Then the job's part offers the file and asks no more
    part = client.get(f"/jobs/{job.pk}/", headers=HX).content.decode()
    assert "hx-trigger" not in part and '<progress max="100" value="100"' in part
    assert f'href="/jobs/{job.pk}/download/"' in part
    assert "Save board-&quot;ü&quot;-card-sales-2026-01.pdf" in part  # the name, escaped
    # And the download is the board pack, named safely
    download = client.get(f"/jobs/{job.pk}/download/")
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == (
        "attachment; filename*=utf-8''board-%22%C3%BC%22-card-sales-2026-01.pdf"
    )
    assert "no-cache" in download["Cache-Control"] or "max-age=0" in download["Cache-Control"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(download.content)).pages)
    assert 'Board "ü" card' in text and "2026-01" in text
    # And the job's own page (no htmx) shows the same, without reloading itself
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'http-equiv="refresh"' not in page and "Save board" in page


def test_a_workbook_with_breakdowns_and_a_csv_table_run_as_jobs(client, org, card):
    # Given the manager asks for the workbook by region and the tree as CSV
    _start(client, org.sales_manager, card, fmt="xlsx", by="region")
    _start(client, org.sales_manager, card, fmt="csv", table="fix-first")
    # When the worker runs them
    assert _drain() == 2
    workbook, table = (
        PageJob.objects.get(format="xlsx"),
        PageJob.objects.get(format="csv"),
    )
    # Then both are ready: the workbook (asked by region) and the fix-first list as CSV
    assert workbook.breakdowns == ["region"]
    book = client.get(f"/jobs/{workbook.pk}/download/")
    assert "Scorecard" in load_workbook(io.BytesIO(book.content)).sheetnames
    csv = client.get(f"/jobs/{table.pk}/download/")
    assert csv["Content-Disposition"].endswith("-2026-01-fix-first.csv")


@pytest.mark.parametrize("who", ["sales_analyst", "service_manager", "executive"])
def test_nobody_else_sees_a_job_or_its_file(client, org, card, who):
    # Given the Sales manager's finished board pack
    _start(client, org.sales_manager, card)
    _drain()
    job = PageJob.objects.get()
    # When a colleague in Sales, a manager of another department, or an executive asks
    client.force_login(getattr(org, who))
    # Then the job does not exist for them, nor its file
    assert client.get(f"/jobs/{job.pk}/", headers=HX).status_code == 404
    assert client.get(f"/jobs/{job.pk}/").status_code == 404
    assert client.get(f"/jobs/{job.pk}/download/").status_code == 404


def test_anonymous_is_sent_to_sign_in(client, org, card):
    _start(client, org.sales_manager, card)
    job = PageJob.objects.get()
    client.logout()
    for path in (f"/jobs/{job.pk}/", f"/jobs/{job.pk}/download/"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    answer = client.post(f"/scorecards/{card.pk}/report-jobs/", {"fmt": "pdf"})
    assert answer.status_code == 302 and PageJob.objects.count() == 1


def test_a_job_is_gone_once_its_scorecard_left_the_persons_departments(client, org, card):
    # Given the Sales analyst's finished board pack
    _start(client, org.sales_analyst, card)
    _drain()
    job = PageJob.objects.get()
    # When the analyst moves to Customer Service
    org.sales_analyst.departments.set([org.service])
    # Then their old job and its file answer 404: it holds Sales' numbers
    assert client.get(f"/jobs/{job.pk}/", headers=HX).status_code == 404
    assert client.get(f"/jobs/{job.pk}/download/").status_code == 404


def test_no_job_for_another_departments_scorecard_or_bad_input(client, org, card):
    # When a Customer Service manager asks for Sales' board pack
    answer = _start(client, org.service_manager, card)
    # Then it does not exist for them, and nothing is queued
    assert answer.status_code == 404
    # When the Sales manager asks for a format, period or breakdown that does not exist
    for data, reason in [
        ({"fmt": "docx"}, "docx"),
        ({"period": "2026-13"}, "2026-13"),
        ({"fmt": "xlsx", "by": "shoe_size"}, "shoe_size"),
    ]:
        answer = _start(client, org.sales_manager, card, **data)
        # Then each is refused with the reason, and nothing is queued
        assert answer.status_code == 400 and reason in answer.content.decode()
    assert not PageJob.objects.exists() and not DBTaskResult.objects.exists()
    # And the job endpoints refuse what is not a job id
    assert client.get("/jobs/not-a-uuid/").status_code == 404
    # And GET does not queue anything
    assert client.get(f"/scorecards/{card.pk}/report-jobs/").status_code == 405


def test_a_job_that_cannot_be_made_says_why(client, org, card):
    # Given a board pack asked for a month still to come (checked when it is made)
    _start(client, org.sales_manager, card, period="2999-01")
    # When the worker runs it
    _drain()
    job = PageJob.objects.get()
    # Then the job failed, and its part says why
    assert job.status == PageJob.Status.FAILED
    part = client.get(f"/jobs/{job.pk}/", headers=HX).content.decode()
    assert "Could not be made" in part and "hx-trigger" not in part


def test_old_jobs_and_their_files_are_dropped(org, card, client):
    _start(client, org.sales_manager, card)
    PageJob.objects.update(created_at=timezone.now() - timedelta(days=2))
    _start(client, org.sales_manager, card)
    assert page_jobs_prune() == 1 and PageJob.objects.count() == 1


def test_the_scorecard_page_offers_background_reports(client, org, card):
    # Given the Sales manager on their scorecard
    client.force_login(org.sales_manager)
    html = client.get(f"/scorecards/{card.pk}/?period=2026-01").content.decode()
    # Then the background buttons post to the job endpoint with the CSRF token in a header,
    # next to the direct downloads, and a manager sees the link to the scheduled reports
    assert f'hx-post="/scorecards/{card.pk}/report-jobs/"' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert f'href="/scorecards/{card.pk}/report.pdf?period=2026-01"' in html
    assert f'href="/scorecards/{card.pk}/schedules/"' in html
    # And an analyst sees the buttons, not the scheduled reports
    client.force_login(org.sales_analyst)
    html = client.get(f"/scorecards/{card.pk}/?period=2026-01").content.decode()
    assert "report-jobs/" in html and "/schedules/" not in html


# ---- scheduled reports page ------------------------------------------------------------------


def _schedule(client, user, card, **data):
    client.force_login(user)
    return client.post(
        f"/scorecards/{card.pk}/schedules/",
        {
            "format": "pdf",
            "frequency": "weekly",
            "recipients": [org_user.pk for org_user in data.pop("recipients")],
            **data,
        },
    )


def test_a_manager_schedules_and_stops_a_report(client, org, card):
    # Given the Sales manager on the scorecard's scheduled reports
    client.force_login(org.sales_manager)
    page = client.get(f"/scorecards/{card.pk}/schedules/").content.decode()
    # Then the people offered are those who see Sales (not Customer Service's)
    assert "sales-analyst" in page and "field-agent" not in page and "exec" in page
    assert "service-agent" not in page
    # When they schedule the board pack weekly for the analyst and the executive
    answer = _schedule(
        client, org.sales_manager, card, recipients=[org.sales_analyst, org.executive]
    )
    # Then it is stored, by them, and listed
    assert answer.status_code == 302
    report = ScheduledReport.objects.get()
    assert (report.format, report.frequency, report.created_by) == (
        "pdf",
        "weekly",
        org.sales_manager,
    )
    assert set(report.recipients.all()) == {org.sales_analyst, org.executive}
    page = client.get(f"/scorecards/{card.pk}/schedules/").content.decode()
    assert "Every Monday" in page and "PDF board pack" in page
    # When they stop it, then it is gone
    client.post(f"/scorecards/{card.pk}/schedules/{report.pk}/delete/")
    assert not ScheduledReport.objects.exists()


def test_a_recipient_outside_the_department_is_refused(client, org, card):
    # When the Sales manager posts a Customer Service agent as a recipient
    answer = _schedule(client, org.sales_manager, card, recipients=[org.service_agent])
    # Then the form says so and nothing is stored
    assert answer.status_code == 400 and "Select a valid choice" in answer.content.decode()
    assert not ScheduledReport.objects.exists()


@pytest.mark.parametrize(("who", "status"), [("sales_analyst", 403), ("service_manager", 404)])
def test_only_the_departments_managers_manage_scheduled_reports(client, org, card, who, status):
    # Given a report the Sales manager scheduled
    _schedule(client, org.sales_manager, card, recipients=[org.sales_analyst])
    report = ScheduledReport.objects.get()
    # When a Sales analyst (sees, may not manage) or another department's manager tries
    user = getattr(org, who)
    client.force_login(user)
    # Then the page, a new schedule and stopping one are refused, and nothing changed
    assert client.get(f"/scorecards/{card.pk}/schedules/").status_code == status
    assert _schedule(client, user, card, recipients=[org.sales_analyst]).status_code == status
    answer = client.post(f"/scorecards/{card.pk}/schedules/{report.pk}/delete/")
    assert answer.status_code == status
    assert list(ScheduledReport.objects.all()) == [report]
    # And anonymous is sent to sign in
    client.logout()
    assert client.get(f"/scorecards/{card.pk}/schedules/").status_code == 302


def test_a_schedule_of_another_scorecard_is_not_found_at_this_address(client, org, card):
    # Given a Customer Service scorecard with a schedule, and Sales' scorecard
    theirs = scorecard_import(card=files.parse(CARD), department=org.service)
    _schedule(client, org.service_manager, theirs, recipients=[org.service_agent])
    report = ScheduledReport.objects.get()
    # When the Sales manager stops it through their own scorecard's address
    client.force_login(org.sales_manager)
    answer = client.post(f"/scorecards/{card.pk}/schedules/{report.pk}/delete/")
    # Then it does not exist there, and it stays
    assert answer.status_code == 404 and ScheduledReport.objects.filter(pk=report.pk).exists()


def test_the_admin_lists_schedules_runs_and_jobs(client, org, card):
    # Given a scheduled report and a page job, and an administrator
    _schedule(client, org.sales_manager, card, recipients=[org.sales_analyst])
    _start(client, org.sales_manager, card)
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    # When they open the jobs app's pages in the admin, then each answers
    for path in (
        "/admin/jobs/scheduledreport/",
        "/admin/jobs/scheduledreport/add/",
        f"/admin/jobs/scheduledreport/{ScheduledReport.objects.get().pk}/change/",
        "/admin/jobs/schedulerun/",
        "/admin/jobs/pagejob/",
        f"/admin/jobs/pagejob/{PageJob.objects.get().pk}/change/",
    ):
        assert client.get(path).status_code == 200, path
