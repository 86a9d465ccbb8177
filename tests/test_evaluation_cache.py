"""Scored scorecards are cached, and never served stale: every change to what a score is
computed from (values, targets, structure, cascaded parents, KPI fills) gives a new score."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from django.core.cache import cache

from crm_scorecard.metrics.models import FillRun, KpiValue
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Goal, Indicator, Perspective, Scorecard
from crm_scorecard.scorecards.selectors import evaluation
from crm_scorecard.scorecards.services import (
    goal_cascade,
    indicator_save,
    manual_value_set,
    scorecard_import,
)

from .factories import DepartmentFactory

pytestmark = pytest.mark.django_db

JAN = "2026-01"


def card(name: str, indicators: list[dict]) -> files.ScorecardFile:
    return files.parse(
        {
            "name": name,
            "perspectives": [
                {"name": "Customer", "goals": [{"name": f"{name} goal", "indicators": indicators}]}
            ],
        }
    )


@pytest.fixture
def sales_card() -> Scorecard:
    # Manual 5 of 10 (0.5) and Sales' revenue 50 of 100 (0.5), equal weights: 0.5
    sales = DepartmentFactory(name="Sales")
    KpiValue.objects.create(
        metric="revenue", grain="month", period_start=date(2026, 1, 1), department=sales, value=50
    )
    return scorecard_import(
        card=card(
            "Sales",
            [
                {"name": "Manual", "values": {JAN: 5}, "baseline": 0, "target": 10},
                {"name": "Revenue", "metric": "revenue", "baseline": 0, "target": 100},
            ],
        ),
        department=sales,
    )


def fresh(scorecard: Scorecard) -> Scorecard:
    """The scorecard as the next request loads it."""
    return Scorecard.objects.get(pk=scorecard.pk)


def test_a_second_view_is_served_from_the_cache(sales_card, django_assert_num_queries):
    first = evaluation(scorecard=fresh(sales_card), period=JAN)
    assert first.result.score == pytest.approx(0.5)
    # Only the lookup that says which KPI values are stored; no scoring queries
    loaded = fresh(sales_card)
    with django_assert_num_queries(1):
        again = evaluation(scorecard=loaded, period=JAN)
    assert again.result.score == pytest.approx(0.5)
    assert again.scorecard.pk == sales_card.pk


def test_a_manual_value_changes_the_cached_score(sales_card):
    evaluation(scorecard=fresh(sales_card), period=JAN)
    manual_value_set(indicator=Indicator.objects.get(name="Manual"), period=JAN, value=10)
    # 1.0 and 0.5
    assert evaluation(scorecard=fresh(sales_card), period=JAN).result.score == pytest.approx(0.75)


def test_a_new_target_changes_the_cached_score(sales_card):
    evaluation(scorecard=fresh(sales_card), period=JAN)
    revenue = Indicator.objects.get(name="Revenue")
    revenue.target = 50
    indicator_save(indicator=revenue)
    # 0.5 and 50 of 50 = 1.0
    assert evaluation(scorecard=fresh(sales_card), period=JAN).result.score == pytest.approx(0.75)


def test_new_kpi_values_change_the_cached_score(sales_card):
    evaluation(scorecard=fresh(sales_card), period=JAN)
    # A fill run replaces January's revenue with 100 (as `compute` does: delete, insert)
    run = FillRun.objects.create(grain="month", metrics=["revenue"])
    KpiValue.objects.filter(metric="revenue").delete()
    KpiValue.objects.create(
        metric="revenue",
        grain="month",
        period_start=date(2026, 1, 1),
        department=sales_card.department,
        value=100,
    )
    # 0.5 and 1.0, even before the run is marked finished
    assert evaluation(scorecard=fresh(sales_card), period=JAN).result.score == pytest.approx(0.75)
    run.save()  # finished, nothing else changed: same score, recomputed or not
    assert evaluation(scorecard=fresh(sales_card), period=JAN).result.score == pytest.approx(0.75)


def test_a_parent_change_reaches_a_cascaded_goal(sales_card):
    # Given the Sales goal cascaded into a sub-team's scorecard, scored and cached
    sales = sales_card.department
    team_card = scorecard_import(
        card=files.parse({"name": "Team", "perspectives": [{"name": "Customer"}]}),
        department=DepartmentFactory(name="Team", parent=sales),
    )
    goal_cascade(
        source=Goal.objects.get(name="Sales goal"),
        perspective=Perspective.objects.get(scorecard=team_card),
    )
    assert evaluation(scorecard=fresh(team_card), period=JAN).result.score == pytest.approx(0.5)
    # When the parent's manual value changes, then the team's score follows
    manual_value_set(
        indicator=Indicator.objects.get(name="Manual", goal__perspective__scorecard=sales_card),
        period=JAN,
        value=10,
    )
    assert evaluation(scorecard=fresh(team_card), period=JAN).result.score == pytest.approx(0.75)


def test_server_processes_share_one_cache():
    # Given another process of the app (as gunicorn runs several) storing an entry
    code = (
        "import django; django.setup(); from django.core.cache import cache; "
        "cache.set('written-by-another-process', 42)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())
    # Then this process reads it: a sign-out or a new score in one process holds in all
    assert cache.get("written-by-another-process") == 42


def test_an_entry_pickled_by_the_previous_release_is_never_read(sales_card):
    # Given an entry the previous release cached (its key named no shape), of another shape
    from crm_scorecard.scorecards.selectors import EVALUATION_SHAPE, evaluation_key

    key, _, _ = evaluation_key(scorecard=fresh(sales_card), period=JAN)
    cache.set(key.replace(f"v{EVALUATION_SHAPE}:", ""), "an evaluation of the old shape")
    # When the scorecard is evaluated, then it is scored afresh, not read from that entry
    assert evaluation(scorecard=fresh(sales_card), period=JAN).result.score == pytest.approx(0.5)
