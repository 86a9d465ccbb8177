"""Targets a department would set from its own track record, for the demo company.

A template's targets fit a mid-sized company, not the demo's departments: left as they are,
a small team's scorecard is red everywhere and a big one's green. Here each metric
indicator's baseline and target are set from the stored monthly series its scorecard
reads (the department's subtree, or the whole company), the way a manager would: round
numbers a little beyond or short of the latest month, so that over all scorecards about a
third of the indicators are green, a third yellow and a third red, and none sits at a
score of 0 or 1 month after month. Manual indicators keep their targets and get a few
months of entered values instead. Seeded: the same data and seed give the same targets."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from crm_scorecard.metrics.units import Unit
from crm_scorecard.periods import month_index as period_index
from crm_scorecard.periods import shift_months as shift

from . import scoring
from .models import Indicator, Scorecard
from .scoring import (
    INTERVAL_MONTHS,
    Optimization,
    Period,
    Status,
    Thresholds,
    latest_at,
)
from .selectors import kpi_history, metric_units
from .services import indicator_save, manual_value_set

# The range a unit's values can take: a rate cannot beat 100%, nor a count go below 0.
UNIT_BOUNDS: dict[str, tuple[float, float]] = {
    Unit.PERCENT: (0.0, 1.0),
    Unit.SCORE: (1.0, 5.0),
    Unit.NPS: (-100.0, 100.0),
}
DEFAULT_BOUNDS = (0.0, math.inf)
COLOURS = (Status.GREEN, Status.YELLOW, Status.RED)
HISTORY_MONTHS = 12  # the track record a target is set from
MANUAL_MONTHS = 9  # how many months of values people have entered
FITTED = (Optimization.MAXIMIZE, Optimization.MINIMIZE, Optimization.BAND)


@dataclass
class FitSummary:
    """What the fitting did: the colour each indicator was meant to show in `period`, and
    the indicators it left as they were (no value that month, or a kind it does not fit)."""

    period: Period
    planned: dict[int, Status] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)

    def mix(self) -> Counter[Status]:
        return Counter(self.planned.values())


def aim(colour: Status, thresholds: Thresholds) -> float:
    """The score to aim for to show `colour`: well inside its band, never 0 or 1."""
    if colour == Status.GREEN:
        return (thresholds.green + 1) / 2
    if colour == Status.YELLOW:
        return (thresholds.yellow + thresholds.green) / 2
    return thresholds.yellow * 0.6


def nice_steps(width: float) -> list[float]:
    """Rounding steps for targets a person would write, coarse to fine: a tenth of `width`
    rounded down to 1, 2 or 5 times a power of ten, then finer ones."""
    if width <= 0 or not math.isfinite(width):
        return [1.0]
    steps: list[float] = []
    power = 10 ** math.floor(math.log10(width / 10))
    for exponent in range(0, -4, -1):
        for mantissa in (5, 2, 1):
            step = mantissa * power * 10**exponent
            if step <= width / 10 + 1e-12:
                steps.append(step)
    return steps


def snap(x: float, step: float) -> float:
    """`x` to the nearest multiple of `step`, without float dust (0.30000000000000004)."""
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return round(round(x / step) * step, digits)


@dataclass(frozen=True)
class Candidate:
    baseline: float
    target: float
    min: float | None = None
    max: float | None = None
    tolerance: float = 0.0

    def scoring(self, optimization: Optimization) -> scoring.Indicator:
        return scoring.Indicator(
            name="fit",
            baseline=self.baseline,
            target=self.target,
            optimization=optimization,
            min=self.min,
            max=self.max,
            tolerance=self.tolerance,
        )


def _valid(c: Candidate, optimization: Optimization) -> bool:
    try:
        c.scoring(optimization).check("fit")
    except scoring.DefinitionError:
        return False
    return True


def _towards(v: float, s: float, width: float, lo: float, hi: float) -> tuple[float, float]:
    """Baseline and target (to maximize) that score `s` for value `v`, `width` apart where
    the unit's range allows it."""
    baseline = v - s * width
    target = baseline + width
    if target > hi:
        target = hi
        baseline = (v - s * target) / (1 - s)
    if baseline < lo:
        baseline = lo
        target = min(hi, baseline + (v - baseline) / s) if v > baseline else baseline + width
    return baseline, target


