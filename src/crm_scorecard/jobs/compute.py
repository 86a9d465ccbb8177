"""Computing the KPIs: the one way `crm-scorecard compute` and the nightly job store them.

The default engine reads a columnar copy of the app database, so that copy is brought up to
date first; then every metric is stored overall, for each department's subtree, and broken
down as the stored scorecards' indicators ask (`scorecards.selectors.indicator_slices`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from django.utils import timezone

from crm_scorecard.metrics.api import (
    TABLES,
    FillRun,
    engine_for,
    engine_setting,
    kpi_compute,
    mirror_stale,
    mirror_sync,
)
from crm_scorecard.periods import month_first, month_of, shift_months
from crm_scorecard.scorecards.selectors import indicator_slices


@dataclass(frozen=True)
class Computed:
    """What one computation stored: the fill run and how many metrics it covered."""

    run: FillRun
    metrics: int


def kpis_compute(
    *,
    grain: str = "month",
    since: date | None = None,
    until: date | None = None,
    metrics: Iterable[str] | None = None,
    by: Iterable[str] = (),
    engine: str | None = None,
    refresh: bool = False,
    copying: Callable[[int], Callable[[str], None]] | None = None,
    computing: Callable[[int], Callable[[str], None]] | None = None,
) -> Computed:
    """Store the KPIs from `since` to `until` (all periods when None). `by` adds company-wide
    breakdowns to those the scorecards ask for. `copying(n)` / `computing(n)` are told how
    many tables or metrics there are and return what to call after each (progress bars).
    Raises the metrics layer's `MetricError`, `UnknownColumn` or `ValueError` on bad input."""
    if (engine or engine_setting()) == "auto":
        stale = TABLES if refresh else mirror_stale()
        copied = copying(len(stale)) if copying and stale else None
        mirror_sync(refresh=refresh, progress=copied)
    with engine_for(engine=engine, materialise=True) as chosen:
        keys = list(metrics or [m.key for m in chosen.registry if m.kind != "manual"])
        company, within = indicator_slices()
        extra = [*by, *sorted(company)]
        dimensions = [None, "department", *dict.fromkeys(d for d in extra if d != "department")]
        run = kpi_compute(
            grain=grain,
            since=since,
            until=until,
            metrics=keys,
            by=dimensions,
            slices=within,
            engine=chosen,
            progress=computing(len(keys)) if computing else None,
        )
    return Computed(run=run, metrics=len(keys))


def latest_since(*, today: date | None = None) -> date:
    """Where the nightly compute starts: the first day of last month, so the month just
    closed (late orders, feedback) and the month under way are stored again."""
    day = today or timezone.localdate()
    return month_first(shift_months(month_of(day), -1))
