"""The customer profile: who the customers are and what they buy, broken down by one or two
dimensions, within the caller's departments.

Four measures, for the customers in scope that match the filters:

- `customers`: customers on record. Broken down or filtered by one of the order's own
  dimensions (product category or tier, sales channel, salesperson...), those who ever
  bought in that cell, at any date.
- `active_customers`: those of them with at least one order (line, in that cell) dated in
  the range.
- `revenue`: the amount of their order lines dated in the range.
- `orders`: how many of their orders are dated in the range (an order with lines in two
  categories counts in both).

A dimension is the customer's own when the semantic model lists it among the customer's
dimensions (`semantic.CUSTOMER`: region, age bracket, segment, department...); a customer
has one value of it, read from their record, and the age bracket is their age on the last
day of the range (today when the range has no end). Every other dimension the order lines
offer is the order's (`semantic.py`). Dimensions added there, to the customer's or to the
order lines', appear here without a change.

The range is inclusive, in whole UTC days. "No data" is a combination with no customers at
all: it has no row, never a row of zeros; a row whose customers bought nothing in the range
has real zeros."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import ibis
from ibis.expr.types import Table

from crm_scorecard.accounts.scope import Actor, visible_department_ids
from crm_scorecard.crm.ages import AGE_BRACKETS, AGE_LABELS, OLDEST
from crm_scorecard.errors import Invalid

from . import profile_cube, semantic
from . import sources as built
from .backends import ParquetConnection
from .definitions import registry as load_registry
from .engine import Engine
from .kinds import label, period_expr
from .live import live_connection

LINES = "order_lines"  # the source the order side of the profile reads
MAX_DIMENSIONS = 2


@dataclass(frozen=True)
class Measure:
    key: str
    name: str
    unit: str  # as metrics.units formats it
    meaning: str


MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        Measure(
            "customers",
            "Customers",
            "count",
            "Customers on record; by an order's dimension, those who ever bought there.",
        ),
        Measure(
            "active_customers",
            "Active customers",
            "count",
            "Customers with at least one order dated in the range.",
        ),
        Measure("revenue", "Revenue", "currency", "Order line amounts dated in the range."),
        Measure("orders", "Orders", "count", "Orders dated in the range."),
    )
}


@dataclass(frozen=True)
class ProfileRow:
    """One combination of dimension values (in the order asked for) and its measures."""

    values: tuple[str, ...]
    customers: int
    active_customers: int
    revenue: float
    orders: int

    def measure(self, key: str) -> float:
        return float(getattr(self, key))

    def as_dict(self) -> dict[str, Any]:
        return {
            "values": list(self.values),
            "customers": self.customers,
            "active_customers": self.active_customers,
            "revenue": self.revenue,
            "orders": self.orders,
        }


@dataclass(frozen=True)
class Grid:
    """Two dimensions as a heat map: `rows` (the first) by `columns` (the second); a cell
    is None where no customer has that combination (no data, not 0)."""

    rows: list[str]
    columns: list[str]
    cells: list[list[float | None]]


@dataclass(frozen=True)
class Profile:
    """The answer: the rows of every combination that has customers."""

    by: tuple[str, ...]
    filters: tuple[tuple[str, str], ...]
    since: date | None
    until: date | None
    rows: list[ProfileRow] = field(default_factory=list)

    def ordered(self, measure: str) -> list[ProfileRow]:
        """Rows with the largest `measure` first (ties by value); unknown values last."""
        return sorted(
            self.rows,
            key=lambda r: (
                any(v == kinds_unknown() for v in r.values),
                -r.measure(measure),
                r.values,
            ),
        )

    def shares(self, measure: str) -> dict[tuple[str, ...], float | None]:
        """Each row's `measure` as a share of its group: with two dimensions, of the sum of
        its row of the heat map (the first dimension's value); with one, of the total.
        None where the group's sum is 0."""
        totals: dict[tuple[str, ...], float] = {}
        for r in self.rows:
            group = r.values[:1] if len(self.by) == 2 else ()
            totals[group] = totals.get(group, 0.0) + r.measure(measure)
        out: dict[tuple[str, ...], float | None] = {}
        for r in self.rows:
            total = totals[r.values[:1] if len(self.by) == 2 else ()]
            out[r.values] = r.measure(measure) / total if total else None
        return out

    def as_dict(self, measure: str = "customers", *, share: bool = False) -> dict[str, Any]:
        """The answer as the API and `crm-scorecard profile --json` give it: rows with the
        largest `measure` first; with `share`, each row's share of its group (see
        `shares`; None where the group's sum is 0)."""
        shares = self.shares(measure) if share else {}
        return {
            "by": list(self.by),
            "filters": [{"dimension": d, "value": v} for d, v in self.filters],
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "measure": measure,
            "rows": [
                {**r.as_dict(), **({"share": shares[r.values]} if share else {})}
                for r in self.ordered(measure)
            ],
        }

    def grid(self, measure: str, *, share: bool = False, limit: int | None = None) -> Grid:
        """The heat map of a two-dimension profile: rows and columns in their natural order
        (age brackets by age) or by their total of `measure`, largest first; with `limit`,
        the largest that many of each."""
        if len(self.by) != 2:
            raise ValueError("a heat map needs two dimensions")
        rows = _axis(self.rows, 0, self.by[0], measure, limit)
        columns = _axis(self.rows, 1, self.by[1], measure, limit)
        shares = self.shares(measure) if share else None
        found = {
            r.values: (shares[r.values] if shares is not None else r.measure(measure))
            for r in self.rows
        }
        cells = [[found.get((row, col)) for col in columns] for row in rows]
        return Grid(rows, columns, cells)


def kinds_unknown() -> str:
    return label(None)


def _axis(
    rows: Iterable[ProfileRow], index: int, dimension: str, measure: str, limit: int | None
) -> list[str]:
    totals: dict[str, float] = {}
    for r in rows:
        totals[r.values[index]] = totals.get(r.values[index], 0.0) + r.measure(measure)
    unknown = kinds_unknown()
    if dimension == "age_bracket":
        order = {name: i for i, name in enumerate(AGE_LABELS)}
        # The largest brackets are kept, then shown by age.
        kept = sorted(totals, key=lambda v: -totals[v])[:limit] if limit else list(totals)
        return sorted(kept, key=lambda v: (v == unknown, order.get(v, len(order)), v))
    ranked = sorted(totals, key=lambda v: (v == unknown, -totals[v], v))
    return ranked[:limit] if limit else ranked


# ---- the request ----------------------------------------------------------------------------


def profile_dimensions(model: semantic.Model | None = None) -> list[str]:
    """The dimensions a profile can be broken down and filtered by: the order lines'
    (which include the customer's own), in the semantic model's order."""
    model = model or _model()
    return [d.name for d in model.source(LINES).dimensions]


def _model() -> semantic.Model:
    return load_registry().model


def _customer_level() -> set[str]:
    return {d.name for d in semantic.CUSTOMER}


def _suggest(name: str, choices: Sequence[str], what: str) -> Invalid:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    close = close or [c for c in choices if name and (c.startswith(name) or name in c)][:1]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return Invalid(f"unknown {what} {name!r}{hint}; choose from {', '.join(choices)}")


def check_request(
    *,
    by: Sequence[str],
    filters: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    since: date | None = None,
    until: date | None = None,
    measure: str | None = None,
    model: semantic.Model | None = None,
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The breakdown and filters, checked: known dimensions (a near miss is suggested), one
    or two distinct ones, a range that does not end before it starts."""
    names = profile_dimensions(model)
    wanted = tuple(by)
    if not 1 <= len(wanted) <= MAX_DIMENSIONS:
        raise Invalid("a profile is broken down by one or two dimensions")
    for name in wanted:
        if name not in names:
            raise _suggest(name, names, "dimension")
    if len(set(wanted)) != len(wanted):
        raise Invalid("the two dimensions must differ")
    pairs = tuple(filters.items() if isinstance(filters, Mapping) else filters)
    for name, value in pairs:
        if name not in names:
            raise _suggest(name, names, "filter dimension")
        if "\x00" in value:
            raise Invalid("a filter value cannot contain a NUL character (\\x00)")
    if since and until and until < since:
        raise Invalid(f"the range ends ({until}) before it starts ({since})")
    if measure is not None and measure not in MEASURES:
        raise _suggest(measure, list(MEASURES), "measure")
    return wanted, tuple(sorted(pairs))


# ---- the query ------------------------------------------------------------------------------


def customer_profile(
    *,
    user: Actor | None = None,
    engine: Engine | None = None,
    by: Sequence[str],
    filters: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    since: date | None = None,
    until: date | None = None,
) -> Profile:
    """The profile within what `user` may see (None: the whole company), read live from
    the columnar mirror as it stands (a request never copies tables), over the connection
    the process keeps for the mirror's version (`live.py`: with the views of its tables and
    its department tree's depth, as the live breakdowns read it), or on `engine`."""
    if engine is not None:
        return profile_query(engine, by=by, filters=filters, since=since, until=until)
    registry = load_registry()
    # Checked before a connection is lent: a request that fails closes the one it was lent
    # (live.py), and a mistyped dimension must not cost the next breakdown its tables.
    check_request(by=by, filters=filters, since=since, until=until, model=registry.model)
    departments = None if user is None else visible_department_ids(user=user)
    with live_connection() as conn:
        own = Engine(conn, registry, departments=departments)
        return profile_query(own, by=by, filters=filters, since=since, until=until)


def profile_query(
    engine: Engine,
    *,
    by: Sequence[str],
    filters: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    since: date | None = None,
    until: date | None = None,
) -> Profile:
    """The profile on `engine`, within its access scope (see the module's docstring)."""
    model = engine.registry.model
    dims, pairs = check_request(by=by, filters=filters, since=since, until=until, model=model)
    keys = list(dims)
    day = until or datetime.now(UTC).date()
    by_order = any(d not in _customer_level() for d in [*dims, *(d for d, _ in pairs)])
    results = _run(
        engine, model, dims, pairs, since, until, day, cube=_cube(engine, model, dims, pairs)
    )
    if by_order or len(results) == 1:  # every measure in one query
        return Profile(dims, pairs, since, until, [_row(r, len(keys)) for r in results[0]])
    counted, active = results
    bought = {tuple(label(v) for v in r[: len(keys)]): r[len(keys) :] for r in active}
    rows = []
    for r in counted:
        values = tuple(label(v) for v in r[: len(keys)])
        act, revenue, orders = bought.pop(values, (0, 0.0, 0))
        rows.append(ProfileRow(values, int(r[-1]), int(act), _money(revenue), int(orders)))
    return Profile(dims, pairs, since, until, rows)


def _plan(
    engine: Engine,
    model: semantic.Model,
    dims: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...],
    since: date | None,
    until: date | None,
    day: date,
) -> list[Table]:
    """The queries of a profile: one, by an order's dimension (customers are those who ever
    bought in the cell, the rest is dated in the range); else two, the customers counted
    and what they bought in the range (joined to them by the caller, so a group that
    bought nothing keeps its customers, with real zeros)."""
    own = _customer_level()
    customers = _customers(
        engine, model, [d for d in dims if d in own], [(d, v) for d, v in pairs if d in own], day
    )
    lines = _lines(
        engine,
        model,
        [d for d in dims if d not in own],
        [(d, v) for d, v in pairs if d not in own],
    )
    joined = lines.join(customers, lines.line_customer == customers.customer)
    in_range = _in_range(joined, since, until)
    keys = list(dims)
    # Distinct customers and orders are counted by grouping twice more, never with COUNT
    # (DISTINCT ...): DuckDB took 15.6 s for that over the 3 million order lines of a
    # million customers (its distinct aggregates do not run in parallel).
    flag = in_range.ifelse(1, 0)
    per_order = joined.group_by([*keys, "customer", "order"]).aggregate(
        dated=flag.max(), amount=in_range.ifelse(joined.amount, 0.0).sum()
    )
    per_customer = per_order.group_by([*keys, "customer"]).aggregate(
        active=per_order.dated.max(),
        revenue=per_order.amount.sum(),
        orders=per_order.dated.sum(),
    )
    if any(d not in own for d in [*dims, *(d for d, _ in pairs)]):
        grouped = per_customer.group_by(keys).aggregate(
            customers=per_customer.count(),
            active_customers=per_customer.active.sum(),
            revenue=per_customer.revenue.sum(),
            orders=per_customer.orders.sum(),
        )
        return [grouped]
    return [
        customers.group_by(keys).aggregate(customers=customers.count()),
        per_customer.group_by(keys).aggregate(
            active_customers=per_customer.active.sum(),
            revenue=per_customer.revenue.sum(),
            orders=per_customer.orders.sum(),
        ),
    ]


# Compiled queries by what decides their text. Building and compiling the Ibis expressions
# took as long as running them on a small company (0.7 s of 1.8 s, two cores under load);
# a page asks the same few profiles again and again. Keyed by the engine, the request, the
# access scope, the reference day, the department tree's depth (its joins are unrolled) and
# the model's dimensions; holds query text only, never data.
_COMPILED: dict[tuple[Any, ...], tuple[tuple[str, ...], list[str]]] = {}
_COMPILED_MAX = 256


def _run(
    engine: Engine,
    model: semantic.Model,
    dims: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...],
    since: date | None,
    until: date | None,
    day: date,
    *,
    cube: str | None = None,
) -> list[list[tuple[Any, ...]]]:
    conn = engine.conn

    def plan() -> list[Table]:
        if cube is not None:
            return _plan_cube(engine, model, cube, dims, pairs, since, until, day)
        return _plan(engine, model, dims, pairs, since, until, day)

    if conn.name not in ("duckdb", "postgres", "sqlite") or conn.shared:
        return [list(engine.execute(q).itertuples(index=False, name=None)) for q in plan()]
    key = (
        conn.name,
        conn.database,
        cube,
        dims,
        pairs,
        since,
        until,
        day,
        None if engine.departments is None else tuple(sorted(engine.departments)),
        built.department_depth(conn)
        if _tree_joined(model, [*dims, *(d for d, _ in pairs)])
        else None,
        tuple((s.name, tuple(d.name for d in s.dimensions)) for s in model.sources.values()),
    )
    compiled = _COMPILED.get(key)
    if compiled is None:
        queries = plan()
        compiled = (conn.opened(), [str(conn.backend.compile(q)) for q in queries])
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key] = compiled
    tables, texts = compiled
    conn.declare(tables)  # each connection reads its own views of them
    return [_fetch(conn, sql) for sql in texts]