def _raw(
    optimization: Optimization, v: float, s: float, width: float, bounds: tuple[float, float]
) -> Candidate:
    lo, hi = bounds
    if optimization == Optimization.MINIMIZE:
        # Minimizing v is maximizing -v: mirror the value and the unit's range.
        baseline, target = _towards(-v, s, width, -hi, -lo)
        return Candidate(baseline=-baseline, target=-target)
    if optimization == Optimization.BAND:
        # The band sits just below (or above) the value, so the value lies on its slope.
        tolerance = width / 10
        reach = width  # from the band's edge to where the score reaches 0
        centre = v - (tolerance + (1 - s) * reach)
        low = max(lo, centre - tolerance - reach)
        return Candidate(
            baseline=centre + tolerance + reach,
            target=centre,
            min=low,
            max=centre + tolerance + reach,
            tolerance=tolerance,
        )
    baseline, target = _towards(v, s, width, lo, hi)
    return Candidate(baseline=baseline, target=target)


def _rounded(c: Candidate, step: float) -> Candidate:
    return Candidate(
        baseline=snap(c.baseline, step),
        target=snap(c.target, step),
        min=None if c.min is None else snap(c.min, step),
        max=None if c.max is None else snap(c.max, step),
        tolerance=snap(c.tolerance, step),
    )


