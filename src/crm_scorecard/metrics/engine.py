"""The metrics engine: declared metrics, compiled to Ibis expressions, run where the data lives.

A metric is a declared object (`kinds.py`) in one registry, looked up by key; the engine
reads the sources for it within one access scope, caches its series and fills the periods
the source covers. Results are series keyed by (period index, dimension value); "no data"
stays None all the way through and is never turned into 0, except for counts and sums
inside the range the source covers, where nothing happening is a real 0."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from ibis.expr.types import Table

from crm_scorecard.periods import period_index, period_start

from .backends import Connection, Template, duckdb_run, duckdb_template
from .kinds import (
    OWN_DEPARTMENT,
    SPAN_END,
    SPAN_FIRST,
    SPAN_LAST,
    SPAN_START,
    UNKNOWN,
    Aggregate,
    History,
    Metric,
    Parts,
    Request,
    Series,
    label,
    period_expr,
    span_values,
)
from .semantic import DEPARTMENT, FILTER_ALIASES, MODEL, MetricError, Model, Sources
from .sources import UnknownColumn, department_names

__all__ = ["Engine", "MetricError", "Registry", "Request", "Series"]


# ---- the registry and the engine -------------------------------------------------------------------


class Registry:
    """Metrics by key, over the sources of a semantic model; checks that every input
    exists and that derived metrics form no cycle."""

    def __init__(self, metrics: Iterable[Metric] = (), *, model: Model = MODEL) -> None:
        self.model = model
        self._metrics: dict[str, Metric] = {}
        for metric in metrics:
            self.add(metric)

    def add(self, metric: Metric) -> None:
        if metric.key in self._metrics:
            raise MetricError(f"metric {metric.key!r} is declared twice")
        self._metrics[metric.key] = metric

    def get(self, key: str) -> Metric:
        try:
            return self._metrics[key]
        except KeyError:
            raise MetricError(f"unknown metric {key!r}; see `crm-scorecard metrics list`") from None

    def __iter__(self) -> Any:
        return iter(self._metrics.values())

    def __contains__(self, key: object) -> bool:
        return key in self._metrics

    def check(self) -> None:
        state: dict[str, int] = {}

        def visit(key: str, path: list[str]) -> None:
            if state.get(key) == 2:
                return
            if state.get(key) == 1:
                raise MetricError(f"cycle between metrics: {' -> '.join([*path, key])}")
            state[key] = 1
            for name in self.get(key).inputs():
                if name not in self._metrics:
                    raise MetricError(f"metric {key!r} uses unknown metric {name!r}")
                visit(name, [*path, key])
            state[key] = 2

        for key in self._metrics:
            visit(key, [])


@dataclass
class Engine:
    """Computes metrics on one connection, for one access scope (None: everything)."""

    conn: Connection
    registry: Registry
    departments: set[int] | None = None
    materialise: bool = False  # build each source once (for many metrics in one run)
    # A department breakdown worked out on each record's own department and added up the
    # tree, for the metrics that add up (see Metric.rolls_up), and the company's value of
    # such an aggregate added up from the same parts, so one query answers both; False:
    # every record joined to each department above its own, and the company's on its own.
    roll_up: bool = True
    # A request for some periods (`compute`'s since and until) reads only their records where
    # the metric allows (Metric.local): what a page or an API request asks for. False: every
    # metric computed over the whole history, the periods picked out after.
    narrow: bool = False
    _sources: Sources = field(init=False)
    _series: dict[tuple[str, Request], Series] = field(default_factory=dict, init=False)
    _coverage: dict[tuple[str, str], tuple[int, int] | None] = field(
        default_factory=dict, init=False
    )
    _shared: dict[tuple[Any, ...], Table] = field(default_factory=dict, init=False)
    _names: dict[int, list[str]] | None = field(default=None, init=False)
    _parts: dict[tuple[str, Request], tuple[Parts, tuple[int, int] | None]] = field(
        default_factory=dict, init=False
    )
    _kept: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False)
    _unread: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        def build() -> Sources:
            return Sources(
                self.conn,
                model=self.registry.model,
                departments=self.departments,
                materialise=self.materialise,
                period=period_expr,
                resident=self.narrow and self.registry.model is MODEL,
                unread=self.unread,
            )

        # The sources' expressions are the same for every request of one scope: built once
        # per mirror version (with the cores a live read keeps in tables, Sources._resident).
        self._sources = (
            self.kept(("sources", self.narrow), build) if not self.materialise else build()
        )

    def execute(self, expr: Any, request: Request | None = None) -> Any:
        """Run `expr`, built for `request` (its span's parameters get the request's values).
        On a mirror version kept open (live reads), each query is compiled once, its span
        left as parameters, and run again from there."""
        values = span_values(request) if request is not None else {}
        if self.conn.snapshot is None or self.conn.name != "duckdb":
            if self.conn.compiled is None or values:
                return self.conn.backend.execute(expr, params=values or None)
            # Over a mirror version: the SQL compiled by an earlier run over it, if any.
            query = expr.as_table()
            sql = self.conn.sql(query, lambda: self.conn.backend.compile(query))
            return duckdb_run(self.conn.backend, Template(sql, {}), expr, {})
        template: Template | None = self.kept(
            ("sql", expr.op()),
            lambda: duckdb_template(
                self.conn.backend, expr, [SPAN_FIRST, SPAN_LAST, SPAN_START, SPAN_END]
            ),
        )
        if template is None:
            return self.conn.backend.execute(expr, params=values or None)
        return duckdb_run(self.conn.backend, template, expr, values)

    def close(self) -> None:
        """Release the engine's own database connection."""
        self.conn.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def table(
        self, source: str, request: Request, reads: Iterable[str] = (), later: Iterable[str] = ()
    ) -> Table:
        """The source's rows for `request`, with the dimensions it breaks down and filters
        by, and those in `reads`, joined on; filtered. `later`: dimensions the caller adds
        to some of the rows itself (`rows_with`), so the rows carry what they are worked
        out from."""
        dimensions = [request.by] if request.by else []
        # The span's instants, where the request names some periods (a narrowed read: the
        # metric keeps the span's rows, see kinds._narrowed) and they have any.
        instants = any(param is SPAN_START for param in span_values(request))
        t = self._sources.get(
            source,
            [*dimensions, *(d for d, _ in request.filters), *reads],
            request.grain,
            span=(SPAN_START, SPAN_END) if instants else None,
            later=tuple(later),
        )
        for dim, value in request.filters:
            if dim not in t.columns:
                raise UnknownColumn(f"source {source} cannot be filtered by {dim}")
            t = t.filter(t[dim] == value)
        return t

    def of_customer(self, source: str, dimension: str) -> bool:
        """Whether `source`'s `dimension` is its customer's own whenever (its region, not
        its age at the time: Dimension.of_customer)."""
        dim = self.registry.model.source(source).dimension(dimension)
        return dim is not None and dim.of_customer

    def rows_with(self, source: str, t: Table, dimension: str) -> Table:
        """`t`, some of `source`'s rows (as `table` gives them) or rows with a `customer`
        column where the dimension is the customer's own (`of_customer`), with `dimension`
        added."""
        return self._sources.rows_with(source, t, dimension)

    def plain(self, source: str) -> Table:
        """The source's core as an expression, nothing computed (Sources.plain)."""
        return self._sources.plain(source)

    def unread(self, source: str) -> tuple[str, ...]:
        """The `wide` columns of `source` (Source.wide) that no metric of the registry
        reads: what a run materialising the sources leaves out of its table (the metrics
        that read them and a breakdown or filter by them get a table with every column).
        None of them where some metric of the source cannot say what it reads."""
        if source not in self._unread:
            wide = self.registry.model.source(source).wide
            read: set[str] = set()
            for metric in self.registry:
                if metric.source_name(self.registry) not in (source, None):
                    continue  # (a kind reads its own source alone)
                columns = metric.columns_read(self)
                if columns is None:
                    read = set(wide)
                    break
                read |= columns.get(source, frozenset())
            self._unread[source] = tuple(c for c in wide if c not in read)
        return self._unread[source]

    def department_entities(self, source: str) -> tuple[str, ...]:
        """The source's entities all of whose rows are in one department."""
        return self.registry.model.source(source).department_entities

    def rolls_up(self, metric: Metric, request: Request) -> bool:
        """Whether `metric` is added up from its parts on each record's own department: by
        department, when it adds up and its source is broken down by department; for the
        whole company too (the same parts answer both), except a history's for some
        periods (a live read), which reads those periods off first purchases alone: 10-15
        ms faster than by department at 1,000,000 customers."""
        if not self.roll_up or not metric.rolls_up(self):
            return False
        if request.by is None:
            if isinstance(metric, History) and request.span is not None:
                return False
        elif request.by != DEPARTMENT.name:
            return False
        source = metric.source_name(self.registry)
        return (
            source is not None
            and self.registry.model.source(source).dimension(DEPARTMENT.name) is not None
        )

    def parts(self, metric: Metric, request: Request) -> tuple[Parts, tuple[int, int] | None]:
        """`metric`'s parts by each record's own department (records in none as unknown),
        worked out once for the company and the department breakdown."""
        own = replace(request, by=OWN_DEPARTMENT)
        if (metric.key, own) not in self._parts:
            self._parts[(metric.key, own)] = metric.parts(self, own)
        return self._parts[(metric.key, own)]

    def rolled_up(
        self, metric: Metric, request: Request, parts: Parts, coverage: tuple[int, int] | None
    ) -> Series:
        """`parts` by each record's own department added up: for the company, all of them;
        by department, into each department's subtree (the department and every one above
        it get a department's parts; records in no department, none's)."""
        grouped: dict[tuple[int, str | None], list[tuple[float | None, ...]]] = defaultdict(list)
        if request.by is None:
            for (p, _), part in parts.items():
                grouped[(p, None)].append(part)
        else:
            if self._names is None:  # (read once per mirror version on a live read)
                self._names = self.kept(("department names",), lambda: department_names(self.conn))
            for (p, own), part in parts.items():
                if own is None or own == UNKNOWN:
                    continue
                for name in self._names.get(int(float(own)), ()):
                    grouped[(p, name)].append(part)
        return Series({key: metric.combine(found) for key, found in grouped.items()}, coverage)

    def shared(self, key: tuple[Any, ...], build: Callable[[], Table]) -> Table:
        """An intermediate table several metrics read (who was active when, each customer's
        first period), built once per engine; materialised when the sources are."""
        if key not in self._shared:
            self._shared[key] = self._sources.keep(f"shared_{len(self._shared)}", build())
        return self._shared[key]

    def coverage(self, source: str, request: Request) -> tuple[int, int] | None:
        """First and last period the source has any record in (within the access scope)."""
        spec = self.registry.model.source(source)
        if spec.same_rows is not None:
            spec = self.registry.model.source(spec.same_rows)
        key = (spec.name, request.grain)
        if key not in self._coverage:
            first, lasts = self.kept(
                ("coverage", spec.name, request.grain), lambda: self._ends(spec.name, request)
            )
            lasts = list(lasts)
            if spec.open_ended:
                lasts.append(date.today())
            if first is None or first != first or not lasts:
                self._coverage[key] = None
            else:
                self._coverage[key] = (
                    period_index(_as_date(first), request.grain),
                    period_index(max(_as_date(x) for x in lasts), request.grain),
                )
        return self._coverage[key]

    def _ends(self, source: str, request: Request) -> tuple[Any, tuple[Any, ...]]:
        """The source's first timestamp and its last ones (of `ts` and each of its `ends`)."""
        spec = self.registry.model.source(source)
        t = self._sources.get(spec.name, grain=request.grain)
        ends = [t.ts.max(), *(t[extra].max() for extra in spec.ends)]
        expr = t.aggregate(first=t.ts.min(), **{f"last{i}": e for i, e in enumerate(ends)})
        row = self.execute(expr).iloc[0]
        lasts = [row[f"last{i}"] for i in range(len(ends))]
        return row["first"], tuple(x for x in lasts if x is not None and x == x)

    def kept(self, key: tuple[Any, ...], work: Callable[[], Any]) -> Any:
        """What `work` found, worked out once for this access scope: per engine, or per
        version of the mirror when the connection reads one kept open (Connection.snapshot:
        its files never change) and the metrics are the built-in ones' model."""
        memo = self._kept
        if self.conn.snapshot is not None and self.registry.model is MODEL:
            memo = self.conn.snapshot
            if len(memo) > 4096:  # bounded: a process serving many scopes starts again
                # (the tables and lookups made on the connection stay)
                for stale in [k for k in memo if k[0] not in ("resident", "lookup")]:
                    del memo[stale]
        scoped = (None if self.departments is None else frozenset(self.departments), *key)
        if scoped not in memo:
            memo[scoped] = work()
        return memo[scoped]

    def dimension_values(
        self, key: str, source: str, request: Request, rows: Callable[[], Table]
    ) -> frozenset[str]:
        """The values metric `key`'s breakdown takes in `source`'s covered periods, from its
        grouped rows (`rows()`, with `p`): what a request for some periods fills in as 0 or
        no data where the periods asked for have none, as the whole history does."""

        def find() -> frozenset[str]:
            coverage = self.coverage(source, request)
            if coverage is None or request.by is None:
                return frozenset()
            t = rows()
            found = t.filter(t.p.between(*coverage)).select(request.by).distinct()
            return frozenset(label(v) for v in self.execute(found)[request.by])

        return frozenset(self.kept(("dimensions", self.registry.get(key), request), find))

    def prefetch(self, keys: Iterable[str], *, grain: str = "month", by: str | None = None) -> None:
        """Compute the plain aggregates among `keys`, and among the metrics they are built
        from, a source at a time: one scan of each source answers all of its aggregates.
        Later calls to `compute` for these keys read the results."""
        request = Request(grain=grain, by=by)
        self.registry.model.check_dimensions([by])
        self._batched(keys, request)

    def _batched(self, keys: Iterable[str], request: Request) -> None:
        """`prefetch` for `request`, which may name some periods (Request.span) and filters:
        the aggregates it reads for those periods alone, as `series` would one at a time."""
        # (whether added up the tree, then what the aggregates must share) -> aggregates
        batches: dict[tuple[Any, ...], list[Aggregate]] = defaultdict(list)
        seen: set[str] = set()
        pending = list(keys)
        while pending:
            key = pending.pop()
            if key in seen:
                continue
            seen.add(key)
            metric = self.registry.get(key)
            pending.extend(metric.inputs())
            if isinstance(metric, Aggregate) and (key, request) not in self._series:
                rolled = self.rolls_up(metric, request)
                known = self._parts.get((key, replace(request, by=OWN_DEPARTMENT)))
                if rolled and known is not None:  # worked out already (for the company)
                    self._series[(key, request)] = self._finished(
                        metric, request, self.rolled_up(metric, request, *known), rolled
                    )
                    continue
                batch = metric.batches(self, rolled)
                if batch is not None:
                    batches[(rolled, *batch)].append(metric)
        for (rolled, *_), together in batches.items():
            for metrics in Aggregate.apart(self, together):
                self._together(metrics, request, rolled)

    def _together(self, metrics: list[Aggregate], request: Request, rolled: bool) -> None:
        """`_batched`'s query for one batch of `metrics`, its series kept (a batch of one
        is left to `series`)."""
        if len(metrics) < 2:
            return
        try:
            if rolled:
                own = replace(request, by=OWN_DEPARTMENT)
                parts = Aggregate.parts_together(self, metrics, own)
                self._parts.update({(m.key, own): parts[m.key] for m in metrics})
                results = {m.key: self.rolled_up(m, request, *parts[m.key]) for m in metrics}
            else:
                results = Aggregate.compute_together(self, metrics, request)
        except UnknownColumn:
            return  # the source has no such breakdown: each metric says so when asked
        for metric in metrics:
            self._series[(metric.key, request)] = self._finished(
                metric, request, results[metric.key], rolled
            )

    def _finished(self, metric: Metric, request: Request, series: Series, rolled: bool) -> Series:
        """`series` of `metric` computed for `request` (added up the tree if `rolled`),
        with the values its breakdown takes over the whole history where the request names
        some periods, every covered period filled in."""
        if request.span is not None and request.by is not None:
            if rolled:
                series.dimensions = self._rolled_dimensions(metric, request)
            elif isinstance(metric, Aggregate):
                series = metric.framed(self, request, series)
        return _fill(metric, series, request.span)

    def series(self, key: str, request: Request) -> Series:
        cache_key = (key, request)
        if cache_key not in self._series:
            metric = self.registry.get(key)
            if request.span is not None and not metric.local:
                self._series[cache_key] = self.series(key, replace(request, span=None))
                return self._series[cache_key]
            if request.span is not None and metric.inputs():
                # A ratio's or a formula's aggregates of one source for some periods (a
                # live read) in one scan: a month's visits per customer by region at
                # 1,000,000 customers so, see the README.
                self._batched(metric.inputs(), request)
            if self.rolls_up(metric, request):
                series = self.rolled_up(metric, request, *self.parts(metric, request))
                self._series[cache_key] = self._finished(metric, request, series, True)
            else:
                self._series[cache_key] = _fill(metric, metric.compute(self, request), request.span)
        return self._series[cache_key]

    def _rolled_dimensions(self, metric: Metric, request: Request) -> frozenset[str]:
        """The departments a breakdown added up the tree has values for over the whole
        history's covered periods: what a request for some periods (its parts those of
        the periods alone) fills in as 0 or no data, as the whole history does. Worked out
        once per mirror version on a live read, so a month's repeat customers by department
        reads that month's parts alone (see the README)."""
        whole = replace(request, span=None)

        def find() -> frozenset[str]:
            series = self.rolled_up(metric, whole, *self.parts(metric, whole))
            if series.coverage is None:
                return frozenset()
            first, last = series.coverage
            return frozenset(
                dim for (p, dim) in series.values if dim is not None and first <= p <= last
            )

        return frozenset(self.kept(("rolled dimensions", metric, whole), find))

    def compute(
        self,
        key: str,
        *,
        grain: str = "month",
        by: str | None = None,
        filters: Mapping[str, str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[tuple[date, str | None, float | None]]:
        """The metric as rows (period start, dimension value, value), in period order."""
        named = {FILTER_ALIASES.get(d, d): v for d, v in (filters or {}).items()}
        low = period_index(since, grain) if since else None
        high = period_index(until, grain) if until else None
        span = (low, high) if self.narrow and low is not None and high is not None else None
        request = Request(grain=grain, by=by, filters=tuple(sorted(named.items())), span=span)
        self.registry.model.check_dimensions([by, *(d for d, _ in request.filters)])
        result = self.series(key, request)
        rows = [
            (period_start(p, grain), dim, value)
            for (p, dim), value in result.values.items()
            if (low is None or p >= low) and (high is None or p <= high)
        ]
        rows.sort(key=lambda r: (r[0], r[1] or ""))
        return rows


def _as_date(value: Any) -> date:
    if hasattr(value, "date") and callable(value.date):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _fill(metric: Metric, series: Series, span: tuple[int, int] | None = None) -> Series:
    """Inside the covered range (of the periods `span` asks for, where it names some),
    every period appears: counts and sums as 0, others as null. (A month's revenue by
    salesperson filled the 25 months covered for each of 2,197 salespeople, to keep one:
    53 -> 31 ms a request at a million customers.)"""
    if series.coverage is None:
        return series
    first, last = series.coverage
    if span is not None:
        first, last = max(first, span[0]), min(last, span[1])
    values = {k: v for k, v in series.values.items() if first <= k[0] <= last}
    dims = {k[1] for k in values} | (series.dimensions or set()) or {None}
    if any(d is not None for d in dims):
        dims.discard(None)
    empty = 0.0 if metric.counts else None
    for dim in dims:
        for p in range(first, last + 1):
            values.setdefault((p, dim), empty)
    return Series(values, series.coverage)