# The joins whose queries never read the department tree (the text of the others may
# depend on its depth: `department_ancestors` unrolls one join per level).
_TREELESS = (built.join_customer, built.join_names, built.join_rfm_segment, built.join_value_band)


def _tree_joined(model: semantic.Model, names: list[str]) -> bool:
    """Whether a profile by or filtered by `names` may join the department tree: by a
    dimension whose join (or that of one it is computed from) is not known to leave it out.
    Only then is the tree's depth part of what decides the queries' text, and worked out
    (a query of its own on a fresh connection: 6 ms of a 28 ms profile, load 3.7)."""
    source = model.source(LINES)
    todo = [source.dimension(n) for n in names]
    seen: set[str] = set()
    while todo:
        dim = todo.pop()
        if dim is None or dim.name in seen:
            continue
        seen.add(dim.name)
        if dim.join is not None and dim.join not in _TREELESS:
            return True
        todo.extend(source.dimension(r) for r in dim.reads)
    return False


# The profile reads the pre-aggregated order lines (profile_cube.py) where it can: False
# makes it read the order lines themselves (the tests compare the two).
USE_CUBE = True


def _cube(
    engine: Engine,
    model: semantic.Model,
    dims: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...],
) -> str | None:
    """The name of the cube table to read on `engine`, written first if its mirror version
    lacks it; None when the profile reads the order lines themselves: on the app database,
    or by a dimension the cube does not carry (one the semantic model adds, say)."""
    conn = engine.conn
    if not USE_CUBE or not isinstance(conn, ParquetConnection) or conn.pin is None:
        return None
    if conn.parquet is None or conn.shared or conn.name != "duckdb":
        return None
    source = model.source(LINES)
    carried = {
        *(source.dimension(name) for name in profile_cube.customer_columns()),
        semantic.AGE_BRACKET,
        semantic.DEPARTMENT,
        semantic.RFM_SEGMENT,
        semantic.VALUE_BAND,
        semantic.PRODUCT_CATEGORY,
        semantic.PRODUCT_TIER,
        semantic.CHANNEL,
        semantic.SALESPERSON,
    }
    if any(source.dimension(d) not in carried for d in [*dims, *(d for d, _ in pairs)]):
        return None
    try:
        profile_cube.build(conn.parquet, conn)
    except OSError:  # a mirror this process may not write to: the order lines, then
        return None
    return profile_cube.table_name()


