"""Analysis: what to fix first, forecast; the month pages open on."""

from __future__ import annotations

import pytest

from crm_scorecard.scorecards import analysis
from crm_scorecard.scorecards.scoring import Goal, Indicator, Perspective, Scorecard, evaluate


def card(*indicators: Indicator) -> Scorecard:
    return Scorecard(
        name="C",
        perspectives=[Perspective(name="P", goals=[Goal(name="G", indicators=list(indicators))])],
    )


def test_forecast_extends_the_line_to_the_target():
    # Given 0.86, 0.88, 0.90 in Jan-Mar towards 0.95: +0.02 a month reaches 0.95 at March + 2.5
    ind = Indicator(
        name="R",
        baseline=0.85,
        target=0.95,
        values={"2026-01": 0.86, "2026-02": 0.88, "2026-03": 0.90},
    )
    # Then the first whole month at or after the crossing is June
    assert analysis.forecast(ind, end="2026-03") == "2026-06"


def test_forecast_none_when_heading_away_or_too_few_points():
    # Given a falling maximize series, and one with two points
    falling = Indicator(
        name="R",
        baseline=0.85,
        target=0.95,
        values={"2026-01": 0.90, "2026-02": 0.89, "2026-03": 0.88},
    )
    short = Indicator(
        name="R", baseline=0.85, target=0.95, values={"2026-02": 0.88, "2026-03": 0.90}
    )
    # Then there is no forecast
    assert analysis.forecast(falling, end="2026-03") is None
    assert analysis.forecast(short, end="2026-03") is None


def test_forecast_for_minimize_and_already_met():
    # Given handle time falling 300, 280, 260 towards 200: -20 a month reaches 200 three months after March
    aht = Indicator(
        name="AHT",
        baseline=320,
        target=200,
        optimization="minimize",
        values={"2026-01": 300, "2026-02": 280, "2026-03": 260},
    )
    assert analysis.forecast(aht, end="2026-03") == "2026-06"
    # And a target already met is forecast for the last month
    met = Indicator(
        name="R", baseline=0, target=1, values={"2026-01": 0.5, "2026-02": 0.9, "2026-03": 1.2}
    )
    assert analysis.forecast(met, end="2026-03") == "2026-03"


def test_fix_first_ranks_by_what_fixing_gains():
    # Given three indicators scoring 1.0 (w1), 0.5 (w1), 0.2 (w2) and one without data
    c = card(
        Indicator(name="A", baseline=0, target=1, value=1.0),
        Indicator(name="B", baseline=0, target=1, value=0.5),
        Indicator(name="C", baseline=0, target=1, value=0.2, weight=2),
        Indicator(name="D", baseline=0, target=1),
    )
    result = evaluate(c)
    # Then fix first: C 0.4 * 0.8 = 0.32, B 0.2 * 0.5 = 0.1; A has nothing to gain
    ranked = analysis.fix_first(result)
    assert [(p.name, round(p.impact, 6)) for p in ranked] == [("C", 0.32), ("B", 0.1)]


@pytest.mark.django_db
def test_pages_open_on_the_latest_complete_month():
    from datetime import date

    from crm_scorecard.metrics.models import KpiValue
    from crm_scorecard.periods import month_of
    from crm_scorecard.periods import shift_months as shift
    from crm_scorecard.scorecards.selectors import latest_period

    current = month_of(date.today())
    # Given nothing computed, pages open on the current month
    assert latest_period() == current
    # Given values up to an old month, that month
    KpiValue.objects.create(metric="revenue", grain="month", period_start=date(2025, 3, 1), value=1)
    assert latest_period() == "2025-03"
    # Given values for the current, unfinished month, the month before it
    KpiValue.objects.create(
        metric="revenue", grain="month", period_start=date.today().replace(day=1), value=1
    )
    assert latest_period() == shift(current, -1)