def fit(
    *,
    optimization: Optimization,
    history: list[float],
    latest: float,
    colour: Status,
    thresholds: Thresholds,
    bounds: tuple[float, float] = DEFAULT_BOUNDS,
) -> Candidate | None:
    """Round baseline and target (min, max and tolerance for a band) under which `latest`
    shows `colour`, about as far apart as the history swings, so months differ in score;
    the coarsest rounding that keeps the colour. None when no rounding keeps it (a value at
    the edge of its range: a rate of 100% cannot be short of its target)."""
    s = aim(colour, thresholds)
    values = sorted([*history, latest])
    middle = values[len(values) // 2]
    # Twice the interquartile range: the swing of an ordinary month, not of the odd one.
    width = max(
        2 * (values[(3 * len(values)) // 4] - values[len(values) // 4]),
        0.2 * abs(middle),
        # A series that is mostly nothing (no leaver most months): its range, then its latest.
        (values[-1] - values[0]) / 2,
        0.2 * abs(latest),
    )
    lo, hi = bounds
    if lo >= 0 and middle > 0:
        width = min(width, 0.8 * middle)  # a baseline of nothing is no baseline
    width = max(width, 1e-6)
    if math.isfinite(hi) and math.isfinite(lo):
        width = min(width, hi - lo)
    raw = _raw(optimization, latest, s, width, bounds)
    for step in nice_steps(width):
        candidate = _rounded(raw, step)
        if not _valid(candidate, optimization):
            continue
        score = scoring.performance(candidate.scoring(optimization), latest)
        if 0 < score < 1 and thresholds.status(score) == colour:
            return candidate
    return None


def _thresholds(indicator: Indicator, scorecard: Scorecard) -> Thresholds:
    if indicator.green is not None and indicator.yellow is not None:
        return Thresholds(indicator.green, indicator.yellow)
    return Thresholds(scorecard.green, scorecard.yellow)


def _series(indicator: Indicator, scorecard: Scorecard, period: Period) -> dict[Period, float]:
    """The indicator's stored monthly values over the track record up to `period`."""
    filter_ = (
        {indicator.filter_dimension: indicator.filter_value} if indicator.filter_dimension else None
    )
    department = None if indicator.scope == Indicator.Scope.COMPANY else scorecard.department
    first = period_index(shift(period, -(HISTORY_MONTHS - 1)))
    return {
        p: v
        for p, v in kpi_history(indicator.metric, filter_, department=department).items()
        if v is not None and first <= period_index(p) <= period_index(period)
    }


def indicator_targets_fit(
    *, indicator: Indicator, scorecard: Scorecard, period: Period, colour: Status, unit: str
) -> str | None:
    """Set a metric indicator's baseline and target (min, max and tolerance for a band)
    from its department's series so that `period` shows `colour`; saved through
    `indicator_save`. Returns why it was left as it was, or None when fitted."""
    series = _series(indicator, scorecard, period)
    # The value the page shows for `period`: the latest within the indicator's interval
    # (a quarterly survey's last quarter).
    found = latest_at(series, period)
    interval = INTERVAL_MONTHS.get(indicator.update_interval, 1)
    if found is None or period_index(period) - period_index(found[0]) >= interval:
        return f"no value for {period}"
    shown_period, latest = found
    if latest is None:
        return f"no value for {period}"
    optimization = Optimization(indicator.optimization)
    history = [v for p, v in series.items() if p != shown_period]
    thresholds = _thresholds(indicator, scorecard)
    bounds = UNIT_BOUNDS.get(indicator.unit or unit, DEFAULT_BOUNDS)
    values = sorted(series.values(), reverse=optimization == Optimization.MINIMIZE)
    # A value at the edge of its range (no up-sell at all this month, every rating
    # satisfied) cannot show every colour; then the targets fit an ordinary month (the
    # median, the mean), or at last put the best month just short of the target, so the
    # months still show how far off the target they are.
    tries = [
        (latest, colour),
        (values[len(values) // 2], colour),
        (sum(values) / len(values), colour),
        (values[-1], Status.GREEN),
    ]
    candidate = None
    for shown, wanted in tries:
        candidate = fit(
            optimization=optimization,
            history=history,
            latest=shown,
            colour=wanted,
            thresholds=thresholds,
            bounds=bounds,
        )
        if candidate is not None:
            as_scored = candidate.scoring(optimization)
            if any(0 < scoring.performance(as_scored, v) < 1 for v in values):
                break
            candidate = None
    if candidate is None:
        return f"no round target shows {colour.value} for {latest:g}"
    indicator.baseline = candidate.baseline
    indicator.target = candidate.target
    if optimization == Optimization.BAND:
        indicator.min, indicator.max = candidate.min, candidate.max
        indicator.tolerance = candidate.tolerance
    indicator_save(indicator=indicator)
    return None


def manual_values_enter(
    *,
    indicator: Indicator,
    scorecard: Scorecard,
    period: Period,
    colour: Status,
    rng: random.Random,
) -> None:
    """Enter the last months' values of a manual indicator, as its owner would have: a
    noisy walk between its baseline and target that lands on `colour` in `period`, each
    value rounded as a person would write it. Through `manual_value_set`."""
    baseline, target = indicator.baseline, indicator.target
    thresholds = _thresholds(indicator, scorecard)
    as_scored = scoring.Indicator(
        name=indicator.name,
        baseline=baseline,
        target=target,
        optimization=Optimization(indicator.optimization),
    )
    goal = aim(colour, thresholds)
    walk = min(0.9, max(0.1, goal + rng.uniform(-0.3, 0.1)))
    scores: list[float] = []
    for _ in range(MANUAL_MONTHS - 1):
        scores.append(walk)
        walk = min(0.95, max(0.05, walk + rng.uniform(-0.12, 0.15)))
    scores.append(goal)
    steps = nice_steps(abs(target - baseline))
    for back, score in zip(range(MANUAL_MONTHS - 1, -1, -1), scores, strict=True):
        value = baseline + score * (target - baseline)
        rounded = snap(value, steps[0])
        for step in steps if back == 0 else []:
            rounded = snap(value, step)
            got = scoring.performance(as_scored, rounded)
            if 0 < got < 1 and thresholds.status(got) == colour:
                break
        manual_value_set(indicator=indicator, period=shift(period, -back), value=rounded)


def scorecards_fit(*, scorecards: Iterable[Scorecard], period: Period, seed: int) -> FitSummary:
    """Fit every indicator of `scorecards` for `period` (see the module's docstring): the
    first third of the indicators, in a seeded order that puts each scorecard's near its
    leaning, are meant green, the next yellow, the last red."""
    rng = random.Random(seed)
    cards = sorted(scorecards, key=lambda c: (c.department.name, c.name, c.pk))
    units = metric_units()
    work: list[tuple[Scorecard, Indicator]] = [
        (card, indicator)
        for card in cards
        for indicator in Indicator.objects.filter(
            goal__perspective__scorecard=card, cascaded_from__isnull=True
        ).order_by("goal__perspective__position", "goal__position", "position", "pk")
    ]
    # Departments differ: each scorecard leans to a colour (in turn: doing well, so-so,
    # struggling) and its indicators draw near it, while over all of them the colours
    # still come out a third each.
    leaning = {card.pk: turn % 3 for turn, card in enumerate(rng.sample(cards, len(cards)))}
    keys = [leaning[card.pk] + rng.uniform(-1.5, 1.5) for card, _ in work]
    order = sorted(range(len(work)), key=lambda position: keys[position])
    colours = {
        position: COLOURS[min(2, turn * 3 // max(1, len(order)))]
        for turn, position in enumerate(order)
    }
    summary = FitSummary(period=period)
    for position, (card, indicator) in enumerate(work):
        colour = colours[position]
        if indicator.optimization not in FITTED:
            summary.skipped[indicator.pk] = f"{indicator.optimization} is not fitted"
            continue
        if not indicator.metric:
            manual_values_enter(
                indicator=indicator, scorecard=card, period=period, colour=colour, rng=rng
            )
            summary.planned[indicator.pk] = colour
            continue
        why = indicator_targets_fit(
            indicator=indicator,
            scorecard=card,
            period=period,
            colour=colour,
            unit=units.get(indicator.metric, ""),
        )
        if why:
            summary.skipped[indicator.pk] = why
        else:
            summary.planned[indicator.pk] = colour
    return summary