def _plan_cube(
    engine: Engine,
    model: semantic.Model,
    cube: str,
    dims: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...],
    since: date | None,
    until: date | None,
    day: date,
) -> list[Table]:
    """The queries of `_plan`, on the cube (profile_cube.py) rather than the order lines:
    the same groups and measures, without a join with the orders, the products or the
    customers. Where the cube counts the customers of the order dimensions asked for, every
    measure is a sum over its rows (`_plan_cube_sums`); else (a salesperson, an RFM segment,
    a value band) its rows are grouped per customer first, as `_plan` does, and the RFM
    segments and value bands are joined on a row per customer and cell (a customer has one
    department, one segment, one band)."""
    conn = engine.conn
    source = model.source(LINES)
    own = _customer_level()
    wanted = list(dict.fromkeys([*dims, *(d for d, _ in pairs)]))
    t = conn.table(cube)
    if engine.departments is not None:
        t = t.filter(t.department_id.isin(sorted(engine.departments)))
    previous = profile_cube.previous_column({d for d in wanted if d not in own})
    if previous is not None and set(wanted) & {"rfm_segment", "value_band"} == set():
        return _plan_cube_sums(engine, t, previous, dims, pairs, since, until, day)
    if "age_bracket" in wanted:
        t = t.mutate(age_bracket=age_bracket_on(day, t.birth_date))
    if "salesperson" in wanted:  # before the grouping: two salespeople may share a name
        t = built.with_dimensions(conn, t, [semantic.SALESPERSON])
    for name, value in pairs:
        if name in t.columns:
            t = t.filter(t[name] == value)
    orders, in_range = _cube_measures(t, wanted, since, until)
    later = [d for d in wanted if d not in t.columns]  # department, RFM segment, value band
    keys = [d for d in dims if d in t.columns]
    extra = ["department_id"] if "department" in later else []
    per_customer = t.group_by([*keys, *extra, "customer"]).aggregate(
        active=in_range.ifelse(1, 0).max(),
        revenue=in_range.ifelse(t.revenue, 0.0).sum(),
        orders=in_range.ifelse(orders, 0).sum(),
    )
    per_customer = built.with_dimensions(
        conn, per_customer, [d for d in (source.dimension(n) for n in later) if d is not None]
    )
    for name, value in pairs:
        if name in later:
            per_customer = per_customer.filter(per_customer[name] == value)
    measures = {
        "active_customers": per_customer.active.sum(),
        "revenue": per_customer.revenue.sum(),
        "orders": per_customer.orders.sum(),
    }
    if any(d not in own for d in wanted):
        return [
            per_customer.group_by(list(dims)).aggregate(customers=per_customer.count(), **measures)
        ]
    customers = _customers(engine, model, list(dims), list(pairs), day)
    return [
        customers.group_by(list(dims)).aggregate(customers=customers.count()),
        per_customer.group_by(list(dims)).aggregate(**measures),
    ]


