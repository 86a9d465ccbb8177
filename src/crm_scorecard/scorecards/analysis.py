"""What a manager asks of a scorecard after its score: what to fix first, and when each
target will be reached."""

from __future__ import annotations

from dataclasses import dataclass

from crm_scorecard.periods import Period, month_index, month_key

from . import scoring
from .scoring import Result


@dataclass(frozen=True)
class Priority:
    name: str
    score: float
    absolute_weight: float
    impact: float  # absolute weight x (1 - score): how much the scorecard gains by fixing it


def fix_first(result: Result, *, limit: int = 10) -> list[Priority]:
    """Indicators ranked by absolute weight x (1 - score), largest first."""
    ranked = [
        Priority(n.name, n.score, n.absolute_weight, n.absolute_weight * (1 - n.score))
        for n in result.walk()
        if n.kind == "indicator" and n.score is not None
    ]
    ranked.sort(key=lambda p: (-p.impact, p.name))
    return [p for p in ranked if p.impact > 0][:limit]


def forecast(indicator: scoring.Indicator, *, end: Period, periods: int = 6) -> Period | None:
    """When a straight line through the last values reaches the target; None when it never
    will (flat or heading away) or there are fewer than three values. The current month if
    the target is already met."""
    points = sorted(
        (month_index(p), v)
        for p, v in indicator.values.items()
        if v is not None and month_index(end) - periods < month_index(p) <= month_index(end)
    )
    if len(points) < 3:
        return None
    target = indicator.target_at(end)
    higher_better = target >= indicator.baseline
    if indicator.optimization == scoring.Optimization.MINIMIZE:
        higher_better = False
    last_x, last_y = points[-1]
    if (last_y >= target) if higher_better else (last_y <= target):
        return month_key(last_x)
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    if slope == 0 or (slope > 0) != higher_better:
        return None
    intercept = mean_y - slope * mean_x
    reach = (target - intercept) / slope
    month = max(last_x + 1, int(-(-reach // 1)))  # first whole month at or after the crossing
    return month_key(month)
