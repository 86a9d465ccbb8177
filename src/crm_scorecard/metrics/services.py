"""Computing KPIs and storing them: one row per (metric, grain, period, dimension value).

Recomputing is idempotent: the rows of the recomputed range are replaced in one
transaction, and a FillRun records what was computed, when, and how long it took."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.scope import Actor, visible_department_ids
from crm_scorecard.segments.selectors import saved_segment_filters as segment_filters

from .connect import connect
from .definitions import registry as load_registry
from .engine import Engine, MetricError
from .live import live_connection
from .models import FillRun, KpiValue
from .sources import UnknownColumn


@dataclass(frozen=True)
class Point:
    period_start: date
    dimension: str | None
    dimension_value: str | None
    value: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "period_start": self.period_start.isoformat(),
            "dimension": self.dimension,
            "dimension_value": self.dimension_value,
            "value": self.value,
        }


def engine_for(
    *,
    user: Actor | None = None,
    engine: str | None = None,
    materialise: bool = False,
    sync: bool = True,
) -> Engine:
    """An engine scoped to what `user` may see (None: the whole company, for operators).
    `materialise` when computing many metrics in one go (see `Sources`); `sync` False for
    reads that must not copy tables into the columnar mirror (pages, API requests)."""
    departments = None if user is None else visible_department_ids(user=user)
    return Engine(
        connect(engine, sync=sync),
        load_registry(),
        departments=departments,
        materialise=materialise,
    )


def metric_series(
    *,
    key: str,
    user: Actor | None = None,
    grain: str = "month",
    by: str | None = None,
    filters: dict[str, str] | None = None,
    since: date | None = None,
    until: date | None = None,
    engine: Engine | None = None,
) -> list[Point]:
    """A metric computed live, within the user's departments, on the columnar mirror as it
    stands (a request never copies tables; see `connect`), over a connection the process
    keeps for the mirror's version (`live.py`), reading only the periods asked for where the
    metric allows (`Engine.narrow`). A `saved_segment` filter stands for the saved
    segment's own filters (customer fields and RFM segment)."""
    filters = saved_segment_filters(filters, user=user)
    if engine is None:
        departments = None if user is None else visible_department_ids(user=user)
        with live_connection() as conn:
            # Reading the periods asked for alone pays where what it needs besides (each
            # source's periods, a breakdown's values) is kept with the connection.
            narrow = conn.snapshot is not None
            own = Engine(conn, load_registry(), departments=departments, narrow=narrow)
            rows = own.compute(key, grain=grain, by=by, filters=filters, since=since, until=until)
    else:
        rows = engine.compute(key, grain=grain, by=by, filters=filters, since=since, until=until)
    return [Point(p, by, d, v) for p, d, v in rows]


def saved_segment_filters(
    filters: dict[str, str] | None, *, user: Actor | None
) -> dict[str, str] | None:
    """`filters` with `saved_segment=NAME` replaced by that segment's filters (one the user
    does not see is not found); a filter given besides that asks for another value of one
    of its fields is refused."""
    if not filters or "saved_segment" not in filters:
        return filters
    rest = {d: v for d, v in filters.items() if d != "saved_segment"}
    name = filters["saved_segment"]
    for dim, value in segment_filters(user=user, name=name).items():
        if rest.get(dim, value) != value:
            raise MetricError(
                f"filter {dim}={rest[dim]} contradicts saved segment {name!r} ({dim}={value})"
            )
        rest[dim] = value
    return rest


def kpi_compute(
    *,
    grain: str = "month",
    since: date | None = None,
    until: date | None = None,
    metrics: Iterable[str] | None = None,
    by: Iterable[str | None] = (None, "department"),
    slices: Iterable[tuple[str, str, str]] = (),
    engine: Engine | None = None,
    progress: Callable[[str], None] | None = None,
) -> FillRun:
    """Compute metrics for the whole company and store them: overall (None in `by`), per
    department subtree ("department": each department with every department below it, its
    own ratios and medians worked out on the subtree's records, never averaged from its
    children) and broken down by the other dimensions in `by`. `slices` adds breakdowns
    within one department: (metric, department name, dimension), as the department's
    scorecards ask for them."""
    if engine is None:
        with engine_for(materialise=True) as own:
            return kpi_compute(
                grain=grain,
                since=since,
                until=until,
                metrics=metrics,
                by=by,
                slices=slices,
                engine=own,
                progress=progress,
            )
    keys = list(metrics) if metrics else [m.key for m in engine.registry if m.kind != "manual"]
    for key in keys:
        engine.registry.get(key)
    by = list(by)
    per_key: dict[str, list[tuple[str, str]]] = {}
    for key, within, wanted in slices:
        if key in keys:
            per_key.setdefault(key, []).append((within, wanted))
    department_ids = dict(Department.objects.values_list("name", "pk"))
    run = FillRun.objects.create(
        grain=grain, since=since, until=until, metrics=keys, engine=engine.conn.name
    )
    written = 0
    try:
        for dimension in by:
            engine.prefetch(keys, grain=grain, by=dimension)
        for key in keys:
            # What to store for this metric: each breakdown in `by` across the company,
            # then the breakdowns asked for within one department.
            asks: list[tuple[str | None, str | None]] = [(d, None) for d in by]
            asks += [(w, dep) for dep, w in per_key.get(key, []) if dep in department_ids]
            rows: list[KpiValue] = []
            for dimension, scope in asks:
                try:
                    points = engine.compute(
                        key,
                        grain=grain,
                        by=dimension,
                        filters={"department": scope} if scope else None,
                        since=since,
                        until=until,
                    )
                except UnknownColumn:
                    continue  # this metric has no such breakdown
                rows.extend(
                    _rows(
                        key,
                        grain,
                        points,
                        dimension=dimension,
                        department_id=department_ids[scope] if scope else None,
                        department_ids=department_ids,
                    )
                )
            written += _replace(key, grain, since, until, rows)
            if progress:
                progress(key)
    except (MetricError, UnknownColumn) as exc:
        run.error = str(exc)
        run.finished_at = timezone.now()
        run.rows_written = written
        run.save()
        raise
    run.rows_written = written
    run.finished_at = timezone.now()
    run.save()
    return run


def _rows(
    key: str,
    grain: str,
    points: list[tuple[date, str | None, float | None]],
    *,
    dimension: str | None,
    department_id: int | None,
    department_ids: dict[str, int],
) -> list[KpiValue]:
    """Stored rows for computed points. A company-wide breakdown by department stores each
    department's subtree as that department's own series (dimension empty)."""
    if dimension == "department" and department_id is None:
        return [
            KpiValue(
                metric=key, grain=grain, period_start=p, department_id=department_ids[d], value=v
            )
            for p, d, v in points
            if d in department_ids
        ]
    return [
        KpiValue(
            metric=key,
            grain=grain,
            period_start=p,
            department_id=department_id,
            dimension=dimension or "",
            dimension_value=d or "",
            value=v,
        )
        for p, d, v in points
    ]


@transaction.atomic
def _replace(
    key: str, grain: str, since: date | None, until: date | None, rows: list[KpiValue]
) -> int:
    stale = KpiValue.objects.filter(metric=key, grain=grain)
    if since:
        stale = stale.filter(period_start__gte=since)
    if until:
        stale = stale.filter(period_start__lte=until)
    stale.delete()
    KpiValue.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