def _cube_measures(
    t: Table, wanted: list[str], since: date | None, until: date | None
) -> tuple[Any, Any]:
    """The cube's order count for the dimensions `wanted`, and whether a row is dated in
    the range (whole UTC days, both ends included)."""
    pinned = {d for d in wanted if d in profile_cube.LINE_LEVEL}
    in_range = t.day.notnull()
    epoch = date(1970, 1, 1)
    if since is not None:
        in_range = in_range & (t.day >= (since - epoch).days)
    if until is not None:
        in_range = in_range & (t.day <= (until - epoch).days)
    return t[profile_cube.orders_column(pinned)], in_range


def _plan_cube_sums(
    engine: Engine,
    t: Table,
    previous: str,
    dims: tuple[str, ...],
    pairs: tuple[tuple[str, str], ...],
    since: date | None,
    until: date | None,
    day: date,
) -> list[Table]:
    """`_plan_cube` with every measure a sum over the cube's rows, no grouping per customer:
    a customer counts where their row has no row before it (`previous`: per customer and
    value of the order's dimensions the profile pins), and is active where their first row
    in the range is (the row before it is older than the range, or none). The age bracket
    and the department tree are worked out on the sums per birth date and department, a
    customer having one of each (as are the customers on record, counted the same way).
    Over all dates, the customers' or the cells' totals beside the cube are summed instead
    (profile_cube.py), but by age."""
    wanted = list(dict.fromkeys([*dims, *(d for d, _ in pairs)]))
    for name, value in pairs:
        if name in t.columns:
            t = t.filter(t[name] == value)
    orders, in_range = _cube_measures(t, wanted, since, until)
    prev = t[previous]
    first = prev.isnull()
    if since is not None:
        first = first | (prev < (since - date(1970, 1, 1)).days)
    keys = _raw_keys(t, dims, pairs)
    order_level = any(d not in _customer_level() for d in wanted)
    dated = t.filter(in_range)  # the cube is sorted by day: a range skips most of it
    bought = dated.group_by(keys).aggregate(
        active_customers=first.ifelse(1, 0).sum(),
        revenue=dated.revenue.sum(),
        orders=orders.sum(),
    )
    measures = ["active_customers", "revenue", "orders"]
    if order_level and since is None and until is None and "age_bracket" not in wanted:
        # Over all dates, the cells' totals: the cube summed over customers and days.
        mask = previous.removeprefix("prev_")
        c = _scoped(engine, engine.conn.table(profile_cube.totals_name("cells")), pairs)
        pinned = {d for d in wanted if d in profile_cube.LINE_LEVEL}
        cells = c.group_by(_raw_keys(c, dims, pairs)).aggregate(
            customers=c[f"customers_{mask}"].sum(),
            active_customers=c[f"active_{mask}"].sum(),
            revenue=c.revenue.sum(),
            orders=c[profile_cube.orders_column(pinned)].sum(),
        )
        cells = _derived(engine, cells, dims, pairs, day)
        return [
            cells.group_by(list(dims)).aggregate(
                **{m: cells[m].sum() for m in ["customers", *measures]}
            )
        ]
    if order_level and since is None and until is None:
        # Over all dates every row is read anyway: one pass, a condition per measure.
        sums = t.group_by(keys).aggregate(
            customers=prev.isnull().ifelse(1, 0).sum(),
            active_customers=(in_range & first).ifelse(1, 0).sum(),
            revenue=in_range.ifelse(t.revenue, 0.0).sum(),
            orders=in_range.ifelse(orders, 0).sum(),
        )
        sums = _derived(engine, sums, dims, pairs, day)
        totals = {m: sums[m].sum() for m in ["customers", *measures]}
        return [sums.group_by(list(dims)).aggregate(**totals)]
    if order_level:
        # The customers who ever bought in a cell are its rows without one before, at any
        # date: counted apart, on those rows only, so that neither sum over a range needs a
        # condition per row (one pass with a condition per measure took 40% longer on a
        # million customers' cube; over all dates, 25% less).
        if "age_bracket" in wanted:
            firsts = t.filter(prev.isnull())
            ever = firsts.group_by(keys).aggregate(customers=firsts.count())
        else:  # the cells' totals count them (see above)
            c = _scoped(engine, engine.conn.table(profile_cube.totals_name("cells")), pairs)
            mask = previous.removeprefix("prev_")
            ever = c.group_by(keys).aggregate(customers=c[f"customers_{mask}"].sum())
        zero = {"customers": 0, "active_customers": 0, "revenue": 0.0, "orders": 0}
        parts = [
            part.select(
                *keys,
                **{
                    m: (part[m] if m in part.columns else ibis.literal(zero[m])).cast(
                        "float64" if m == "revenue" else "int64"
                    )
                    for m in zero
                },
            )
            for part in (ever, bought)
        ]
        sums = parts[0].union(parts[1], distinct=False)
        sums = _derived(engine, sums, dims, pairs, day)
        totals = {m: sums[m].sum() for m in ["customers", *measures]}
        return [sums.group_by(list(dims)).aggregate(**totals)]
    if since is None and until is None:
        # Over all dates, each customer's totals: one row per customer, read once.
        c = _scoped(engine, engine.conn.table(profile_cube.totals_name("customers")), pairs)
        totals = c.group_by(_raw_keys(c, dims, pairs)).aggregate(
            customers=c.count(),
            active_customers=c.active.sum(),
            revenue=c.revenue.sum(),
            orders=c.orders.sum(),
        )
        totals = _derived(engine, totals, dims, pairs, day)
        sums_of = {m: totals[m].sum() for m in ["customers", *measures]}
        return [totals.group_by(list(dims)).aggregate(**sums_of)]
    bought = _derived(engine, bought, dims, pairs, day)
    if "age_bracket" in wanted:
        c = _scoped(engine, engine.conn.table("crm_customer"), pairs)
        counted = c.group_by(_raw_keys(c, dims, pairs)).aggregate(customers=c.count())
    else:  # counted per cell of their own columns once per mirror version
        c = _scoped(engine, engine.conn.table(profile_cube.totals_name("people")), pairs)
        counted = c.group_by(_raw_keys(c, dims, pairs)).aggregate(customers=c.customers.sum())
    counted = _derived(engine, counted, dims, pairs, day)
    return [
        counted.group_by(list(dims)).aggregate(customers=counted.customers.sum()),
        bought.group_by(list(dims)).aggregate(**{m: bought[m].sum() for m in measures}),
    ]


