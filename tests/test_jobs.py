"""The worker: the schedule's due times, the nightly compute run once per due time (twice
asked, or by two workers at once) with its steps (RFM scores, the value refit, the cohorts,
the KPIs; a failing one fails the run), scheduled report emails built as each recipient sees
the scorecard, and the `worker` command."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from openpyxl import load_workbook
from pypdf import PdfReader

from crm_scorecard.accounts.models import Level
from crm_scorecard.clv.models import CustomerValue, ValueFit
from crm_scorecard.crm import models as m
from crm_scorecard.errors import Invalid
from crm_scorecard.jobs import services
from crm_scorecard.jobs.compute import kpis_compute, latest_since
from crm_scorecard.jobs.models import Frequency, ScheduledReport, ScheduleRun
from crm_scorecard.jobs.schedule import NIGHTLY_COMPUTE, latest_due
from crm_scorecard.jobs.worker import Runner
from crm_scorecard.metrics.api import FillRun
from crm_scorecard.periods import month_first, month_of, shift_months
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.services import scorecard_import
from crm_scorecard.segments import selectors as segment_selectors
from crm_scorecard.segments import services as segment_services
from crm_scorecard.segments.models import CohortSnapshot, RfmScore

from . import metrics_data
from .factories import UserFactory
from .test_clv import _simulated_shop

AT_2 = time(2, 0)
AT_6 = time(6, 0)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---- due times ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "frequency", "at", "due"),
    [
        # daily: today's time once it has passed, else yesterday's
        ("2026-03-11 02:00", Frequency.DAILY, AT_2, "2026-03-11 02:00"),
        ("2026-03-11 01:59", Frequency.DAILY, AT_2, "2026-03-10 02:00"),
        ("2026-03-01 00:30", Frequency.DAILY, AT_2, "2026-02-28 02:00"),
        # weekly: Mondays (2026-03-09 is a Monday)
        ("2026-03-11 09:00", Frequency.WEEKLY, AT_6, "2026-03-09 06:00"),
        ("2026-03-09 05:00", Frequency.WEEKLY, AT_6, "2026-03-02 06:00"),
        ("2026-03-09 06:00", Frequency.WEEKLY, AT_6, "2026-03-09 06:00"),
        # monthly: the 1st, across a year's end
        ("2026-03-11 09:00", Frequency.MONTHLY, AT_6, "2026-03-01 06:00"),
        ("2026-01-01 05:59", Frequency.MONTHLY, AT_6, "2025-12-01 06:00"),
    ],
)
def test_latest_due_time(settings, now, frequency, at, due):
    # Given the site's time zone is UTC
    settings.TIME_ZONE = "UTC"
    # When the latest due time at `now` is asked for, then it is the one worked out by hand
    assert latest_due(now=utc(now), at=at, frequency=frequency) == utc(due)


def test_latest_due_time_is_local(settings):
    # Given a site in Berlin (UTC+1 in March before the clocks change)
    settings.TIME_ZONE = "Europe/Berlin"
    # When it is 01:30 UTC (02:30 in Berlin), then 02:00 Berlin today (01:00 UTC) is due
    assert latest_due(now=utc("2026-03-11 01:30"), at=AT_2) == utc("2026-03-11 01:00")


def test_nightly_compute_starts_at_last_month():
    # Given a day in March, then the nightly compute stores February and March again
    assert latest_since(today=datetime(2026, 3, 11).date()).isoformat() == "2026-02-01"
    # and in January, December of the year before
    assert latest_since(today=datetime(2026, 1, 2).date()).isoformat() == "2025-12-01"


def test_the_nightly_compute_task_has_the_name_alerts_use():
    # Given the task module, then the nightly compute is a task under its published name
    from django.tasks import Task

    from crm_scorecard.jobs.tasks import nightly_compute

    assert isinstance(nightly_compute, Task)
    assert nightly_compute.module_path == "crm_scorecard.jobs.tasks.nightly_compute"


# ---- the nightly compute, once per due time ---------------------------------------------


def _nightly_runs() -> int:
    return DBTaskResult.objects.filter(task_path="crm_scorecard.jobs.tasks.nightly_compute").count()


@pytest.mark.django_db(transaction=True)  # the engine reads committed rows, over its own connection
def test_nightly_compute_runs_once_per_due_time_however_often_asked(settings):
    # Given the compute is due every day at 02:00, and it is 03:00
    settings.CRM_COMPUTE_AT = "02:00"
    metrics_data.build()
    now = timezone.now().replace(hour=3, minute=0, second=0, microsecond=0)
    # When the worker runs a round, and again (a restart, or cron every five minutes)
    first = Runner(name="w1").round(now=now)
    second = Runner(name="w1-restarted").round(now=now + timedelta(minutes=5))
    # Then the compute was queued and run once, storing from the first of last month
    assert (first.queued, first.ran) == (1, 1)
    assert (second.queued, second.ran) == (0, 0)
    runs = list(FillRun.objects.all())
    assert len(runs) == 1 and runs[0].since == latest_since() and runs[0].error == ""
    assert runs[0].finished_at is not None
    assert list(ScheduleRun.objects.values_list("job", "due_at")) == [
        (NIGHTLY_COMPUTE, now.replace(hour=2))
    ]
    assert _nightly_runs() == 1
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    # When the next night comes, then it runs once more
    third = Runner(name="w1").round(now=now + timedelta(days=1))
    assert (third.queued, FillRun.objects.count()) == (1, 2)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_queue_and_run_the_compute_once(settings):
    # Given the compute is due and two workers start their round at the same moment
    settings.CRM_COMPUTE_AT = "02:00"
    now = timezone.now().replace(hour=3, minute=0, second=0, microsecond=0)
    start = threading.Barrier(2)
    done: dict[str, object] = {}

    def work(name: str) -> None:
        try:
            start.wait(timeout=10)
            done[name] = Runner(name=name).round(now=now)
        except BaseException as exc:  # the assertion below names it
            done[name] = exc
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=work, args=(n,)) for n in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    # Then neither failed, one of them queued it, and it ran once
    assert all(not isinstance(r, BaseException) for r in done.values()), done
    assert sorted(r.queued for r in done.values()) == [0, 1]  # type: ignore[attr-defined]
    assert sum(r.ran for r in done.values()) == 1  # type: ignore[attr-defined]
    assert ScheduleRun.objects.count() == 1
    assert _nightly_runs() == 1
    assert FillRun.objects.count() == 1


# ---- the nightly run's steps: RFM, customer value, cohorts, then the KPIs ------------------


def _cohort_view(result) -> tuple:
    return (result.cohorts, result.months, result.last_month, result.undated)


@pytest.mark.django_db(transaction=True)
def test_one_tick_scores_rfm_refits_value_and_stores_cohorts_once(settings, org):
    # Given 200 simulated customers (enough to fit the value models) and the compute due at
    # 02:00; it is 03:00
    settings.CRM_COMPUTE_AT = "02:00"
    _simulated_shop(org)
    customers = m.Customer.objects.count()
    buyers = m.Customer.objects.filter(orders__isnull=False).distinct().count()
    now = timezone.now().replace(hour=3, minute=0, second=0, microsecond=0)
    today = timezone.localdate()
    # When a worker runs a round, and a restarted one another
    first = Runner(name="w1").round(now=now)
    second = Runner(name="w1-restarted").round(now=now + timedelta(minutes=5))
    # Then one run was queued and ran, once, and succeeded with every step's result
    assert (first.queued, first.ran, second.queued, second.ran) == (1, 1, 0, 0)
    task = DBTaskResult.objects.get()
    assert task.status == "SUCCESSFUL", task.traceback
    assert set(task.return_value) == {"rfm", "value", "cohorts", "kpis"}
    # And every customer was scored once, at today's date
    assert set(RfmScore.objects.values_list("as_of", flat=True)) == {today}
    assert RfmScore.objects.count() == customers
    assert task.return_value["rfm"] == {
        "as_of": today.isoformat(),
        "customers": customers,
        "pruned": 0,
    }
    # And the value models were fitted once, predicting for every customer who bought
    assert ValueFit.objects.count() == 1
    assert CustomerValue.objects.count() == buyers
    assert task.return_value["value"]["customers"] == buyers
    # And the cohorts were stored once, equal to the live computation
    assert CohortSnapshot.objects.count() == 1
    stored = segment_selectors.cohorts(user=None)
    assert stored.computed and stored.cohorts
    assert _cohort_view(stored) == _cohort_view(segment_selectors.cohorts_live(user=None))
    # And the KPIs once, after them
    assert FillRun.objects.count() == 1 and FillRun.objects.get().error == ""
    # When the next night comes, then each runs once more
    third = Runner(name="w1").round(now=now + timedelta(days=1))
    assert (third.queued, third.ran) == (1, 1)
    assert (ValueFit.objects.count(), FillRun.objects.count()) == (2, 2)
    assert CohortSnapshot.objects.count() == 1  # the new one replaced the old


@pytest.mark.django_db(transaction=True)
def test_a_failing_nightly_step_fails_the_run_after_the_others_ran(settings, monkeypatch, caplog):
    # Given the tiny company (too few customers to fit the value models), the compute due,
    # and storing the cohorts failing
    settings.CRM_COMPUTE_AT = "02:00"
    metrics_data.build()
    fits = list(ValueFit.objects.values_list("pk", flat=True))  # its one stored fit

    def broken() -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(segment_services, "cohorts_refresh", broken)
    now = timezone.now().replace(hour=3, minute=0, second=0, microsecond=0)
    said: list[str] = []
    # When the worker runs a round
    done = Runner(name="w1", say=said.append).round(now=now)
    # Then the run is recorded as failed, naming the step and its error, and said so
    assert (done.queued, done.ran) == (1, 1)
    task = DBTaskResult.objects.get()
    assert task.status == "FAILED"
    assert task.exception_class_path == "crm_scorecard.jobs.compute.NightlyStepsFailed"
    assert "1 step(s) failed: cohorts: RuntimeError: disk full" in task.traceback
    assert any(line.endswith(": failed") for line in said), said
    assert "nightly cohorts failed" in caplog.text and "disk full" in caplog.text
    # And the other steps ran: RFM scored today, the KPIs stored; the value models, which
    # cannot be fitted on so few customers, skipped (the fit stored before kept), not failed
    assert RfmScore.objects.filter(as_of=timezone.localdate()).count() == 3
    assert FillRun.objects.count() == 1 and FillRun.objects.get().error == ""
    assert list(ValueFit.objects.values_list("pk", flat=True)) == fits
    assert not CohortSnapshot.objects.exists()
    # And it is not run again for that due time
    again = Runner(name="w2").round(now=now + timedelta(minutes=5))
    assert (again.queued, again.ran) == (0, 0)
    assert DBTaskResult.objects.count() == 1


def test_the_nightly_steps_run_rfm_value_and_cohorts_before_the_kpis():
    # Given the nightly steps, then the KPIs come last: they read the RFM segments and
    # value bands the steps before store
    from crm_scorecard.jobs.compute import NIGHTLY_STEPS

    assert list(NIGHTLY_STEPS) == ["rfm", "value", "cohorts", "kpis"]


def test_nightly_run_reports_each_steps_result_or_why_it_was_skipped(db, monkeypatch):
    # Given steps that answer, one the data cannot support yet, and one that breaks
    from crm_scorecard.jobs import compute

    def fails(day):
        raise ValueError("bad state")

    def cannot(day):
        raise Invalid("too few customers")

    monkeypatch.setattr(
        compute,
        "NIGHTLY_STEPS",
        {"a": lambda day: {"day": day.isoformat()}, "b": cannot, "c": fails, "d": fails},
    )
    # When the nightly run runs on 11 March
    with pytest.raises(compute.NightlyStepsFailed) as raised:
        compute.nightly_run(today=date(2026, 3, 11))
    # Then every step ran; the failures are named, in order, with the others' results
    assert raised.value.failed == {"c": "ValueError: bad state", "d": "ValueError: bad state"}
    assert raised.value.results == {
        "a": {"day": "2026-03-11"},
        "b": {"skipped": "too few customers"},
        "c": {"failed": "ValueError: bad state"},
        "d": {"failed": "ValueError: bad state"},
    }
    # And without failures it returns the results
    monkeypatch.setattr(compute, "NIGHTLY_STEPS", {"a": lambda day: {"ok": 1}, "b": cannot})
    assert compute.nightly_run(today=date(2026, 3, 11)) == {
        "a": {"ok": 1},
        "b": {"skipped": "too few customers"},
    }


def test_the_nightly_rfm_keeps_one_date_a_month_and_moves_read_from_last_months_end(db):
    # Given the tiny company (three customers)
    from crm_scorecard.jobs.compute import rfm_step

    metrics_data.build()
    customers = m.Customer.objects.count()
    assert customers == 3
    # When the nightly RFM step runs on four nights across a month's end
    results = [
        rfm_step(day)
        for day in (date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 11))
    ]
    # Then each night dropped the earlier nights of its own month: 27 February's three rows
    # on the 28th, 1 March's on the 11th, nothing at the month's first night
    assert [r["pruned"] for r in results] == [0, 3, 0, 3]
    assert sorted(set(RfmScore.objects.values_list("as_of", flat=True))) == [
        date(2026, 2, 28),
        date(2026, 3, 11),
    ]
    assert RfmScore.objects.count() == 2 * customers
    # And the moves compare the latest night with the end of last month
    summary = segment_selectors.rfm_summary(user=None)
    assert (summary.as_of, summary.previous) == (date(2026, 3, 11), date(2026, 2, 28))


@pytest.mark.django_db(transaction=True)
def test_a_value_fit_that_does_not_converge_fails_the_nightly_run(org, monkeypatch):
    # Given customers enough to fit the value models, and the BG/NBD fit not converging
    from crm_scorecard.clv import estimation
    from crm_scorecard.jobs import compute

    _simulated_shop(org)

    def diverges(*args, **kwargs):
        raise estimation.FitError("the BG/NBD fit did not converge (ABNORMAL)")

    monkeypatch.setattr(estimation, "bgnbd_fit", diverges)
    monkeypatch.setattr(compute, "NIGHTLY_STEPS", {"value": compute.value_step})
    # When the nightly run runs, then it fails naming the step and why (not "skipped", which
    # is for too little data), and no fit was stored
    with pytest.raises(compute.NightlyStepsFailed) as raised:
        compute.nightly_run(today=date(2026, 3, 11))
    assert raised.value.failed == {
        "value": "RuntimeError: the BG/NBD fit did not converge (ABNORMAL)"
    }
    assert not ValueFit.objects.exists()


# ---- scheduled report emails -----------------------------------------------------------------

REVENUE_CARD = {
    "name": "Revenue card",
    "perspectives": [
        {
            "name": "Financial",
            "goals": [
                {
                    "name": "Sell",
                    "indicators": [
                        {
                            "name": "Revenue",
                            "metric": "revenue",
                            "scope": "company",
                            "baseline": 0,
                            "target": 1000,
                        }
                    ],
                }
            ],
        }
    ],
}


def _breakdown(attachment: bytes) -> list[tuple[object, ...]]:
    ws = load_workbook(io.BytesIO(attachment))["Breakdowns"]
    return [tuple(ws.cell(r, c).value for c in range(1, 5)) for r in range(2, ws.max_row + 1)]


@pytest.mark.django_db(transaction=True)
def test_scheduled_report_is_mailed_once_to_each_recipient_as_they_see_it(settings):
    # Given the tiny company plus last month's orders (the month pages open on): M-Sales'
    # customers bought Accessories for 20 and Devices for 40, an M-Service customer Devices
    # for 70; its KPIs stored, and an M-Sales scorecard with company-wide revenue
    settings.CRM_REPORTS_AT = "06:00"
    settings.CRM_COMPUTE_AT = "02:00"
    departments = metrics_data.build()
    last_month = shift_months(month_of(date.today()), -1)
    day = datetime.combine(month_first(last_month), time(12), tzinfo=UTC) + timedelta(days=9)
    for n, (customer, sku, amount) in enumerate(
        [("MC1", "M-ACC", 20), ("MC2", "M-STD", 40), ("MC3", "M-STD", 70)], start=7
    ):
        order = m.Order.objects.create(
            external_id=f"MO{n}",
            customer=m.Customer.objects.get(external_id=customer),
            ordered_at=day,
            channel="online",
        )
        m.OrderLine.objects.create(
            order=order, line_no=1, product=m.Product.objects.get(sku=sku), amount=Decimal(amount)
        )
    kpis_compute()
    card = scorecard_import(card=files.parse(REVENUE_CARD), department=departments["sales"])
    manager = UserFactory(
        username="m-manager",
        email="manager@example.com",
        level=Level.MANAGER,
        departments=[departments["sales"]],
    )
    boss = UserFactory(username="m-boss", email="boss@example.com", level=Level.EXECUTIVE)
    nomail = UserFactory(username="m-nomail", level=Level.EXECUTIVE)
    # And the manager schedules the workbook by product category every day for the two of
    # them and a colleague without an email address, and the board pack weekly for the boss
    workbook = services.scheduled_report_create(
        actor=manager,
        scorecard=card,
        format="xlsx",
        frequency=Frequency.DAILY,
        breakdown="product_category",
        recipients=[manager, boss, nomail],
    )
    pack = services.scheduled_report_create(
        actor=manager,
        scorecard=card,
        format="pdf",
        frequency=Frequency.WEEKLY,
        recipients=[boss],
    )
    # When the worker runs at 07:00 on the next Monday after they were scheduled, and again
    # (that night's compute has run: the KPIs stay as stored above)
    monday = timezone.now() + timedelta(days=7 - timezone.now().weekday())
    now = monday.replace(hour=7, minute=0, second=0, microsecond=0)
    ScheduleRun.objects.create(job=NIGHTLY_COMPUTE, due_at=latest_due(now=now, at=AT_2))
    Runner(name="w1").round(now=now)
    Runner(name="w2").round(now=now + timedelta(minutes=5))
    # Then each recipient with an address got each of their reports once (3 mails, not 6)
    sent = sorted((msg.to[0], msg.attachments[0].filename) for msg in mail.outbox)
    assert sent == [
        ("boss@example.com", f"revenue-card-m-sales-{last_month}.pdf"),
        ("boss@example.com", f"revenue-card-m-sales-{last_month}.xlsx"),
        ("manager@example.com", f"revenue-card-m-sales-{last_month}.xlsx"),
    ]
    by_file = {(msg.to[0], msg.attachments[0].filename[-4:]): msg for msg in mail.outbox}
    # And each workbook was built as its recipient sees the company: the manager's holds
    # only M-Sales' customers, the boss's the whole company
    manager_book = by_file[("manager@example.com", "xlsx")].attachments[0]
    boss_book = by_file[("boss@example.com", "xlsx")].attachments[0]
    assert manager_book.mimetype.startswith("application/vnd.openxmlformats")
    assert _breakdown(manager_book.content) == [
        ("Revenue", "product_category", "Accessories", 20),
        ("Revenue", "product_category", "Devices", 40),
    ]
    assert _breakdown(boss_book.content) == [
        ("Revenue", "product_category", "Accessories", 20),
        ("Revenue", "product_category", "Devices", 110),
    ]
    # And the board pack is a real PDF of the scorecard for last month
    pdf = by_file[("boss@example.com", ".pdf")]
    assert pdf.attachments[0].content.startswith(b"%PDF-")
    text = "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(pdf.attachments[0].content)).pages
    )
    assert "Revenue card" in text and last_month in text
    assert pdf.subject == f"Revenue card (M-Sales): PDF board pack for {last_month}"
    # And the run says who was skipped and why
    result = DBTaskResult.objects.get(args_kwargs__kwargs__report_id=workbook.pk)
    assert result.return_value == {
        "sent": ["m-boss", "m-manager"],
        "skipped": ["m-nomail: no email address"],
    }
    assert ScheduleRun.objects.filter(job__startswith="report:").count() == 2
    pack.refresh_from_db()
    assert pack.last_sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_recipient_who_left_the_department_gets_nothing(settings):
    settings.CRM_COMPUTE_AT = "02:00"
    # Given a daily workbook scheduled for a Sales analyst, who then moves to another team
    departments = metrics_data.build()
    kpis_compute()
    card = scorecard_import(card=files.parse(REVENUE_CARD), department=departments["sales"])
    manager = UserFactory(
        username="m-manager", level=Level.MANAGER, departments=[departments["sales"]]
    )
    analyst = UserFactory(
        username="m-analyst",
        email="analyst@example.com",
        level=Level.ANALYST,
        departments=[departments["sales"]],
    )
    services.scheduled_report_create(
        actor=manager, scorecard=card, format="xlsx", frequency="daily", recipients=[analyst]
    )
    analyst.departments.set([departments["service"]])
    # When the report is due (and that night's compute has run)
    now = timezone.now() + timedelta(days=1)
    ScheduleRun.objects.create(job=NIGHTLY_COMPUTE, due_at=latest_due(now=now, at=AT_2))
    Runner(name="w1").round(now=now)
    # Then no mail went out: the analyst no longer sees the scorecard
    assert mail.outbox == []
    result = DBTaskResult.objects.get(task_path__endswith="scheduled_report_send")
    assert result.return_value["skipped"] == ["m-analyst: cannot see the scorecard"]


def test_recipients_must_see_the_scorecard(org):
    # Given a Sales scorecard
    card = scorecard_import(card=files.parse(REVENUE_CARD), department=org.sales)
    # When its manager schedules it for a Customer Service agent
    with pytest.raises(Invalid, match="service-agent cannot see Sales"):
        services.scheduled_report_create(
            actor=org.sales_manager,
            scorecard=card,
            format="pdf",
            frequency="weekly",
            recipients=[org.sales_analyst, org.service_agent],
        )
    # Then nothing was scheduled
    assert not ScheduledReport.objects.exists()


# ---- the command ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker_once_runs_what_is_due_and_exits(capsys):
    # Given a database with nothing queued, when `worker --once` runs twice
    call_command("worker", "--once")
    call_command("worker", "--once")
    out = capsys.readouterr().out
    # Then the first queued and ran the nightly compute, the second found nothing to do
    assert "queued 1 scheduled run(s), ran 1 job(s)" in out
    assert "queued 0 scheduled run(s), ran 0 job(s)" in out
    assert FillRun.objects.count() == 1
    # And --burst runs only what is queued (nothing), never the schedule
    call_command("worker", "--burst")
    assert "queued 0 scheduled run(s), ran 0 job(s)" in capsys.readouterr().out


def test_worker_from_the_command_line(tmp_path):
    # Given a fresh SQLite database
    db = tmp_path / "worker.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm_scorecard.settings.local",
        "DATABASE_URL": f"sqlite:///{db}",
        "CRM_DATA_DIR": str(tmp_path),
    }
    command = str(Path(sys.executable).parent / "crm-scorecard")
    subprocess.run([command, "migrate"], env=env, check=True, capture_output=True)
    # When cron runs `crm-scorecard worker --once` twice
    runs = [
        subprocess.run(
            [command, "worker", "--once"], env=env, capture_output=True, text=True, timeout=300
        )
        for _ in range(2)
    ]
    # Then both exit 0; the first ran the nightly compute, the second nothing
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert "queued nightly-compute" in runs[0].stdout
    assert runs[0].stdout.strip().endswith("queued 1 scheduled run(s), ran 1 job(s)")
    assert runs[1].stdout.strip().endswith("queued 0 scheduled run(s), ran 0 job(s)")
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM jobs_schedulerun").fetchone() == (1,)
        assert con.execute(f"SELECT status FROM {DBTaskResult._meta.db_table}").fetchall() == [
            ("SUCCESSFUL",)
        ]


def test_worker_refuses_a_bad_interval(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--interval"):
        call_command("worker", "--interval", "0")


@pytest.mark.django_db(transaction=True)
def test_the_demo_schedules_sales_board_pack_once():
    # Given the demo run twice (a small company)
    for _ in range(2):
        call_command("demo", "--no-serve", "--customers", "200", "--months", "13", verbosity=0)
    # Then Sales' first scorecard is mailed monthly as a board pack to its manager and the
    # CEO, once, each with an address to receive it
    report = ScheduledReport.objects.select_related("scorecard__department").get()
    assert report.scorecard.department.name == "Sales"
    assert (report.format, report.frequency, report.created_by.username) == (
        "pdf",
        "monthly",
        "sales-manager",
    )
    assert sorted(report.recipients.values_list("username", "email")) == [
        ("ceo", "ceo@demo.example"),
        ("sales-manager", "sales-manager@demo.example"),
    ]
