"""`crm-scorecard demo`: a company that looks like one, and only where a demo belongs."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max

from crm_scorecard.accounts.models import Department, User
from crm_scorecard.crm import models as m
from crm_scorecard.scorecards import scoring
from crm_scorecard.scorecards.models import Indicator, Initiative, ManualValue, Scorecard
from crm_scorecard.scorecards.selectors import latest_period, shift
from crm_scorecard.scorecards.services import scorecard_scoring

DATED = {
    m.Order: ["ordered_at"],
    m.Interaction: ["started_at"],
    m.Feedback: ["submitted_at"],
    m.Complaint: ["opened_at", "resolved_at", "first_response_at"],
    m.Lead: ["created_at", "converted_at", "lost_at"],
    m.Customer: ["acquired_at"],
    m.EngagementAnswer: ["answered_at"],
}


def run_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", "--no-serve", *args, stdout=out, verbosity=0)
    return out.getvalue()


def indicator_scores(period: str) -> dict[str, scoring.Result]:
    """Every indicator of every stored scorecard, scored for `period`, by indicator id."""
    found: dict[str, scoring.Result] = {}
    for card in Scorecard.objects.all():
        result = scoring.evaluate(scorecard_scoring(card), period=period)
        found.update({n.key: n for n in result.walk() if n.kind == "indicator"})
    return found


@pytest.mark.django_db(transaction=True)
def test_demo_looks_like_a_company():
    # Given an empty database
    # When a small demo is prepared
    run_demo("--customers", "300", "--months", "14")
    # Then every department and sub-department has a scorecard of its own
    departments = set(Department.objects.values_list("name", flat=True))
    with_cards = set(Scorecard.objects.values_list("department__name", flat=True))
    assert len(departments) == 9 and with_cards == departments
    # And every leaf department looks after customers
    for leaf in Department.objects.filter(children__isnull=True):
        assert m.Customer.objects.filter(department=leaf).count() >= 5, leaf.name
    # And the latest complete month shows about a third of the indicators in each colour
    period = latest_period()
    assert period == shift(f"{date.today():%Y-%m}", -1)
    latest = indicator_scores(period)
    mix = Counter(n.status for n in latest.values())
    total = len(latest)
    assert total == Indicator.objects.count()
    assert mix[scoring.Status.GREY] <= 0.1 * total, mix
    for colour in (scoring.Status.GREEN, scoring.Status.YELLOW, scoring.Status.RED):
        assert 0.2 * total <= mix[colour] <= 0.5 * total, mix
    # And no indicator scores exactly 0 or 1 in every one of the last 12 months
    history: dict[str, list[float]] = defaultdict(list)
    for back in range(12):
        for key, node in indicator_scores(shift(period, -back)).items():
            if node.score is not None:
                history[key].append(node.score)
    stuck = [latest[key].name for key, scores in history.items() if set(scores) <= {0.0, 1.0}]
    assert not stuck
    # And some goals have initiatives with owners and due dates, and manual indicators
    # have values entered for the last months
    initiatives = Initiative.objects.all()
    assert initiatives.count() >= 5
    assert all(i.owner and i.start and i.due and i.due >= i.start for i in initiatives)
    manual = Indicator.objects.filter(metric="")
    assert manual.count() >= 5
    for indicator in manual:
        entered = ManualValue.objects.filter(indicator=indicator)
        assert entered.count() >= 6, indicator.name
        assert entered.aggregate(x=Max("period_start"))["x"].strftime("%Y-%m") == period
    # And every metric indicator's headline on every scorecard equals the metric computed
    # live for that scorecard's department (`metrics show KEY --filter department=D`), or
    # for the company where the indicator says so
    from crm_scorecard.metrics.api import engine_for
    from crm_scorecard.scorecards.selectors import indicator_filters

    start = date(int(period[:4]), int(period[5:]), 1)
    checked = 0
    with engine_for() as engine:
        for indicator in Indicator.objects.exclude(metric="").select_related(
            "goal__perspective__scorecard__department"
        ):
            node = latest[str(indicator.pk)]
            if node.value_period != period or indicator.update_interval != "month":
                continue  # shown as the latest earlier value (stale): nothing to compare
            live = engine.compute(
                indicator.metric,
                filters=indicator_filters(indicator=indicator),
                since=start,
                until=start,
            )
            assert [v for *_, v in live] == [pytest.approx(node.value)], indicator.name
            checked += 1
    assert checked >= 0.6 * Indicator.objects.exclude(metric="").count()
    # And no record is dated after today
    today = date.today()
    for model, fields in DATED.items():
        for name in fields:
            newest = model.objects.aggregate(x=Max(name))["x"]
            assert newest is None or newest.date() <= today, (model.__name__, name, newest)


@pytest.mark.django_db(transaction=True)
def test_demo_is_refused_on_a_database_with_real_users():
    # Given a database holding a real user
    User.objects.create_user(username="alice", password="a-long-Pass-phrase")
    # When the demo is asked for, then it is refused, naming the user
    with pytest.raises(CommandError, match="alice"):
        run_demo("--customers", "20", "--months", "2")
    # And nothing was added: no demo users, no company, no scorecards
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
    assert not m.Customer.objects.exists() and not m.Employee.objects.exists()
    assert not Department.objects.exists() and not Scorecard.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_demo_is_refused_under_production_settings(settings):
    # Given settings that forbid the demo, as production's do
    settings.DEMO_ALLOWED = False
    # When the demo is asked for, then it is refused with the reason
    with pytest.raises(CommandError, match="refused under these settings"):
        run_demo("--customers", "20", "--months", "2")
    # And nothing was added
    assert not User.objects.exists() and not m.Customer.objects.exists()
