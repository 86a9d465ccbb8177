"""The kinds of metric: one class each, each building its own query from a request.

A kind is given a `Request` (grain, breakdown, filters) and the `Engine` (which reads the
sources, within the access scope) and returns a `Series` keyed by (period index, dimension
value). "No data" stays None; there is no dispatch on kind."""

from __future__ import annotations

import ast
import functools
import math
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Protocol

import ibis
import ibis.expr.operations as ops
from ibis.common.exceptions import IbisError
from ibis.expr.types import Table

from crm_scorecard.periods import GRAINS, period_start

from .backends import Connection, within
from .compiled import digest
from .semantic import DEPARTMENT, MODEL, MetricError, Model
from .sources import UnknownColumn

Key = tuple[int, str | None]
Values = dict[Key, float | None]
UNKNOWN = "(unknown)"  # the dimension value of records that lack it (no birth date, no region...)
# A breakdown by each record's own department (its id), which the engine adds up the
# department tree into the `department` breakdown for the metrics whose `rolls_up` says so.
OWN_DEPARTMENT = "department_id"
# Per (period, dimension value): the parts a value is made of (a mean's sum and count...).
Parts = dict[Key, tuple[float | None, ...]]


class Lookup(Protocol):
    """What a kind asks of the registry (`engine.Registry`): a metric by key, and the
    semantic model its sources are declared in."""

    @property
    def model(self) -> Model: ...

    def get(self, key: str) -> Metric: ...


class Runner(Protocol):
    """What a kind asks of the engine (`engine.Engine`), declared here so that the kinds
    need not import the engine that runs them."""

    @property
    def conn(self) -> Connection: ...

    @property
    def registry(self) -> Lookup: ...

    def execute(self, expr: Any, request: Request | None = None) -> Any: ...

    def table(
        self, source: str, request: Request, reads: Iterable[str] = (), later: Iterable[str] = ()
    ) -> Table: ...

    def shared(self, key: tuple[Any, ...], build: Callable[[], Table]) -> Table: ...

    def kept(self, key: tuple[Any, ...], work: Callable[[], Any]) -> Any: ...

    def coverage(self, source: str, request: Request) -> tuple[int, int] | None: ...

    def series(self, key: str, request: Request) -> Series: ...

    def department_entities(self, source: str) -> tuple[str, ...]: ...

    def plain(self, source: str) -> Table: ...

    def of_customer(self, source: str, dimension: str) -> bool: ...

    def rows_with(self, source: str, t: Table, dimension: str) -> Table: ...

    def dimension_values(
        self, key: str, source: str, request: Request, rows: Callable[[], Table]
    ) -> frozenset[str]: ...


# ---- periods -------------------------------------------------------------------------------------