def _scoped(engine: Engine, t: Table, pairs: tuple[tuple[str, str], ...]) -> Table:
    """`t` (the customers or one of the profile's tables) within the engine's departments,
    filtered by the `pairs` it has the columns of."""
    if engine.departments is not None:
        t = t.filter(t.department_id.isin(sorted(engine.departments)))
    for name, value in pairs:
        if name in t.columns:
            t = t.filter(t[name] == value)
    return t


def _raw_keys(t: Table, dims: tuple[str, ...], pairs: tuple[tuple[str, str], ...]) -> list[str]:
    """What to group `t` by before `_derived`: the dimensions it has, the birth date for the
    age bracket, the department's id for the department tree."""
    names = [*dims, *(d for d, _ in pairs)]
    keys = [d for d in dims if d in t.columns]
    if "age_bracket" in names:
        keys.append("birth_date")
    if "department" in names:
        keys.append("department_id")
    return keys


def _derived(
    engine: Engine, t: Table, dims: tuple[str, ...], pairs: tuple[tuple[str, str], ...], day: date
) -> Table:
    """Sums grouped by `_raw_keys` with the age bracket on `day` and the department tree
    (each sum once for its department and once for every department above), filtered."""
    names = [*dims, *(d for d, _ in pairs)]
    if "age_bracket" in names:
        t = t.mutate(age_bracket=age_bracket_on(day, t.birth_date))
    if "department" in names:
        t = built.with_dimensions(engine.conn, t, [semantic.DEPARTMENT])
    for name, value in pairs:
        if name in ("age_bracket", "department"):
            t = t.filter(t[name] == value)
    return t


