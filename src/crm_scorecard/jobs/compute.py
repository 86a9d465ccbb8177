"""Computing the KPIs: the one way `crm-scorecard compute` and the nightly job store them,
and the nightly run's other steps (RFM scores, customer value, cohorts) before them.

The default engine reads a columnar copy of the app database, so that copy is brought up to
date first; then every metric is stored overall, for each department's subtree, and broken
down as the stored scorecards' indicators ask (`scorecards.selectors.indicator_slices`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone

from crm_scorecard.clv import selectors as clv_selectors
from crm_scorecard.clv import services as clv_services
from crm_scorecard.errors import Invalid
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
from crm_scorecard.segments import services as segment_services

log = logging.getLogger(__name__)


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


# ---- the nightly run -----------------------------------------------------------------------


def rfm_step(today: date) -> dict[str, Any]:
    """Every customer's RFM scores and segment at today's date (`segments rfm`); the scores
    of this month's earlier days are then dropped (`rfm_prune_month`), so one date a month
    stays (its last night) and the moves compare today with the end of last month."""
    customers = segment_services.rfm_refresh(as_of=today)
    pruned = segment_services.rfm_prune_month(as_of=today)
    return {"as_of": today.isoformat(), "customers": customers, "pruned": pruned}


def value_step(today: date) -> dict[str, Any]:
    """The customer value models refitted on every order (`customers value`), with the
    horizon, discount rate and "at risk" threshold of the fit before (defaults at first)."""
    before = clv_selectors.fit_latest()
    settings: dict[str, Any] = (
        {}
        if before is None
        else {
            "horizon_weeks": before.horizon_weeks,
            "annual_discount_rate": before.annual_discount_rate,
            "at_risk_below": before.at_risk_below,
        }
    )
    try:
        fit = clv_services.customer_values_fit(**settings)
    except clv_services.FitFailed as exc:
        # Too little data is a reason to skip (Invalid); a fit that does not converge on data
        # enough to fit is not: the run fails, naming it, and the fit before stays in use.
        raise RuntimeError(str(exc)) from None
    return {"fit": fit.pk, "customers": fit.customers, "data_end": fit.data_end.isoformat()}


def cohorts_step(today: date) -> dict[str, Any]:
    """Every department's cohorts, stored for the cohorts page (`segments cohorts
    --refresh`)."""
    snapshot = segment_services.cohorts_refresh()
    return {"computed_at": snapshot.computed_at.isoformat(), "cells": snapshot.cells.count()}


def kpis_step(today: date) -> dict[str, Any]:
    """The latest periods' KPIs (last month and this month), as `crm-scorecard compute
    --since <first of last month>` stores them. Whatever listens for a finished compute
    (alerts) hears of it from the compute itself."""
    since = latest_since(today=today)
    done = kpis_compute(since=since)
    return {
        "since": since.isoformat(),
        "metrics": done.metrics,
        "values": done.run.rows_written,
        "fill_run": done.run.pk,
    }


# In this order: the KPIs come last because metrics read the RFM segments and value bands
# (`--filter rfm=...`, `--by value_band`) from the copy the KPI step brings up to date.
NIGHTLY_STEPS: dict[str, Callable[[date], dict[str, Any]]] = {
    "rfm": rfm_step,
    "value": value_step,
    "cohorts": cohorts_step,
    "kpis": kpis_step,
}


class NightlyStepsFailed(RuntimeError):
    """Steps of the nightly run failed (the others ran): the task is recorded as failed,
    with this message naming them and each one's error."""

    def __init__(self, failed: dict[str, str], results: dict[str, Any]) -> None:
        self.failed = failed
        self.results = results
        named = "; ".join(f"{step}: {error}" for step, error in failed.items())
        super().__init__(f"nightly run: {len(failed)} step(s) failed: {named}")


def nightly_run(*, today: date | None = None) -> dict[str, Any]:
    """Run every nightly step once, in order, each on its own: one that fails does not stop
    the others, and is logged with its traceback; when any failed, `NightlyStepsFailed` is
    raised after the last, so the run is recorded as failed, not passed over. A step the
    data cannot support yet (too few customers to fit the value models: `Invalid`) is
    skipped, with the reason in the result; what it stored before stays. Returns each
    step's result by name."""
    day = today or timezone.localdate()
    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name, step in NIGHTLY_STEPS.items():
        try:
            results[name] = step(day)
        except Invalid as exc:
            log.warning("nightly %s skipped: %s", name, exc)
            results[name] = {"skipped": str(exc)}
        except Exception as exc:
            log.exception("nightly %s failed", name)
            failed[name] = f"{type(exc).__name__}: {exc}"
            results[name] = {"failed": failed[name]}
    if failed:
        raise NightlyStepsFailed(failed, results)
    return results