def period_expr(ts: Any, grain: str) -> Any:
    """An integer index of the calendar period (UTC) holding each timestamp; consecutive
    periods have consecutive indexes on every engine."""
    # Cast: PostgreSQL's EXTRACT gives numerics, and arithmetic and grouping on numerics
    # took twice as long as on integers (7.8 s against 4.6 s over ten million contacts).
    year, month = ts.year().cast("int64"), ts.month().cast("int64")
    match grain:
        case "month":
            return year * 12 + month - 1
        case "quarter":
            return year * 4 + (month - 1) // 3
        case "year":
            return year
        case "day":
            return (ts.epoch_seconds() // 86400).cast("int64")
        case "week":
            return ((ts.epoch_seconds() // 86400 + 3) // 7).cast("int64")
    raise MetricError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")


# ---- the request and the result -------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What to compute: a grain, an optional breakdown and equality filters on dimensions;
    `span`, the first and last period index asked for, when only those are (a page or an
    API request for one month): a `local` kind reads only their records; the others, and
    the periods outside it, are computed as if it were not given."""

    grain: str = "month"
    by: str | None = None
    filters: tuple[tuple[str, str], ...] = ()
    span: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise MetricError(f"unknown grain {self.grain!r}; use one of {', '.join(GRAINS)}")
        # No engine's strings hold a NUL (PostgreSQL refuses it, DuckDB cuts the query at it).
        if any("\x00" in value for _, value in self.filters):
            raise MetricError("a filter value cannot contain a NUL character (\\x00)")


@dataclass
class Series:
    values: Values
    coverage: tuple[int, int] | None  # first and last period index the source has data for
    # The breakdown's values over the whole coverage, when `values` holds only the periods
    # asked for (Request.span): each has a value in every covered period (0 or no data).
    dimensions: frozenset[str] | None = None


# ---- declarations ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Metric:
    """A KPI: what it means to the business and how it is computed."""

    key: str
    name: str
    meaning: str
    unit: str = ""
    direction: str = "higher"  # higher or lower is better
    kind: ClassVar[str] = "metric"
    counts: ClassVar[bool] = False  # a count or sum: 0 when nothing happened in a covered period
    # Its value for a period reads only that period's records (or its inputs' values for
    # that period), so a request for some periods (Request.span) need read no others.
    local: ClassVar[bool] = False

    def __post_init__(self) -> None:
        # Every metric reads in a unit (see units.Unit): a count when it counts, else a ratio.
        if not self.unit:
            object.__setattr__(self, "unit", "count" if self.counts else "ratio")

    def inputs(self) -> tuple[str, ...]:
        return ()

    def source_name(self, registry: Lookup) -> str | None:
        return None

    def columns_read(self, engine: Runner) -> Mapping[str, frozenset[str]] | None:
        """The columns of each source it reads itself (not through its inputs), where it
        can say: what a run leaves out of a source's table when no metric reads them
        (Engine.unread). None: not known, every column of its source."""
        return None

    def compute(self, engine: Runner, request: Request) -> Series:
        raise NotImplementedError

    def rolls_up(self, engine: Runner) -> bool:
        """Whether a department subtree's value is made of parts that add up over the
        departments in it, so that the engine can work them out on each record's own
        department (`parts`, by OWN_DEPARTMENT) and add them up the tree (`combine`), instead
        of counting each record once per department above its own. Not by default."""
        return False

    def parts(self, engine: Runner, request: Request) -> tuple[Parts, tuple[int, int] | None]:
        """What `combine` adds up, per (period, dimension value): the value itself, unless
        the kind says otherwise."""
        series = self.compute(engine, request)
        return {k: (v,) for k, v in series.values.items()}, series.coverage

    def combine(self, parts: list[tuple[float | None, ...]]) -> float | None:
        """The value of a subtree from its departments' `parts`: their sum ("no data" when
        none has any)."""
        known = [p[0] for p in parts if p[0] is not None]
        return float(sum(known)) if known else None


def _ratio_of_sums(parts: list[tuple[float | None, ...]]) -> float | None:
    """Parts (hits, total): the hits over the total, "no data" when the total is 0."""
    total = sum(p[1] or 0.0 for p in parts)
    if not total:
        return None
    return sum(p[0] for p in parts if p[0] is not None) / total


def label(dim: Any) -> str:
    """A dimension value as shown: records that lack one (null, NaN, empty) read as unknown."""
    return UNKNOWN if dim is None or dim != dim or dim == "" else str(dim)


def _number(raw: Any) -> float | None:
    """A value as a float; None (no data) for a null or NaN."""
    return None if raw is None or (isinstance(raw, float) and math.isnan(raw)) else float(raw)


def _keys(frame: Any, by: str | None) -> list[tuple[int, str | None]]:
    """The (period, dimension value) of each row of `frame`, its columns read whole (a row
    at a time, as named tuples, took a tenth of a whole catalogue's Python)."""
    periods = [int(p) for p in frame["p"].tolist()]
    if not by:
        return [(p, None) for p in periods]
    dims = frame[by].tolist() if by in frame.columns else [None] * len(periods)
    return [(p, label(dim)) for p, dim in zip(periods, dims, strict=True)]


def _frame_to_values(frame: Any, by: str | None, column: str = "value") -> Values:
    raws = frame[column].tolist()
    return {key: _number(raw) for key, raw in zip(_keys(frame, by), raws, strict=True)}


def _frame_to_parts(frame: Any, by: str | None, columns: list[str]) -> Parts:
    keys = _keys(frame, by)
    rows = zip(*(frame[c].tolist() for c in columns), strict=True) if columns else [()] * len(keys)
    return {key: tuple(_number(raw) for raw in row) for key, row in zip(keys, rows, strict=True)}


def _with_period(t: Table, grain: str, ts: str = "ts") -> Table:
    """`t` with `p`, the period index of column `ts`: the source's own `p` (its rows'
    period, worked out once per row) when `ts` is the source's timestamp."""
    if ts == "ts" and "p" in t.columns:
        return t
    return t.mutate(p=period_expr(t[ts], grain))


# A request's span as query parameters (Request.span): one query, compiled once, serves
# every period asked for. Their values: `span_values`, given to Runner.execute.
SPAN_FIRST = ibis.param("int64")
SPAN_LAST = ibis.param("int64")
SPAN_START = ibis.param("timestamp")
SPAN_END = ibis.param("timestamp")


def span_values(request: Request) -> dict[Any, Any]:
    """The values of the span's parameters for `request` (none when it names no span): the
    first and last period index, and when the periods' ends are dates, their first instant
    and the first instant after them."""
    if request.span is None:
        return {}
    first, last = request.span
    values: dict[Any, Any] = {SPAN_FIRST: first, SPAN_LAST: last}
    ends = _instants(request)
    if ends is not None:
        values[SPAN_START], values[SPAN_END] = ends
    return values


def _instants(request: Request) -> tuple[datetime, datetime] | None:
    assert request.span is not None
    first, last = request.span
    try:
        start, end = period_start(first, request.grain), period_start(last + 1, request.grain)
    except ValueError:  # past the year 9999
        return None
    return datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day)


def _narrowed(engine: Runner, t: Table, request: Request, ts: str) -> Table:
    """`t` (with `p`, the period index of column `ts`) cut to the periods the request asks
    for, when it names them (executed with `span_values(request)`)."""
    if request.span is None:
        return t
    t = t.filter(t.p.between(SPAN_FIRST, SPAN_LAST))
    if engine.conn.name == "duckdb" and t[ts].type().is_timestamp() and _instants(request):
        # The same rows, said of the timestamp itself (the mirror's are plain UTC): DuckDB
        # then reads only the rows of those periods and joins nothing else, where it would
        # join every order to its customer before working out which month each is in.
        t = t.filter((t[ts] >= SPAN_START) & (t[ts] < SPAN_END))
    return t


def _query(engine: Runner, key: tuple[Any, ...], request: Request, build: Callable[[], Any]) -> Any:
    """What `build()` makes for `request` (a query, or one with what goes with it), built
    once per access scope and mirror version (`Runner.kept`) for every request alike but
    in the periods it names: those are the query's parameters (`span_values`), so the
    Ibis expression of one month's query serves every month. Building it again cost a
    month's cross-sell rate by age bracket 20-40 ms of Ibis a request at 1,000,000
    customers (two queries, each with its joins, lookups and the bracket's expression)."""
    if request.span is None:
        return build()
    shape = (replace(request, span=None), _instants(request) is not None)
    return engine.kept(("query", *key, shape), build)


def _framed(
    engine: Runner,
    metric: Metric,
    source: str,
    request: Request,
    series: Series,
    rows: Callable[[Request], Table],
) -> Series:
    """`series` of a local kind computed for some periods only, with the values its
    breakdown takes over the whole coverage (`rows(request)`: its grouped rows). Not by
    each record's own department: those are the parts of a breakdown added up the tree,
    whose departments the engine works out itself (Engine._rolled_dimensions)."""
    if request.span is not None and request.by and request.by != OWN_DEPARTMENT:
        whole = replace(request, span=None)
        series.dimensions = engine.dimension_values(metric.key, source, whole, lambda: rows(whole))
    return series


def _group(t: Table, request: Request, ts: str = "ts") -> tuple[Table, list[Any]]:
    t = _with_period(t, request.grain, ts)
    keys: list[Any] = ["p"]
    if request.by:
        if request.by not in t.columns:
            raise UnknownColumn(f"this metric cannot be broken down by {request.by}")
        keys.append(request.by)
    return t, keys


AGGREGATIONS: dict[str, Callable[[Table, str | None, Any], Any]] = {
    "count": lambda t, c, where: t.count(where=where) if c is None else t[c].count(where=where),
    "count_distinct": lambda t, c, where: t[c].nunique(where=where),
    "sum": lambda t, c, where: t[c].sum(where=where),
    "mean": lambda t, c, where: t[c].mean(where=where),
    "median": lambda t, c, where: t[c].median(where=where),
    "percentile": lambda t, c, where: None,  # needs the quantile: see Aggregate.value
    "min": lambda t, c, where: t[c].min(where=where),
    "max": lambda t, c, where: t[c].max(where=where),
}
Where = Callable[[Table], Any]


def _fields_read(where: Where, t: Table) -> set[str]:
    """The columns of `t` the filter `where` reads."""
    return {field.name for field in where(t).op().find(ops.Field) if field.rel == t.op()}


@dataclass(frozen=True, kw_only=True)
class Aggregate(Metric):
    """count, count distinct, sum, mean, median, percentile (continuous, `quantile` 0-1),
    min or max of a column of one source."""

    source: str
    agg: str
    column: str | None = None
    quantile: float | None = None  # for agg="percentile": 0.9 is the 90th percentile
    where: Where | None = None
    reads: tuple[str, ...] = ()  # the dimensions `where` reads (joined on for it)
    period_column: str = "ts"
    kind: ClassVar[str] = "aggregate"
    local: ClassVar[bool] = True

    @property
    def counts(self) -> bool:  # type: ignore[override]
        return self.agg in ("count", "count_distinct", "sum")

    def source_name(self, registry: Lookup) -> str | None:
        return self.source

    def columns_read(self, engine: Runner) -> Mapping[str, frozenset[str]] | None:
        read = {c for c in (self.column, self.period_column) if c is not None} | set(self.reads)
        if self.where is not None:
            try:
                read |= _fields_read(self.where, engine.plain(self.source))
            except (AttributeError, IbisError):
                return None  # its filter reads a dimension joined on, or what is not known
        return {self.source: frozenset(read)}

    def _rows(self, engine: Runner, request: Request) -> tuple[Table, list[Any]]:
        t = engine.table(self.source, request, self.reads)
        if self.where is not None:
            t = t.filter(self.where(t))
        if self.column is not None and self.column not in t.columns:
            raise UnknownColumn(f"{self.key}: source {self.source} has no column {self.column!r}")
        t = t.filter(t[self.period_column].notnull())
        t, keys = _group(t, request, self.period_column)
        return _narrowed(engine, t, request, self.period_column), keys

    def compute(self, engine: Runner, request: Request) -> Series:
        if self.agg in ("median", "percentile") and engine.conn.name == "sqlite":
            t, keys = self._rows(engine, request)
            values = self._quantile_in_python(engine, t, keys, request)
        else:
            expr = _query(
                engine, ("value", self), request, lambda: self._value_query(engine, request)
            )
            values = _frame_to_values(engine.execute(expr, request), request.by)
        return self.framed(engine, request, Series(values, engine.coverage(self.source, request)))

    def _value_query(self, engine: Runner, request: Request) -> Table:
        """The query of the value per group: on DuckDB, a percentile of whole numbers off
        the rows counted by value, a distinct count by department off each department's
        distinct values; else the aggregate over the rows."""
        if self._quantile_of_counts(engine, request):
            return self._counted_quantile(engine, request)
        if self._distinct_over_tree(engine, request):
            return self._tree_distinct(engine, request)
        t, keys = self._rows(engine, request)
        return t.group_by(keys).aggregate(value=self.value(t))

    def _quantile_of_counts(self, engine: Runner, request: Request) -> bool:
        """Whether this median or percentile is read off how many rows hold each value
        (`_counted_quantile`): on DuckDB, of a column of whole numbers (the waits, in
        seconds), where a month of ten million contacts holds a few hundred values; for
        the company and by department (by region it took as long as the percentile of
        every row: each contact is joined to its customer before it is counted)."""
        if (
            self.agg not in ("median", "percentile")
            or engine.conn.name != "duckdb"
            or request.by not in (None, DEPARTMENT.name)
        ):
            return False
        assert self.column is not None
        plain = engine.plain(self.source)
        return self.column in plain.columns and plain[self.column].type().is_integer()

    def _counted_quantile(self, engine: Runner, request: Request) -> Table:
        """The median or percentile per group, as DuckDB's QUANTILE_CONT interpolates it
        (the value at rank (n - 1) * q, between the two ranks around it), read off each
        group's rows counted by value, by each row's own department: the company adds up
        every department's counts (and those of rows in none), and by department the counts
        are joined to the tree, not every row: each department's subtree adds up its
        departments' counts. At 1,000,000 customers the 90th-percentile wait by department
        took 0.30 s with every contact joined to the tree (see the README)."""
        assert self.column is not None
        column = self.column
        q = 0.5 if self.agg == "median" else self.quantile
        assert q is not None
        own = replace(request, by=OWN_DEPARTMENT)
        if request.by is None and OWN_DEPARTMENT not in engine.plain(self.source).columns:
            own = request  # (a source of a metrics file with no department)

        def by_own_department() -> Table:
            t, keys = self._rows(engine, own)
            t = t.filter(t[column].notnull())
            return t.group_by([*keys, column]).aggregate(n=t.count())

        # Counted by each row's own department once for the company and the departments
        # (a table of its own when the sources are: one scan of the contacts for both)
        counted = engine.shared(("counted", self.key, own), by_own_department)
        keys = ["p"]
        if request.by == DEPARTMENT.name:
            counted = engine.rows_with(self.source, counted, DEPARTMENT.name)
            keys.append(DEPARTMENT.name)
        counted = counted.group_by([*keys, column]).aggregate(n=counted.n.sum())
        upto = ibis.cumulative_window(group_by=keys, order_by=counted[column])
        ranked = counted.mutate(
            upto=counted.n.sum().over(upto), rank=(counted.n.sum().over(group_by=keys) - 1)
        )
        # (n - 1) * q in floating point, as DuckDB works it out
        ranked = ranked.mutate(at=ranked["rank"].cast("float64") * q)
        ranked = ranked.mutate(below=ranked.at.floor(), above=ranked.at.ceil())
        ends = ranked.group_by(keys).aggregate(
            low=ranked[column].min(where=ranked.upto > ranked.below),
            high=ranked[column].min(where=ranked.upto > ranked.above),
            step=(ranked.at - ranked.below).max(),
        )
        low, high = ends.low.cast("float64"), ends.high.cast("float64")
        return ends.select(*keys, value=low + ends.step * (high - low))

    def _distinct_over_tree(self, engine: Runner, request: Request) -> bool:
        """Whether this distinct count by department is counted off the distinct values of
        each department's own rows joined to the tree (`_tree_distinct`): on DuckDB."""
        return (
            self.agg == "count_distinct"
            and request.by == DEPARTMENT.name
            and engine.conn.name == "duckdb"
        )

    def _tree_distinct(self, engine: Runner, request: Request) -> Table:
        """The distinct count per period and department subtree, of the distinct (period,
        own department, value) of the rows joined to the tree rather than every row: the
        distinct salespeople by department of 2,200,000 orders, each order joined to every
        department above its own, took 95 ms at 1,000,000 customers (see the README)."""
        assert self.column is not None
        column = self.column
        t, keys = self._rows(engine, replace(request, by=OWN_DEPARTMENT))
        # (nulls kept: a group whose rows all lack the value counts 0, as before)
        seen = engine.rows_with(self.source, t.select(*keys, column).distinct(), DEPARTMENT.name)
        return seen.group_by(["p", DEPARTMENT.name]).aggregate(value=seen[column].nunique())

    def framed(self, engine: Runner, request: Request, series: Series) -> Series:
        """`series`, computed for `request`, with the values its breakdown takes over the
        whole coverage where the request names some periods (see `_framed`)."""
        return _framed(
            engine, self, self.source, request, series, lambda r: self._rows(engine, r)[0]
        )

    def rolls_up(self, engine: Runner) -> bool:
        # Sums, counts, means (a sum over a count), smallest and largest add up; a distinct
        # count only of what is in one department; medians and percentiles do not.
        if self.agg in ("count", "sum", "mean", "min", "max"):
            return True
        return self.agg == "count_distinct" and self.column in engine.department_entities(
            self.source
        )

    def parts(self, engine: Runner, request: Request) -> tuple[Parts, tuple[int, int] | None]:
        def build() -> tuple[Any, list[str]]:
            if self.counts_active(engine):
                # Who was active when, by each one's own department: the table retention
                # and the repeat customers read, each group's entities counted off it (the
                # active customers of the whole catalogue at 1,000,000 customers: a
                # distinct count of 3M orders, 0.19-0.20 s -> a few ms; see the README).
                assert self.column is not None
                active = _activity(engine, self.source, self.column, request)
                active = active.filter(active[self.column].notnull() & active.p.notnull())
                keys = ["p", *([request.by] if request.by else [])]
                return active.group_by(keys).aggregate(v0=active.count()), ["v0"]
            t, keys = self._rows(engine, request)
            columns = {f"v{j}": e for j, e in enumerate(self.part_values(t))}
            return t.group_by(keys).aggregate(**columns), list(columns)

        expr, columns = _query(engine, ("parts", self), request, build)
        frame = engine.execute(expr, request)
        return _frame_to_parts(frame, request.by, columns), engine.coverage(self.source, request)

    def part_values(self, t: Table, where: Any = None) -> list[Any]:
        """What `combine` makes the value of: a mean's sum and count, else the value."""
        if self.agg == "mean":
            assert self.column is not None
            return [t[self.column].sum(where=where), t[self.column].count(where=where)]
        return [self.value(t, where)]

    def combine(self, parts: list[tuple[float | None, ...]]) -> float | None:
        if self.agg == "mean":
            return _ratio_of_sums(parts)
        known = [p[0] for p in parts if p[0] is not None]
        if not known:
            return None
        if self.agg == "min":
            return min(known)
        if self.agg == "max":
            return max(known)
        return float(sum(known))

    def value(self, t: Table, where: Any = None) -> Any:
        """The aggregate over `t` (over the rows where `where` holds, if given)."""
        if self.agg == "percentile":
            assert self.column is not None and self.quantile is not None
            return t[self.column].quantile(self.quantile, where=where)
        return AGGREGATIONS[self.agg](t, self.column, where)

    def counts_active(self, engine: Runner) -> bool:
        """Whether this counts the distinct entities of its source that are each in one
        department, all of its rows: what its parts by own department read off who was
        active when (`_activity`)."""
        return (
            self.agg == "count_distinct"
            and self.where is None
            and not self.reads
            and self.period_column == "ts"
            and self.column in engine.department_entities(self.source)
        )

    def batches(self, engine: Runner, rolled: bool = False) -> tuple[str, ...] | None:
        """What a query computing this aggregate together with others must share (its
        source and period column), or None when it has to run on its own. `rolled`: its
        parts by own department are asked for (see `counts_active`)."""
        if rolled and self.counts_active(engine):
            return None
        if self.agg in ("median", "percentile") and engine.conn.name == "sqlite":
            return None
        if (
            self.agg in ("count_distinct", "median", "percentile")
            and engine.conn.name == "postgres"
        ):
            # PostgreSQL computes distinct and ordered-set aggregates only by sorting all
            # of a query's rows by group, and then runs none of it in parallel: in a batch
            # one of them made the scan of ten million contacts take 21 s; alone, each
            # sorts just the rows its own filter keeps (visits: 0.8 s), and the batch
            # of the rest hashes (4 s).
            return None
        return (self.source, self.period_column, *self.reads)

    @staticmethod
    def apart(engine: Runner, metrics: list[Aggregate]) -> list[list[Aggregate]]:
        """`metrics` (a batch) in the queries to run: on DuckDB, a distinct count, median or
        percentile with a filter of its own goes with those that filter their rows the
        same way alone, so its query reads only those rows. DuckDB hashes them, but in a
        batch each reads every row the batch keeps: the distinct visitors and the
        90th-percentile wait of a million customers in one query took longer than each
        over its own contacts (see the README)."""
        if engine.conn.name != "duckdb":
            return [metrics]
        wheres = [
            m.where
            for m in metrics
            if m.where is not None and m.agg in ("count_distinct", "median", "percentile")
        ]
        groups = [[m for m in metrics if m.where is where] for where in dict.fromkeys(wheres)]
        rest = [m for m in metrics if not any(m in group for group in groups)]
        return [group for group in (*groups, rest) if group]

    @staticmethod
    def compute_together(
        engine: Runner, metrics: list[Aggregate], request: Request
    ) -> dict[str, Series]:
        """Several aggregates of one source in one scan, each over the rows its own filter
        keeps: the same numbers as computing them one at a time."""
        frame, _, coverage = Aggregate._together(engine, metrics, request, parts=False)
        results = {}
        for i, metric in enumerate(metrics):
            rows = frame[frame[f"n{i}"] > 0] if f"n{i}" in frame.columns else frame
            results[metric.key] = Series(_frame_to_values(rows, request.by, f"v{i}_0"), coverage)
        return results

    @staticmethod
    def parts_together(
        engine: Runner, metrics: list[Aggregate], request: Request
    ) -> dict[str, tuple[Parts, tuple[int, int] | None]]:
        """The `parts` of several aggregates of one source in one scan."""
        frame, widths, coverage = Aggregate._together(engine, metrics, request, parts=True)
        results = {}
        for i, metric in enumerate(metrics):
            rows = frame[frame[f"n{i}"] > 0] if f"n{i}" in frame.columns else frame
            columns = [f"v{i}_{j}" for j in range(widths[i])]
            results[metric.key] = (_frame_to_parts(rows, request.by, columns), coverage)
        return results

    @staticmethod
    def _together(
        engine: Runner, metrics: list[Aggregate], request: Request, *, parts: bool
    ) -> tuple[Any, list[int], tuple[int, int] | None]:
        source = metrics[0].source
        expr, widths = _query(
            engine,
            ("together", tuple(metrics), parts),
            request,
            lambda: Aggregate._batch(engine, metrics, request, parts=parts),
        )
        frame = engine.execute(expr, request)
        return frame, widths, engine.coverage(source, request)

    @staticmethod
    def _batch(
        engine: Runner, metrics: list[Aggregate], request: Request, *, parts: bool
    ) -> tuple[Any, list[int]]:
        """`_together`'s query, and how many columns each metric has in it."""
        source, period_column = metrics[0].source, metrics[0].period_column
        t = engine.table(source, request, metrics[0].reads)
        t = t.filter(t[period_column].notnull())
        t, keys = _group(t, request, period_column)
        t = _narrowed(engine, t, request, period_column)
        filters = [metric.where for metric in metrics if metric.where is not None]
        if len(filters) == len(metrics):
            # Each keeps only its own rows: the rows none keeps need not be read (nor joined
            # to each department above their own, for a department breakdown).
            t = t.filter(functools.reduce(operator.or_, [where(t) for where in filters]))
        split = Aggregate._split_by(engine, metrics, t, keys) if parts else None
        if split is not None:
            return Aggregate._split_batch(metrics, t, keys, split)
        columns: dict[str, Any] = {}
        widths = []
        for i, metric in enumerate(metrics):
            if metric.column is not None and metric.column not in t.columns:
                raise UnknownColumn(
                    f"{metric.key}: source {source} has no column {metric.column!r}"
                )
            where = metric.where(t) if metric.where is not None else None
            values = metric.part_values(t, where) if parts else [metric.value(t, where)]
            widths.append(len(values))
            for j, value in enumerate(values):
                columns[f"v{i}_{j}"] = value
            if where is not None:
                # A group none of the metric's rows fall in is absent, as when run alone.
                columns[f"n{i}"] = t.count(where=where)
        return t.group_by(keys).aggregate(**columns), widths

    @staticmethod
    def _split_by(
        engine: Runner, metrics: list[Aggregate], t: Table, keys: list[Any]
    ) -> str | None:
        """The one column every filter of the batch reads, where it is one of the source's
        own breakdowns (a contact's channel: few values) and every aggregate's parts add up
        over its values (sums and counts, the sum and count of a mean, the smallest and the
        largest; not a distinct count, which would count an entity once per value); else
        None. See `_split_batch`."""
        if any(m.agg not in ("count", "sum", "mean", "min", "max") for m in metrics):
            return None
        read: set[str] = set()
        for metric in metrics:
            if metric.where is not None:
                read |= _fields_read(metric.where, t)
        if len(read) != 1:
            return None
        column = read.pop()
        dimension = engine.registry.model.source(metrics[0].source).dimension(column)
        if dimension is None or dimension.join is not None or column in keys:
            return None
        return column

    @staticmethod
    def _split_batch(
        metrics: list[Aggregate], t: Table, keys: list[Any], split: str
    ) -> tuple[Any, list[int]]:
        """`_batch`'s parts grouped by the column the filters read (`split`) as well, no
        filter on the rows, then added up over its values where each metric's filter holds:
        the same parts as filtering every row once per filtered aggregate. At 1,000,000
        customers the contacts' batch by own department (calls and visits filtered by
        channel) 315-409 -> 206-251 ms in DuckDB alone (see the README)."""
        inner: dict[str, Any] = {"rows": t.count()}
        widths = []
        for i, metric in enumerate(metrics):
            values = metric.part_values(t)
            widths.append(len(values))
            inner.update({f"v{i}_{j}": value for j, value in enumerate(values)})
        g = t.group_by([*keys, split]).aggregate(**inner)
        columns: dict[str, Any] = {}
        for i, metric in enumerate(metrics):
            where = metric.where(g) if metric.where is not None else None
            for j in range(widths[i]):
                part = g[f"v{i}_{j}"]
                add = {"min": part.min, "max": part.max}.get(metric.agg, part.sum)
                columns[f"v{i}_{j}"] = add(where=where)
            if where is not None:
                # A group none of the metric's rows fall in is absent, as when run alone.
                columns[f"n{i}"] = g.rows.sum(where=where)
        return g.group_by(keys).aggregate(**columns), widths

    def _quantile_in_python(
        self, engine: Runner, t: Table, keys: list[Any], request: Request
    ) -> Values:
        # SQLite has no median or percentile: gather the values and let pandas interpolate
        # between ranks as SQL's percentile_cont does (the 90th-percentile wait of a
        # million customers' calls: 14.6 s in a Python loop, 7.8 s so).
        assert self.column is not None
        frame = engine.execute(
            t.filter(t[self.column].notnull()).select(*keys, v=t[self.column]), request
        )
        if request.by:
            frame[request.by] = [label(d) for d in frame[request.by]]
        q = 0.5 if self.agg == "median" else self.quantile
        assert q is not None
        quantiles = frame.astype({"v": "float64"}).groupby(keys)["v"].quantile(q)
        return {
            (int(k[0]), k[1]) if request.by else (int(k), None): float(v)
            for k, v in quantiles.items()
        }


@dataclass(frozen=True, kw_only=True)
class Ratio(Metric):
    """One metric over another, times `scale`; null when the denominator is 0 or missing."""

    numerator: str
    denominator: str
    scale: float = 1.0
    kind: ClassVar[str] = "ratio"
    local: ClassVar[bool] = True

    def inputs(self) -> tuple[str, ...]:
        return (self.numerator, self.denominator)

    def source_name(self, registry: Lookup) -> str | None:
        return registry.get(self.numerator).source_name(registry)

    def columns_read(self, engine: Runner) -> Mapping[str, frozenset[str]] | None:
        return {}  # its inputs' values alone

    def compute(self, engine: Runner, request: Request) -> Series:
        num = engine.series(self.numerator, request)
        den = engine.series(self.denominator, request)
        numerator_counts = engine.registry.get(self.numerator).counts
        coverage = _overlap(num.coverage, den.coverage)
        values: Values = {}
        for key, d in den.values.items():
            if coverage is None or not coverage[0] <= key[0] <= coverage[1]:
                continue
            n = num.values.get(key, 0.0 if numerator_counts else None)
            values[key] = None if n is None or not d else n / d * self.scale
        return Series(values, coverage)


_OPERATORS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


@dataclass(frozen=True, kw_only=True)
class Derived(Metric):
    """Arithmetic (+ - * / and numbers) over other metrics, e.g. `1 - retention_rate`."""

    expression: str
    kind: ClassVar[str] = "derived"
    local: ClassVar[bool] = True

    def columns_read(self, engine: Runner) -> Mapping[str, frozenset[str]] | None:
        return {}  # its inputs' values alone

    def _tree(self) -> ast.expr:
        try:
            tree = ast.parse(self.expression, mode="eval").body
        except SyntaxError as exc:
            raise MetricError(
                f"{self.key}: cannot read expression {self.expression!r}: {exc.msg}"
            ) from None
        for node in ast.walk(tree):
            if not isinstance(
                node,
                ast.BinOp
                | ast.UnaryOp
                | ast.Name
                | ast.Constant
                | ast.operator
                | ast.unaryop
                | ast.Load,
            ):
                raise MetricError(
                    f"{self.key}: only + - * / numbers and metric keys are allowed in {self.expression!r}"
                )
        return tree

    def inputs(self) -> tuple[str, ...]:
        return tuple(sorted({n.id for n in ast.walk(self._tree()) if isinstance(n, ast.Name)}))

    def source_name(self, registry: Lookup) -> str | None:
        names = self.inputs()
        return registry.get(names[0]).source_name(registry) if names else None

    def compute(self, engine: Runner, request: Request) -> Series:
        tree = self._tree()
        inputs = {name: engine.series(name, request) for name in self.inputs()}
        keys = set().union(*(s.values for s in inputs.values())) if inputs else set()
        coverages = [s.coverage for s in inputs.values()]
        coverage = coverages[0] if coverages else None
        for other in coverages[1:]:
            coverage = _overlap(coverage, other)
        # A count or sum with no rows for a dimension value in a covered period is 0 (the
        # net promoter score of a region without detractors), as a ratio's numerator is.
        missing = {n: 0.0 if engine.registry.get(n).counts else None for n in inputs}
        return Series(
            {
                k: _evaluate(tree, {n: s.values.get(k, missing[n]) for n, s in inputs.items()})
                for k in keys
            },
            coverage,
        )


def _overlap(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    """The periods both sources cover: a ratio of two sources exists only where both have data."""
    if a is None or b is None or max(a[0], b[0]) > min(a[1], b[1]):
        return None
    return (max(a[0], b[0]), min(a[1], b[1]))


def _evaluate(node: ast.expr, env: Mapping[str, float | None]) -> float | None:
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]  # only numbers pass _tree()
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        inner = _evaluate(node.operand, env)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    assert isinstance(node, ast.BinOp)
    left, right = _evaluate(node.left, env), _evaluate(node.right, env)
    if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
        return None
    return _OPERATORS[type(node.op)](left, right)


@dataclass(frozen=True, kw_only=True)
class Conversion(Metric):
    """Share of entities that reach event B within `window_days` after event A, by A's period."""

    source: str
    start: str = "ts"
    end: str = "converted_ts"
    window_days: int = 30
    kind: ClassVar[str] = "conversion"
    local: ClassVar[bool] = True

    def source_name(self, registry: Lookup) -> str | None:
        return self.source

    def compute(self, engine: Runner, request: Request) -> Series:
        frame = self._counts(engine, request)
        values = _frame_to_values(frame.assign(value=frame["hits"] / frame["total"]), request.by)
        series = Series(values, engine.coverage(self.source, request))
        return _framed(
            engine, self, self.source, request, series, lambda r: self._started(engine, r)
        )

    def rolls_up(self, engine: Runner) -> bool:
        return True  # hits and totals add up

    def parts(self, engine: Runner, request: Request) -> tuple[Parts, tuple[int, int] | None]:
        frame = self._counts(engine, request)
        parts = _frame_to_parts(frame, request.by, ["hits", "total"])
        return parts, engine.coverage(self.source, request)

    def combine(self, parts: list[tuple[float | None, ...]]) -> float | None:
        return _ratio_of_sums(parts)

    def _started(self, engine: Runner, request: Request) -> Table:
        """The source's rows, each with the period it started in (`p`)."""
        t = engine.table(self.source, request)
        for column in (self.start, self.end):
            if column not in t.columns:
                raise UnknownColumn(f"{self.key}: source {self.source} has no column {column!r}")
        t, _ = _group(t, request, self.start)
        return _narrowed(engine, t, request, self.start)

    def _counts(self, engine: Runner, request: Request) -> Any:
        """Per period (and dimension value): how many started, and how many of them reached
        the end within the window."""
        t = self._started(engine, request)
        keys = ["p", *([request.by] if request.by else [])]
        window = within(engine.conn, t[self.start], t[self.end], self.window_days)
        reached = (t[self.end].notnull() & window).ifelse(1, 0)
        return engine.execute(
            t.group_by(keys).aggregate(hits=reached.sum(), total=t.count()), request
        )


def _activity(
    engine: Runner, source: str, entity: str, request: Request, where: Where | None = None
) -> Table:
    """Distinct (entity, period[, dimension]) pairs: who was active when."""

    def build() -> Table:
        t = engine.table(source, request)
        if where is not None:
            t = t.filter(where(t))
        t, keys = _group(t, request)
        return _narrowed(engine, t, request, "ts").select(entity, *keys).distinct()

    return (
        build() if where is not None else engine.shared(("active", source, entity, request), build)
    )


@dataclass(frozen=True, kw_only=True)
class Retention(Metric):
    """Share of entities active in the previous period that are active again in this one."""

    source: str
    entity: str = "customer"
    kind: ClassVar[str] = "retention"
    local: ClassVar[bool] = True  # a period's value reads that period and the one before

    def source_name(self, registry: Lookup) -> str | None:
        return self.source

    def compute(self, engine: Runner, request: Request) -> Series:
        parts, coverage = self.parts(engine, request)
        series = Series({k: self.combine([part]) for k, part in parts.items()}, coverage)
        # A period's breakdown values are those of the entities active in the period before.
        return _framed(
            engine, self, self.source, request, series, lambda r: self._active(engine, r, 1)
        )

    def rolls_up(self, engine: Runner) -> bool:
        # Who came back and who was there add up over departments when each entity is in
        # one department (a customer's orders are in the customer's).
        return self.entity in engine.department_entities(self.source)

    def combine(self, parts: list[tuple[float | None, ...]]) -> float | None:
        return _ratio_of_sums(parts)

    def _active(self, engine: Runner, request: Request, shift: int = 0) -> Table:
        """Who was active when (the period index moved on by `shift`)."""
        active = _activity(engine, self.source, self.entity, request)
        if request.by:
            # Entities that lack the dimension are one group (unknown), as in every other
            # kind: matched to themselves, which SQL's null never is (in no department: -1).
            none = -1 if request.by == OWN_DEPARTMENT else UNKNOWN
            active = active.mutate(**{request.by: active[request.by].fill_null(none)})
        return active.mutate(p=active.p + shift) if shift else active

    def parts(self, engine: Runner, request: Request) -> tuple[Parts, tuple[int, int] | None]:
        """Per period: (entities active again, entities active in the previous period). For
        some periods (Request.span), the activity of those and the one before alone."""
        wide = request
        if request.span is not None:
            wide = replace(request, span=(request.span[0] - 1, request.span[1]))
        counted = _query(engine, ("retained", self), wide, lambda: self._counted(engine, wide))
        frame = engine.execute(counted, wide)
        parts: Parts = {}
        coverage = engine.coverage(self.source, request)
        for row in frame.itertuples(index=False):
            record = row._asdict()
            key = (int(record["prev_p"]), label(record["prev_dim"]) if request.by else None)
            if coverage and key[0] > coverage[1]:
                continue  # the period after the data ends is not covered
            if request.span and not request.span[0] <= key[0] <= request.span[1]:
                continue  # (the period after the span: its own period was not read)
            parts[key] = (float(record["hits"]), float(record["total"]))
        return parts, coverage

    def _counted(self, engine: Runner, request: Request) -> Table:
        """Per period (and dimension): the entities active in it, and of those, how many are
        active in the next."""
        active = self._active(engine, request)
        previous = active.select(
            prev_entity=active[self.entity],
            prev_p=active.p + 1,
            **({"prev_dim": active[request.by]} if request.by else {}),
        )
        # Each entity active in a period, matched to itself active in the next (at most
        # once: `active` is distinct), in one query: the month's distinct buyers were
        # worked out twice when those there and those back were two (retention by region
        # for a month at a million customers: two queries of 32-44 ms).
        predicates = [previous.prev_entity == active[self.entity], previous.prev_p == active.p]
        if request.by:
            predicates.append(previous.prev_dim == active[request.by])
        matched = previous.left_join(active, predicates)
        return matched.group_by(["prev_p", *(["prev_dim"] if request.by else [])]).aggregate(
            total=matched.count(), hits=matched[self.entity].count()
        )


@dataclass(frozen=True, kw_only=True)
class History(Metric):
    """Counts active entities by what their history says about the period; each kind of
    history (New, Returning, Upsell, CrossSell) says which entities it keeps."""

    source: str
    entity: str = "customer"
    kind: ClassVar[str] = "history"
    counts: ClassVar[bool] = True
    # A period's value reads that period's records, and of the whole history only what each
    # entity did first (kept per mirror version on a live read: `_whole_history`).
    local: ClassVar[bool] = True
    # Whether the rows `kept` gives hold each (entity, period[, dimension]) once already:
    # each entity's own first period of something, or who was active when (distinct)
    # matched to one such first period per entity.
    distinct_rows: ClassVar[bool] = True
    # The columns of its source it reads beyond the entity and the time (`columns_read`).
    reads_columns: ClassVar[tuple[str, ...]] = ()

    def source_name(self, registry: Lookup) -> str | None:
        return self.source

    def columns_read(self, engine: Runner) -> Mapping[str, frozenset[str]] | None:
        return {self.source: frozenset({self.entity, "ts", *self.reads_columns})}

    def compute(self, engine: Runner, request: Request) -> Series:
        series = Series(
            _frame_to_values(
                engine.execute(
                    _query(
                        engine, ("counted", self), request, lambda: self._counted(engine, request)
                    ),
                    request,
                ),
                request.by,
            ),
            engine.coverage(self.source, request),
        )
        return _framed(
            engine,
            self,
            self.source,
            request,
            series,
            lambda r: self._rows(engine, r).select("p", *([r.by] if r.by else [])),
        )

    def _rows(self, engine: Runner, request: Request, h: _Histories | None = None) -> Table:
        """The (entity, period[, dimension]) rows the history keeps, of the periods asked for
        (`h`: what `_histories` gave for `request`, if worked out already)."""
        kept = self.kept(self._histories(engine, request) if h is None else h)
        if request.span is not None:
            # (What is read off the first purchases alone spans every period.)
            kept = kept.filter(kept.p.between(SPAN_FIRST, SPAN_LAST))
        kept = kept.select(self.entity, "p", *([request.by] if request.by else []))
        # DuckDB removes no duplicates a join of distinct rows cannot have: the repeat
        # customers of the whole catalogue at 1,000,000 customers so 0.25 -> 0.15-0.18 s.
        return kept if self.distinct_rows else kept.distinct()

    def _histories(self, engine: Runner, request: Request) -> _Histories:
        """What every kind reads for `request`: its records, the whole history, and each
        entity's first period (with its own department, where all its records are in one)."""
        t = engine.table(self.source, request)
        if request.by and request.by not in t.columns:
            raise UnknownColumn(f"this metric cannot be broken down by {request.by}")
        # History is not narrowed by filters.
        whole = Request(grain=request.grain)
        base = _with_period(engine.table(self.source, whole), request.grain)
        # With each entity's own department, where all its records are in one: what a
        # breakdown by it (the parts the department tree adds up) is read off, as the whole
        # company's is (see _Histories.own).
        own = self.entity in engine.department_entities(self.source)
        firsts = _whole_history(
            engine,
            ("firsts", self.source, self.entity, request.grain),
            lambda: base.group_by(first_entity=base[self.entity]).aggregate(
                first_p=base.p.min(),
                **({"first_dept": base[OWN_DEPARTMENT].min()} if own else {}),
            ),
        )
        dims = [request.by] if request.by else []
        return _Histories(engine, self.source, request, base, firsts, dims)

    def _counted(self, engine: Runner, request: Request, h: _Histories | None = None) -> Table:
        counted = self._rows(engine, request, h)
        dims = [request.by] if request.by else []
        return counted.group_by(["p", *dims]).aggregate(value=counted.count())

    def kept(self, h: _Histories) -> Table:
        """The (entity, period[, dimension]) rows this history counts: of the periods
        the request asks for (`h.matched`, `_activity`), or of any period where read off
        the first purchases alone."""
        raise NotImplementedError

    def rolls_up(self, engine: Runner) -> bool:
        # Distinct entities add up over departments when each is in one department.
        return self.entity in engine.department_entities(self.source)


def _whole_history(
    engine: Runner, key: tuple[Any, ...], build: Callable[[], Table], *, shared: bool = True
) -> Table:
    """A table over the whole history that a history reads whatever periods are asked for
    (each entity's first period, first premium purchase, first purchase per category): on a
    mirror version kept open (live reads of the built-in metrics), computed once per version
    and access scope into a table of the connection's, so a request for one month reads its
    orders and these; else built once per engine (`Runner.shared`). Cross-selling by region
    for one month so: 1.0 s -> see the README (200,000 customers). `shared` False: a join of
    such tables, kept on a live read alone (elsewhere part of each query, as materialising
    it cost the whole catalogue 0.3-0.4 s at 1,000,000 customers)."""
    conn = engine.conn
    if conn.snapshot is None or conn.name != "duckdb" or engine.registry.model is not MODEL:
        return engine.shared(key, build) if shared else build()

    def keep() -> Table:
        # Named after its own expression: what the engine forgets of a busy version (it
        # keeps a bounded number of things) and builds again replaces its old table, not
        # beside it. (One without a digest, holding data in memory, gets a name of its own.)
        table = build()
        return conn.work_table(f"whole_{(digest(table) or uuid.uuid4().hex)[:20]}", table)

    return engine.kept(("whole history", *key), keep)


def _after_first(firsts_of: Table, entity: str, p: str, firsts: Table) -> Table:
    """The rows of `firsts_of` (an entity's first period of something: column `p`) that
    came after the entity's first period of all (`firsts`), with the entity's own
    department where `firsts` has it."""
    joined = firsts_of.join(firsts, firsts_of[entity] == firsts.first_entity)
    own = ["first_dept"] if "first_dept" in firsts.columns else []
    return joined.filter(joined.first_p < joined[p]).select(*firsts_of.columns, *own)


@dataclass(frozen=True)
class _Histories:
    """What every kind of history reads: the request (its periods' records broken down
    and filtered as asked: `matched`), the whole history `base`, each entity's first
    period `firsts`."""

    engine: Runner
    source: str
    request: Request
    base: Table
    firsts: Table
    dims: list[str]

    @property
    def whole(self) -> bool:
        # Neither broken down nor filtered: the period's purchases are the whole history's,
        # and up- and cross-selling can be read off the first purchases alone (four times
        # faster on PostgreSQL; the same numbers, tested against the breakdown's sum).
        return not self.request.by and not self.request.filters

    @property
    def own(self) -> bool:
        # Broken down by each entity's own department alone (the parts a department
        # breakdown adds up), where each entity is in one: read off the first purchases
        # too, each with its entity's department. Cross-selling by department at 1,000,000
        # customers so 0.89 -> 0.16 s (each period's distinct buyers of each category were
        # joined to the first purchases in a category).
        return (
            self.request.by == OWN_DEPARTMENT
            and not self.request.filters
            and "first_dept" in self.firsts.columns
        )

    def of_customer(self, entity: str) -> bool:
        # Broken down by a dimension whose value is the customer's own whenever (its
        # region, not its age at the time), not filtered: read off the first purchases
        # too, each with its customer's value looked up. A month's cross-sold customers
        # by region at 1,000,000 customers so: see the README.
        return (
            entity == "customer"
            and self.request.by is not None
            and not self.request.filters
            and self.engine.of_customer(self.source, self.request.by)
        )

    def matched(self, t: Table, firsts: Table, on: Callable[[Table, Table], Any]) -> Table:
        """The records of the periods asked for that `t` keeps (a filter of them) and that
        match one of `firsts` (`on`: the conditions), with the breakdown worked out for
        those alone. A month's order lines are so matched to its first purchases in a
        category before the age bracket at each purchase is worked out, not after: a
        month's cross-sold customers by age bracket at 1,000,000 customers 47-67 -> 33-39
        ms in DuckDB."""
        request = replace(self.request, by=None)
        later = [self.request.by] if self.request.by else []
        records = _with_period(self.engine.table(self.source, request, later=later), request.grain)
        records = t(_narrowed(self.engine, records, request, "ts"))
        rows = records.semi_join(firsts, on(records, firsts))
        if self.request.by:
            rows = self.engine.rows_with(self.source, rows, self.request.by)
        return rows

    def reads_off(self, entity: str) -> bool:
        """Whether the history's rows are read off first periods alone: `whole`, `own` or
        `of_customer`."""
        return self.whole or self.own or self.of_customer(entity)

    def read_off(self, t: Table, entity: str, first: str, p: str) -> Table:
        """The rows (entity, period[, dimension]) of `t`, a table of first periods
        (`first`: its entity column, `p` its period), where `reads_off`; of the periods the
        request asks for, where it names some."""
        if self.request.span is not None:
            t = t.filter(t[p].between(SPAN_FIRST, SPAN_LAST))
        own = {OWN_DEPARTMENT: t.first_dept} if self.own else {}
        rows = t.select(**{entity: t[first], "p": t[p]}, **own)
        if self.whole or self.own:
            return rows
        by = self.request.by
        assert by is not None
        return self.engine.rows_with(self.source, rows, by).select(entity, "p", by)


@dataclass(frozen=True, kw_only=True)
class New(History):
    """Entities active for the first time ever in the period."""

    def kept(self, h: _Histories) -> Table:
        if h.reads_off(self.entity):
            # Not filtered, nor broken down but by each entity's own department or a
            # value of the customer's own: each entity's first period is the one it is
            # new in, read off the first periods
            # alone (no join to who was active when: the whole catalogue at 1,000,000
            # customers, 0.3 s less).
            f = h.firsts.filter(h.firsts.first_entity.notnull() & h.firsts.first_p.notnull())
            return h.read_off(f, self.entity, "first_entity", "first_p")
        active = _activity(h.engine, self.source, self.entity, h.request)
        joined = active.join(h.firsts, active[self.entity] == h.firsts.first_entity)
        return joined.filter(joined.p == joined.first_p)


@dataclass(frozen=True, kw_only=True)
class Returning(History):
    """Entities active in the period that were active in an earlier one."""

    def kept(self, h: _Histories) -> Table:
        # Active in a period after their first is active and not new: each entity active
        # in the period but those whose first period it is. For some periods, those are the
        # first periods of those periods alone, so the month's buyers are matched to its
        # new customers, not to every customer's first period.
        active = _activity(h.engine, self.source, self.entity, h.request)
        new = h.firsts
        if h.request.span is not None:
            new = new.filter(new.first_p.between(SPAN_FIRST, SPAN_LAST))
        active = active.filter(active[self.entity].notnull() & active.p.notnull())
        return active.anti_join(
            new, [active[self.entity] == new.first_entity, active.p == new.first_p]
        )

    def _counted(self, engine: Runner, request: Request, h: _Histories | None = None) -> Table:
        h = self._histories(engine, request) if h is None else h
        if not (h.whole or h.own):
            return super()._counted(engine, request, h)
        # Where each entity falls in one group a period (the whole company, or its own
        # department, where all its records are in one), those active after their first
        # period are those active less those new: each group's count of the one less the
        # other's, not each active entity matched to its first period (at 1,000,000
        # customers that anti-join took 0.16-0.18 s of the whole catalogue, this 11 ms;
        # see the README). A group with none back is absent, as when counted.
        active = _activity(engine, self.source, self.entity, request)
        active = active.filter(active[self.entity].notnull() & active.p.notnull())
        there = active.group_by(["p", *h.dims]).aggregate(active=active.count())
        new = h.firsts.filter(h.firsts.first_entity.notnull() & h.firsts.first_p.notnull())
        if request.span is not None:
            new = new.filter(new.first_p.between(SPAN_FIRST, SPAN_LAST))
        own = {"new_dim": new.first_dept} if h.own else {}
        came = new.group_by(new_p=new.first_p, **own).aggregate(new=new.count())
        on = [there.p == came.new_p]
        if h.own:
            # (Entities in no department are a group of their own: null matches null.)
            on.append(there[OWN_DEPARTMENT].identical_to(came.new_dim))
        joined = there.left_join(came, on)
        back = joined.select("p", *h.dims, value=joined.active - joined.new.fill_null(0))
        return back.filter(back.value > 0)


@dataclass(frozen=True, kw_only=True)
class Upsell(History):
    """Entities whose first premium purchase is in the period, after standard ones."""

    reads_columns: ClassVar[tuple[str, ...]] = ("product_tier",)

    def kept(self, h: _Histories) -> Table:
        base, firsts = h.base, h.firsts
        premium = base.filter(base.product_tier == "premium")
        first_premium = _whole_history(
            h.engine,
            ("first premium", self.source, self.entity, h.request.grain),
            lambda: premium.group_by(prem_entity=premium[self.entity]).aggregate(
                prem_p=premium.p.min()
            ),
        )
        # Each entity's first premium purchase where it came after a first purchase: what
        # a period's premium buyers are looked up in, so a request joins its month's
        # buyers to these firsts of its months alone, not to every entity's first purchase.
        upsells = _whole_history(
            h.engine,
            ("upsells", self.source, self.entity, h.request.grain),
            lambda: _after_first(first_premium, "prem_entity", "prem_p", firsts),
            shared=False,
        )
        if h.reads_off(self.entity):
            # Each first premium purchase is a purchase in its period: no need to find
            # it again among the period's purchases.
            return h.read_off(upsells, self.entity, "prem_entity", "prem_p")
        if h.request.span is not None:
            upsells = upsells.filter(upsells.prem_p.between(SPAN_FIRST, SPAN_LAST))
        bought = h.matched(
            lambda t: t.filter(t.product_tier == "premium"),
            upsells,
            lambda t, u: [t[self.entity] == u.prem_entity, t.p == u.prem_p],
        )
        return bought.select(self.entity, "p", *h.dims).distinct()


@dataclass(frozen=True, kw_only=True)
class CrossSell(History):
    """Entities that buy in some category for the first time in the period, after buying
    in others."""

    distinct_rows: ClassVar[bool] = False  # a first purchase in two categories in one period
    reads_columns: ClassVar[tuple[str, ...]] = ("product_category",)

    def kept(self, h: _Histories) -> Table:
        base, firsts = h.base, h.firsts
        per_category = _whole_history(
            h.engine,
            ("first per category", self.source, self.entity, h.request.grain),
            lambda: (
                base.filter(base.product_category.notnull())
                .group_by(cat_entity=base[self.entity], cat=base.product_category)
                .aggregate(cat_p=base.p.min())
            ),
        )
        # Each first purchase in a category that came after a first purchase (as upsells).
        # One month by region at 1,000,000 customers: see the README.
        cross_sells = _whole_history(
            h.engine,
            ("cross-sells", self.source, self.entity, h.request.grain),
            lambda: _after_first(per_category, "cat_entity", "cat_p", firsts),
            shared=False,
        )
        if h.reads_off(self.entity):
            # Likewise, each first purchase in a category is one of its period's purchases.
            return h.read_off(cross_sells, self.entity, "cat_entity", "cat_p")
        if h.request.span is not None:
            cross_sells = cross_sells.filter(cross_sells.cat_p.between(SPAN_FIRST, SPAN_LAST))
        bought = h.matched(
            lambda t: t.filter(t.product_category.notnull()),
            cross_sells,
            lambda t, c: [
                t[self.entity] == c.cat_entity,
                t.product_category == c.cat,
                t.p == c.cat_p,
            ],
        )
        return bought.select(self.entity, "p", *h.dims)


@dataclass(frozen=True, kw_only=True)
class Stock(Metric):
    """How many are open at the end of each period: started on or before it and not ended by
    then (a record ending before it starts is never open)."""

    source: str
    start: str = "ts"
    end: str = "resolved_ts"
    kind: ClassVar[str] = "stock"
    counts: ClassVar[bool] = True
    # A period's value reads the records open at its end alone: see `_open_through`.
    local: ClassVar[bool] = True

    def source_name(self, registry: Lookup) -> str | None:
        return self.source

    def rolls_up(self, engine: Runner) -> bool:
        return True  # what is open is counted once per record: counts add up

    def compute(self, engine: Runner, request: Request) -> Series:
        t = engine.table(self.source, request)
        if request.by and request.by not in t.columns:
            raise UnknownColumn(f"this metric cannot be broken down by {request.by}")
        coverage = engine.coverage(self.source, request)
        if coverage is None:
            return Series({}, None)
        if request.span is not None:
            series = Series(self._open_through(engine, t, request), coverage)
            if request.by and request.by != OWN_DEPARTMENT:
                series.dimensions = self._dimensions(engine, replace(request, span=None))
            return series
        dims = [request.by] if request.by else []
        starts = _with_period(t.filter(t[self.start].notnull()), request.grain, self.start)
        opened_q = starts.group_by(["p", *dims]).aggregate(value=starts.count())
        # Each record's end no earlier than its start, so that one ending before it starts
        # is closed where it opens (never open), as `_open_through` counts it.
        ends = starts.filter(starts[self.end].notnull())
        ends = ends.mutate(p=ibis.greatest(ends.p, period_expr(ends[self.end], request.grain)))
        closed_q = ends.group_by(["p", *dims]).aggregate(value=ends.count())
        if engine.conn.name == "duckdb":
            # Both in one query (elsewhere two: on SQLite the union of the two, each with
            # the age bracket's expression, overflowed its parser's stack).
            both = engine.execute(
                opened_q.mutate(opens=ibis.literal(1)).union(closed_q.mutate(opens=0))
            )
            opened = _frame_to_values(both[both["opens"] == 1], request.by)
            closed = _frame_to_values(both[both["opens"] == 0], request.by)
        else:
            opened = _frame_to_values(engine.execute(opened_q), request.by)
            closed = _frame_to_values(engine.execute(closed_q), request.by)
        values: Values = {}
        for dim in {k[1] for k in opened} | {k[1] for k in closed}:
            running = 0.0
            first = min((k[0] for k in opened if k[1] == dim), default=coverage[0])
            for p in range(min(first, coverage[0]), coverage[1] + 1):
                running += (opened.get((p, dim)) or 0.0) - (closed.get((p, dim)) or 0.0)
                if p >= coverage[0]:
                    values[(p, dim)] = running
        return Series(values, coverage)

    def _open_through(self, engine: Runner, t: Table, request: Request) -> Values:
        """The records open at the end of each period the request asks for, in one pass
        over those open at the end of any of them: each counted from the first of those
        periods it is open at the end of (`lo`) to the first it is not (`hi`). Not the whole
        history's openings and endings added up: a month's overdue complaints by age
        bracket works out the bracket of the complaints overdue then alone (see the
        README)."""
        rows = _query(engine, ("open", self), request, lambda: self._open_rows(engine, t, request))
        keys = ["lo", "hi", *([request.by] if request.by else [])]
        frame = engine.execute(rows.group_by(keys).aggregate(value=rows.count()), request)
        values: Values = {}
        for row in frame.itertuples(index=False):
            record = row._asdict()
            dim = label(record[request.by]) if request.by else None
            for p in range(int(record["lo"]), int(record["hi"])):
                values[(p, dim)] = (values.get((p, dim)) or 0.0) + float(record["value"])
        return values

    def _open_rows(self, engine: Runner, t: Table, request: Request) -> Table:
        """`_open_through`'s rows: those open at the end of one of the periods, each with
        the first of them it is open at the end of (`lo`) and the first it is not (`hi`)."""
        own = self.start == "ts" and "p" in t.columns  # the source's own period of `ts`
        a = t.p if own else period_expr(t[self.start], request.grain)
        # The period it ends in; still open: after the last asked for.
        after = SPAN_LAST + 1
        b = period_expr(t[self.end], request.grain).fill_null(after)
        # (one filter and one projection: SQLite's parser overflowed on a query nested
        # deeper, with the age bracket's expression)
        open_some = t[self.start].notnull() & (a <= SPAN_LAST) & (b > SPAN_FIRST) & (b > a)
        timestamps = all(t[c].type().is_timestamp() for c in (self.start, self.end))
        if engine.conn.name == "duckdb" and timestamps and _instants(request):
            # The same rows, said of the timestamps themselves (and more: an end in the
            # first period): DuckDB then reads only those before working out their periods.
            open_some &= (t[self.start] < SPAN_END) & (
                t[self.end].isnull() | (t[self.end] >= SPAN_START)
            )
        return t.filter(open_some).mutate(
            lo=ibis.greatest(a, SPAN_FIRST),
            hi=ibis.least(b, after),
        )

    def _dimensions(self, engine: Runner, whole: Request) -> frozenset[str]:
        """The values the breakdown takes over the whole history (those of every record
        with a start, as `compute` finds them), worked out once (Runner.kept)."""

        def find() -> frozenset[str]:
            t = engine.table(self.source, whole)
            found = t.filter(t[self.start].notnull()).select(whole.by).distinct()
            return frozenset(label(v) for v in engine.execute(found)[whole.by])

        return frozenset(engine.kept(("stock dimensions", self, whole), find))


@dataclass(frozen=True, kw_only=True)
class Headcount(Metric):
    """How many were on board at the start of each period (hired before it, not yet left)."""

    source: str = "employees"
    kind: ClassVar[str] = "headcount"
    counts: ClassVar[bool] = True

    def source_name(self, registry: Lookup) -> str | None:
        return self.source

    def rolls_up(self, engine: Runner) -> bool:
        return True  # a head count adds up

    def compute(self, engine: Runner, request: Request) -> Series:
        stock = Stock(
            key=self.key, name=self.name, meaning=self.meaning, source=self.source, end="left_ts"
        )
        at_end = stock.compute(engine, request)
        # Headcount at the start of p is the headcount at the end of p - 1.
        values = {(p + 1, dim): v for (p, dim), v in at_end.values.items()}
        if at_end.coverage:
            values = {k: v for k, v in values.items() if k[0] <= at_end.coverage[1]}
        return Series(values, at_end.coverage)


@dataclass(frozen=True, kw_only=True)
class Manual(Metric):
    """Values entered by people or pushed by another system; nothing to compute."""

    kind: ClassVar[str] = "manual"

    def columns_read(self, engine: Runner) -> Mapping[str, frozenset[str]] | None:
        return {}

    def compute(self, engine: Runner, request: Request) -> Series:
        return Series({}, None)
