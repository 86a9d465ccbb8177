"""Targets fitted from a department's track record (scorecards.fitting)."""

from __future__ import annotations

import pytest

from crm_scorecard.scorecards import scoring
from crm_scorecard.scorecards.fitting import fit, nice_steps
from crm_scorecard.scorecards.scoring import Optimization, Status, Thresholds

COLOURS = [Status.GREEN, Status.YELLOW, Status.RED]
REVENUE = [81_250.0, 90_410.0, 77_900.0, 95_120.0, 88_000.0, 84_300.0, 99_870.0]
WAIT = [72.4, 64.9, 81.2, 58.3, 69.0, 75.5, 61.4]


def score(candidate, optimization, value):
    return scoring.performance(candidate.scoring(optimization), value)


@pytest.mark.parametrize("colour", COLOURS)
@pytest.mark.parametrize(
    ("optimization", "history"),
    [(Optimization.MAXIMIZE, REVENUE), (Optimization.MINIMIZE, WAIT)],
)
def test_the_latest_month_shows_the_colour_asked_for(optimization, history, colour):
    # Given a department's last months
    *before, latest = history
    # When targets are fitted for a colour
    found = fit(
        optimization=optimization,
        history=before,
        latest=latest,
        colour=colour,
        thresholds=Thresholds(),
    )
    # Then the latest month shows it, with a score strictly between 0 and 1
    assert found is not None
    got = score(found, optimization, latest)
    assert 0 < got < 1 and Thresholds().status(got) == colour
    # And the target lies on the side the optimization asks for
    if optimization == Optimization.MAXIMIZE:
        assert found.baseline < latest < found.target
    else:
        assert found.target < latest < found.baseline
    # And baseline and target are round: whole multiples of a 1-2-5 step of at least
    # a fiftieth of their distance
    step = abs(found.target - found.baseline) / 50
    assert any(
        float(found.target / s).is_integer() and float(found.baseline / s).is_integer()
        for s in nice_steps(abs(found.target - found.baseline) * 10)
        if s >= step
    ), found


def test_a_rate_is_never_asked_beyond_100_percent():
    # Given a satisfaction rate close to 100%
    # When a red target is fitted
    found = fit(
        optimization=Optimization.MAXIMIZE,
        history=[0.93, 0.95, 0.96, 0.94],
        latest=0.95,
        colour=Status.RED,
        thresholds=Thresholds(),
        bounds=(0.0, 1.0),
    )
    # Then the target is at most 100% and the month still shows red
    assert found is not None and found.target <= 1.0
    assert Thresholds().status(score(found, Optimization.MAXIMIZE, 0.95)) == Status.RED


def test_a_value_at_the_edge_of_its_range_cannot_show_every_colour():
    # Given a rate at 100% this month
    # When a yellow target is asked for
    found = fit(
        optimization=Optimization.MAXIMIZE,
        history=[0.9, 1.0, 0.95],
        latest=1.0,
        colour=Status.YELLOW,
        thresholds=Thresholds(),
        bounds=(0.0, 1.0),
    )
    # Then none is offered (a rate cannot beat 100%)
    assert found is None


def test_a_band_puts_the_value_on_its_slope():
    # Given handle times around five and a half minutes
    # When a yellow band is fitted
    found = fit(
        optimization=Optimization.BAND,
        history=[331.0, 352.0, 318.0, 344.0],
        latest=336.0,
        colour=Status.YELLOW,
        thresholds=Thresholds(),
        bounds=(0.0, float("inf")),
    )
    # Then the band is valid and the value scores yellow on it
    assert found is not None and found.min is not None and found.max is not None
    assert found.min <= found.target - found.tolerance < found.target + found.tolerance
    assert Thresholds().status(score(found, Optimization.BAND, 336.0)) == Status.YELLOW