def age_bracket_on(day: date, birth: Any) -> Any:
    """The age bracket on `day` of the birth dates `birth`, exactly as `sources.age_bracket`
    works it out at any time of that day, by comparing the dates themselves: someone is
    under L on `day` when born after the same day L years before (the 28th of February
    when that year has no 29th). Taking each birth date apart into its year, month and day
    took a tenth of a view's time on a million customers' cube (grouped by birth date)."""
    cases = [
        (birth > ibis.literal(_years_before(day, limit)), name) for limit, name in AGE_BRACKETS
    ]
    return birth.isnull().ifelse(ibis.null("string"), ibis.cases(*cases, else_=OLDEST))


def _years_before(day: date, years: int) -> date:
    """The same day `years` years before `day`; the 28th of February for a 29th in a year
    without one (born after it, one is under `years` on `day`)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _fetch(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    cursor = conn.backend.raw_sql(sql)
    try:
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        if conn.name != "duckdb":  # DuckDB's is the connection itself
            cursor.close()


def _row(r: tuple[Any, ...], width: int) -> ProfileRow:
    values = tuple(label(v) for v in r[:width])
    return ProfileRow(values, int(r[-4]), int(r[-3]), _money(r[-2]), int(r[-1]))


def _money(value: Any) -> float:
    return 0.0 if value is None or value != value else round(float(value), 2)


def _customers(
    engine: Engine,
    model: semantic.Model,
    dims: list[str],
    filters: list[tuple[str, str]],
    day: date,
) -> Table:
    """One row per customer in scope (per department above theirs, when broken down or
    filtered by department), with `dims`, filtered."""
    conn = engine.conn
    c = conn.table("crm_customer")
    # The age bracket is the age on this day (join_customer reads it at `ts`).
    reference = ibis.literal(datetime.combine(day, time(12)), type="timestamp")
    source = model.source(LINES)
    wanted = [source.dimension(d) for d in dict.fromkeys([*dims, *(d for d, _ in filters)])]
    # The customer's own columns are read off the customer's row itself: joining the
    # customers to themselves again (what join_customer does for an event) cost a hash join
    # of the whole table per query.
    own = {
        d.name: (
            built.age_bracket(reference, c.birth_date) if d.name == "age_bracket" else c[d.name]
        )
        for d in wanted
        if d is not None and d.join is built.join_customer
    }
    t = c.select(customer=c.id, department_id=c.department_id, ts=reference, **own)
    if engine.departments is not None:
        t = t.filter(t.department_id.isin(sorted(engine.departments)))
    t = built.with_dimensions(conn, t, [d for d in wanted if d is not None])
    for name, value in filters:
        t = t.filter(t[name] == value)
    return t.select("customer", *dims)


def _lines(
    engine: Engine, model: semantic.Model, dims: list[str], filters: list[tuple[str, str]]
) -> Table:
    """The order lines, with the order's `dims`, filtered. Not scoped: they are joined to
    the customers in scope (an order line's department is its customer's), which saves
    joining two million orders to a million customers once more for the department."""
    conn = engine.conn
    o = conn.table("crm_order")
    orders = o.select(
        order=o.id,
        customer=o.customer_id,
        ts=o.ordered_at,
        channel=o.channel,
        salesperson_id=o.salesperson_id,
    )
    source = model.source(LINES)
    wanted = [source.dimension(d) for d in dict.fromkeys([*dims, *(d for d, _ in filters)])]
    needed = [source.dimension(r) for d in wanted if d is not None for r in d.reads]
    lines = built.with_dimensions(
        conn,
        source.build(conn, orders),
        [d for d in [*needed, *wanted] if d is not None],
    )
    for name, value in filters:
        lines = lines.filter(lines[name] == value)
    return lines.select("order", "amount", "ts", *dims, line_customer=lines.customer)


def _in_range(lines: Table, since: date | None, until: date | None) -> Any:
    """Whether each line is dated in the range (whole UTC days, both ends included)."""
    condition = lines.ts.notnull()  # every order has its date: a column, so it aggregates
    if since is None and until is None:
        return condition
    day = period_expr(lines.ts, "day")
    epoch = date(1970, 1, 1)
    if since is not None:
        condition = condition & (day >= (since - epoch).days)
    if until is not None:
        condition = condition & (day <= (until - epoch).days)
    return condition
