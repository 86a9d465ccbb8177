"""The semantic model: every source metrics read, declared once, with what it means.

A `Source` says how its rows are built (`sources.py` holds the builders), which CRM table
each row stands for, its columns and entities, the event timestamps metrics group it by,
the dimensions it can be broken down by, whether its core is worth materialising, and
whether it holds exactly the rows of another source. A `Dimension` says what a breakdown
means and how a source's rows get it. Everything else reads these declarations: the
engine, the check of user-declared metrics, PostgreSQL's period statistics (`planner.py`)
and the faces' list of dimensions.

A metrics file (`METRICS_FILE`, see `definitions.py`) can add a dimension to a source: an
expression over the source's columns, e.g. ``"'large' if amount >= 200 else 'small'"``."""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import ibis
from ibis.expr.types import Table

from . import sources as built
from .backends import Connection
from .sources import Join, UnknownColumn


class MetricError(ValueError):
    """A metric that cannot be defined or computed, with the reason."""


@dataclass(frozen=True)
class Dimension:
    """A way to break a source's events down: what it means, and how a row gets its value
    (`join`: adds the dimensions it is given to a table, joining what they need; None: the
    value is one of the source's own columns)."""

    name: str
    meaning: str
    join: Join | None = None
    reads: tuple[str, ...] = ()  # other dimensions it is computed from (joined first)
    # Its value is the customer's own whenever the event happened (the customer's region,
    # not their age at the time): a history reads it off each customer's first purchases.
    of_customer: bool = False


# The built-in dimensions, in the order pages and commands list them.
DEPARTMENT = Dimension(
    "department",
    "The department responsible, with every department above it: a department's figures "
    "cover its whole subtree.",
    built.join_department_tree,
)
REGION = Dimension("region", "The customer's region.", built.join_customer, of_customer=True)
COUNTRY = Dimension("country", "The customer's country.", built.join_customer, of_customer=True)
CITY = Dimension("city", "The customer's city.", built.join_customer, of_customer=True)
AGE_BRACKET = Dimension(
    "age_bracket", "The customer's age at the time of the event, in brackets.", built.join_customer
)
SEGMENT = Dimension("segment", "The customer's segment.", built.join_customer, of_customer=True)
ACQUISITION_CHANNEL = Dimension(
    "acquisition_channel",
    "Where the customer came from (a campaign, a referral, the web...).",
    built.join_customer,
    of_customer=True,
)
RFM_SEGMENT = Dimension(
    "rfm_segment",
    "The customer's named RFM segment (champions, at_risk...) in their latest stored scores "
    "(`crm-scorecard segments rfm`), whenever the event happened; `--filter rfm=...` for short.",
    built.join_rfm_segment,
    of_customer=True,
)
VALUE_BAND = Dimension(
    "value_band",
    "The customer's value band in the current customer value fit (`crm-scorecard customers "
    "value`): high, medium, low or at_risk, whenever the event happened.",
    built.join_value_band,
    of_customer=True,
)
PRODUCT_CATEGORY = Dimension("product_category", "The category of the product sold.")
PRODUCT_TIER = Dimension("product_tier", "The tier (standard, premium) of the product sold.")
CHANNEL = Dimension(
    "channel", "Where it happened: the order's, contact's or lead's channel, the survey's source."
)
SALESPERSON = Dimension("salesperson", "The salesperson's name.", built.join_names)
AGENT = Dimension("agent", "The agent's name.", built.join_names)
COMPLAINT_CATEGORY = Dimension("complaint_category", "What the complaint is about.")
VOC_THEME = Dimension(
    "voc_theme", "The voice-of-the-customer theme the comment was put in.", built.join_voc_theme
)
BUILT_IN = (
    DEPARTMENT,
    REGION,
    COUNTRY,
    CITY,
    AGE_BRACKET,
    SEGMENT,
    ACQUISITION_CHANNEL,
    RFM_SEGMENT,
    VALUE_BAND,
    PRODUCT_CATEGORY,
    PRODUCT_TIER,
    CHANNEL,
    SALESPERSON,
    AGENT,
    COMPLAINT_CATEGORY,
    VOC_THEME,
)
# The order dimensions are joined on in: the customer's columns in one join, then the
# department tree, the names behind ids and the themes; expressions last (they read these).
JOIN_ORDER: tuple[Join, ...] = (
    built.join_customer,
    built.join_department_tree,
    built.join_names,
    built.join_voc_theme,
    built.join_rfm_segment,
)
# Filter names that stand for a dimension's (`--filter rfm=at_risk`).
FILTER_ALIASES = {"rfm": "rfm_segment"}
# The customer's own dimensions: every source about customers offers them, and the customer
# profile (profile.py) counts customers by them.
CUSTOMER = (
    DEPARTMENT,
    REGION,
    COUNTRY,
    CITY,
    SEGMENT,
    AGE_BRACKET,
    ACQUISITION_CHANNEL,
    RFM_SEGMENT,
    VALUE_BAND,
)


@dataclass(frozen=True, kw_only=True)
class Source:
    """One row per business event, with a timestamp `ts`, the ids that scope it to a
    department (`department_id`) and, when asked for, its dimensions."""

    name: str
    meaning: str
    build: Callable[..., Table]  # (connection) -> core; with `extends`: (connection, its core)
    table: str  # the CRM table one row stands for
    columns: tuple[str, ...]  # the core's columns (dimensions come on top)
    entities: tuple[str, ...]  # the ids of who and what a row is about
    # Entities all of whose rows are in one department, the row's (the record itself; its
    # customer, where the row is in its customer's department): distinct counts of them add
    # up over departments, so the engine can count them per department and add up the tree.
    department_entities: tuple[str, ...] = ()
    # Event timestamps metrics group by: source column -> the table's column. PostgreSQL
    # keeps statistics on their period indexes (planner.py).
    timestamps: Mapping[str, str] = field(default_factory=dict)
    ends: tuple[str, ...] = ()  # timestamps that extend the periods it covers (resolutions)
    open_ended: bool = False  # describes a state that goes on until today (people employed)
    dimensions: tuple[Dimension, ...] = ()
    extends: str | None = None  # built on this source's core (so within the same scope)
    same_rows: str | None = None  # holds exactly the rows of this source (same coverage)
    # Built on `extends`, a row reads that source's records up to this many days after its
    # own (a contact knows whether the customer came back within 7 days): a request for
    # some periods reads those periods and this many days after (Sources.get's `span`).
    ahead_days: int = 0
    # Its core joins tables, or works much out for each row (a complaint's service level):
    # worth computing once into a table of its own when many metrics read it, and on a
    # live read once per mirror version (Sources._resident).
    materialise: bool = False
    # The table a mirror version holds this source's core in, for the whole company (no
    # period index), worked out once when the version is made (`derive_sources`): read
    # instead of building the core where the scope is the whole company.
    derived: str | None = None
    # Columns of its core a run of many metrics leaves out of its table where no metric of
    # the registry, nor the breakdown or filter asked for, reads them (Sources._left_out):
    # the order lines' own ids, quantity and their order's channel and salesperson.
    wide: tuple[str, ...] = ()

    @property
    def offers(self) -> tuple[str, ...]:
        """Every column a metric may name: the core's and the dimensions'."""
        return tuple(dict.fromkeys([*self.columns, *(d.name for d in self.dimensions)]))

    def dimension(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.name == name), None)


@dataclass(frozen=True)
class Model:
    """The sources by name, and the dimensions they offer between them."""

    sources: Mapping[str, Source]

    def source(self, name: str) -> Source:
        try:
            return self.sources[name]
        except KeyError:
            raise UnknownColumn(
                f"unknown source {name!r}; sources are {', '.join(self.sources)}"
            ) from None

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Every dimension some source offers: the built-in ones, then those added."""
        names = [d.name for d in BUILT_IN]
        for source in self.sources.values():
            names.extend(d.name for d in source.dimensions)
        return tuple(dict.fromkeys(names))

    def check_dimensions(self, names: Iterable[str | None]) -> None:
        for name in names:
            if name is not None and name not in self.dimensions:
                raise MetricError(
                    f"unknown dimension {name!r}; dimensions are {', '.join(self.dimensions)}"
                )

    def with_dimension(self, source: str, dimension: Dimension) -> Model:
        """This model with `dimension` added to `source`."""
        target = self.source(source)
        if dimension.name in target.offers:
            raise MetricError(
                f"source {source} already has a column or dimension {dimension.name!r}"
            )
        sources = dict(self.sources)
        sources[source] = replace(target, dimensions=(*target.dimensions, dimension))
        return Model(sources)


SOURCES = (
    Source(
        name="orders",
        meaning="Orders placed, one row per order, in the customer's department.",
        build=built.orders,
        table="crm_order",
        columns=("order", "customer", "ts", "channel", "salesperson_id", "department_id"),
        entities=("order", "customer", "salesperson_id"),
        department_entities=("order", "customer"),
        timestamps={"ts": "ordered_at"},
        dimensions=(*CUSTOMER, CHANNEL, SALESPERSON),
        materialise=True,
    ),
    Source(
        name="order_lines",
        meaning="Order lines with their order's columns and their product's category and tier.",
        build=built.order_lines,
        table="crm_orderline",
        columns=(
            "order",
            "customer",
            "ts",
            "channel",
            "salesperson_id",
            "department_id",
            "product_category",
            "product_tier",
            "line",
            "amount",
            "quantity",
        ),
        entities=("line", "order", "customer", "salesperson_id"),
        department_entities=("line", "order", "customer"),
        dimensions=(*CUSTOMER, PRODUCT_CATEGORY, PRODUCT_TIER, CHANNEL, SALESPERSON),
        extends="orders",
        materialise=True,
        # Writing the 3M order lines of 1,000,000 customers joined to their orders took
        # 0.56-0.62 s with these, 0.35 s without (see the README).
        wide=("order", "channel", "salesperson_id", "line", "quantity"),
    ),
    Source(
        name="interactions",
        meaning="Contacts with customers (calls, e-mails, visits...) and how they went.",
        build=built.interactions,
        table="crm_interaction",
        columns=(
            "interaction",
            "customer",
            "ts",
            "channel",
            "agent_id",
            "department_id",
            "wait_seconds",
            "hold_seconds",
            "handle_seconds",
            "topic_count",
            "resolved",
        ),
        entities=("interaction", "customer", "agent_id"),
        department_entities=("interaction",),
        timestamps={"ts": "started_at"},
        dimensions=(*CUSTOMER, CHANNEL, AGENT),
    ),
    # Not materialised: its window is cheaper run inside each query, where only the
    # columns the query reads are sorted.
    Source(
        name="contacts",
        meaning="Interactions, each knowing whether the customer came back within 7 days.",
        build=built.contacts,
        table="crm_interaction",
        columns=(
            "interaction",
            "customer",
            "ts",
            "channel",
            "agent_id",
            "department_id",
            "next_ts",
            "repeat",
        ),
        entities=("interaction", "customer", "agent_id"),
        department_entities=("interaction",),
        dimensions=(*CUSTOMER, CHANNEL, AGENT),
        extends="interactions",
        same_rows="interactions",
        ahead_days=built.REPEAT_DAYS,
        # Its window sorts every contact by customer and time: 1.2 s over ten million
        # contacts, for the whole catalogue once, and 70 ms for each live month.
        derived="derived_contacts",
    ),
    Source(
        name="feedback",
        meaning="Survey answers: rating (1-5) and likelihood to recommend (0-10).",
        build=built.feedback,
        table="crm_feedback",
        columns=("feedback", "customer", "ts", "rating", "recommend", "channel", "department_id"),
        entities=("feedback", "customer"),
        department_entities=("feedback", "customer"),
        timestamps={"ts": "submitted_at"},
        dimensions=(*CUSTOMER, CHANNEL, VOC_THEME),
        materialise=True,
    ),
    Source(
        name="complaints",
        meaning="Complaints with their service level, first response and reopening.",
        build=built.complaints,
        table="crm_complaint",
        columns=(
            "complaint",
            "customer",
            "ts",
            "resolved_ts",
            "complaint_category",
            "department_id",
            "severity",
            "resolution_hours",
            "resolved_in_time",
            "overdue_ts",
            "overdue_end_ts",
            "first_response_ts",
            "first_response_hours",
            "reopened_ts",
        ),
        entities=("complaint", "customer"),
        department_entities=("complaint",),
        timestamps={
            "ts": "opened_at",
            "resolved_ts": "resolved_at",
            "first_response_ts": "first_response_at",
            "reopened_ts": "first_reopened_at",
        },
        ends=("resolved_ts",),
        dimensions=(*CUSTOMER, COMPLAINT_CATEGORY, VOC_THEME),
        # Each row's service level, due time and overdue span, read from the table where
        # worked out once: a month's overdue complaints at 1,000,000 customers 57 -> 15 ms
        # on a live read (see the README).
        materialise=True,
    ),
    Source(
        name="leads",
        meaning="Leads, from creation to conversion or loss.",
        build=built.leads,
        table="crm_lead",
        columns=(
            "lead",
            "customer",
            "ts",
            "converted_ts",
            "lost_ts",
            "channel",
            "department_id",
            "salesperson_id",
        ),
        entities=("lead", "customer", "salesperson_id"),
        department_entities=("lead",),
        timestamps={"ts": "created_at"},
        ends=("converted_ts",),
        dimensions=(DEPARTMENT, CHANNEL, SALESPERSON),
    ),
    # The fit's day is a date: no period statistics.
    Source(
        name="customer_value",
        meaning="Each customer's prediction in the current customer value fit (`crm-scorecard "
        "customers value`), dated the day it is as of: value band, probability still active, "
        "discounted expected revenue over the fit's horizon and revenue so far.",
        build=built.customer_value,
        table="clv_customervalue",
        columns=(
            "customer",
            "ts",
            "department_id",
            "value_band",
            "p_alive",
            "expected_value",
            "historic_value",
        ),
        entities=("customer",),
        department_entities=("customer",),
        dimensions=CUSTOMER,
    ),
    # Hire and leaving dates are dates, not timestamps: no period statistics.
    Source(
        name="employees",
        meaning="Employees, from hiring to leaving.",
        build=built.employees,
        table="crm_employee",
        columns=("employee", "ts", "left_ts", "department_id"),
        entities=("employee",),
        department_entities=("employee",),
        ends=("left_ts",),
        open_ended=True,
        dimensions=(DEPARTMENT,),
    ),
    Source(
        name="engagement",
        meaning="Employee engagement survey answers, in the employee's department.",
        build=built.engagement,
        table="crm_engagementanswer",
        columns=("answer", "employee", "ts", "rating", "department_id"),
        entities=("answer", "employee"),
        department_entities=("answer", "employee"),
        timestamps={"ts": "answered_at"},
        dimensions=(DEPARTMENT,),
        materialise=True,
    ),
)
MODEL = Model({s.name: s for s in SOURCES})


def event_timestamps(model: Model = MODEL) -> tuple[tuple[str, str], ...]:
    """(table, column) of every event timestamp metrics group by."""
    return tuple(
        dict.fromkeys(
            (source.table, column)
            for source in model.sources.values()
            for column in source.timestamps.values()
        )
    )


def event_order(model: Model = MODEL) -> dict[str, str]:
    """table -> the column the columnar mirror writes its rows in order of: the event
    timestamp of the first source over it (`ts`). A request for some periods then reads only
    those periods' part of the file: DuckDB skips each row group whose range of the column
    lies outside them. Written in the order they were inserted, every row group held the
    whole two years, and a month of 2,000,000 interactions read all of them."""
    order: dict[str, str] = {}
    for source in model.sources.values():
        column = source.timestamps.get("ts")
        if column is not None:
            order.setdefault(source.table, column)
    return order


# ---- dimensions declared in a metrics file ---------------------------------------------------

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "lower": lambda x: x.lower(),
    "upper": lambda x: x.upper(),
    "year": lambda x: x.year(),
    "month": lambda x: x.month(),
    "hour": lambda x: x.hour(),
    "coalesce": lambda *xs: ibis.coalesce(*xs),
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
SYNTAX = (
    "columns, 'text', numbers, None, + - * /, == != < <= > >=, in [...], is None, and, or, "
    f"not, A if CONDITION else B, and {', '.join(f'{f}()' for f in FUNCTIONS)}"
)


@dataclass(frozen=True)
class Expression:
    """A dimension's value computed from a source's columns, as text; the expression is a
    Python-like formula, read once and turned into an Ibis expression (never into SQL text)."""

    label: str  # "dimension NAME on SOURCE", for messages
    text: str
    tree: ast.expr
    columns: tuple[str, ...]  # the source's columns it reads

    @classmethod
    def parse(cls, label: str, text: str, source: Source) -> Expression:
        try:
            tree = ast.parse(text, mode="eval").body
        except SyntaxError as exc:
            raise MetricError(f"{label}: cannot read expression {text!r}: {exc.msg}") from None
        names: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                    raise MetricError(f"{label}: unknown function in {text!r}; use {SYNTAX}")
                if node.keywords:
                    raise MetricError(f"{label}: functions take no named arguments in {text!r}")
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                names.append(node.id)
            elif not isinstance(node, _ALLOWED):
                raise MetricError(
                    f"{label}: {type(node).__name__.lower()} is not allowed in {text!r}; "
                    f"use {SYNTAX}"
                )
            if isinstance(node, ast.Constant) and not isinstance(
                node.value, str | int | float | type(None)
            ):
                raise MetricError(f"{label}: constant {node.value!r} is not allowed in {text!r}")
        functions = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)}  # type: ignore[attr-defined]
        columns = tuple(dict.fromkeys(n for n in names if n not in functions))
        for column in columns:
            if column == "department":
                raise MetricError(
                    f"{label}: an expression cannot read department (a record counts "
                    "once for each department above its own)"
                )
            if column not in source.offers:
                raise MetricError(
                    f"{label}: source {source.name} has no column {column!r}; "
                    f"it has {', '.join(source.offers)}"
                )
        return cls(label, text, tree, columns)

    def value(self, t: Table) -> Any:
        try:
            return _compile(self.tree, t).cast("string")
        except Exception as exc:  # Ibis says which operation does not fit which type
            raise MetricError(f"{self.label}: cannot compute {self.text!r}: {exc}") from None

    def join(self, conn: Connection, t: Table, names: list[str]) -> Table:
        """`t` with this dimension (`names`: its own name) computed."""
        return t.mutate(**{name: self.value(t) for name in names})


_ALLOWED = (
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.List,
    ast.Tuple,
    ast.And,
    ast.Or,
    ast.Not,
    ast.USub,
    ast.Is,
    ast.IsNot,
    ast.In,
    ast.NotIn,
    *_COMPARE,
    *_ARITHMETIC,
)


def _compile(node: ast.expr, t: Table) -> Any:
    match node:
        case ast.Constant(value=None):
            return ibis.null()
        case ast.Constant(value=value):
            return ibis.literal(value)
        case ast.Name(id=name):
            return t[name]
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return ibis.ifelse(_compile(test, t), _compile(body, t), _compile(orelse, t))
        case ast.BoolOp(op=op, values=values):
            join = operator.and_ if isinstance(op, ast.And) else operator.or_
            return functools.reduce(join, [_compile(v, t) for v in values])
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return ~_compile(operand, t)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_compile(operand, t)
        case ast.BinOp(left=left, op=op, right=right):
            return _ARITHMETIC[type(op)](_compile(left, t), _compile(right, t))
        case ast.Call(func=ast.Name(id=name), args=args):
            return FUNCTIONS[name](*[_compile(a, t) for a in args])
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            parts, before = [], _compile(left, t)
            for comparison, right in zip(ops, comparators, strict=True):
                parts.append(_compare(before, comparison, right, t))
                before = _compile(right, t) if not isinstance(right, ast.List | ast.Tuple) else None
            return functools.reduce(operator.and_, parts)
    raise ValueError(f"cannot use {ast.unparse(node)!r} here")


def _compare(left: Any, op: ast.cmpop, right: ast.expr, t: Table) -> Any:
    if isinstance(op, ast.In | ast.NotIn):
        if not isinstance(right, ast.List | ast.Tuple):
            raise ValueError("`in` takes a list: x in ['a', 'b']")
        values = [_compile(v, t) for v in right.elts]
        inside = left.isin(values)
        return inside if isinstance(op, ast.In) else ~inside
    if isinstance(op, ast.Is | ast.IsNot):
        if not (isinstance(right, ast.Constant) and right.value is None):
            raise ValueError("`is` compares with None only: x is None, x is not None")
        return left.isnull() if isinstance(op, ast.Is) else left.notnull()
    return _COMPARE[type(op)](left, _compile(right, t))


def expression_dimension(source: Source, name: str, expression: str, meaning: str) -> Dimension:
    """A dimension computed on `source` from `expression` (its value is text; null reads
    as unknown)."""
    label = f"dimension {name} on {source.name}"
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise MetricError(
            f"dimension {name!r}: a name is lower-case letters, digits and _ (at most 40)"
        )
    parsed = Expression.parse(label, expression, source)
    reads = tuple(c for c in parsed.columns if c not in source.columns)
    return Dimension(name, meaning or f"{expression}", parsed.join, reads)


def _reads_columns(source: Source, name: str) -> set[str] | None:
    """The core columns of `source` dimension (or column) `name` is worked out from; None
    where not known (a join declared in a metrics file)."""
    dimension = source.dimension(name)
    if dimension is None or dimension.join is None:
        return {name}
    if name in built.NAMED_DIMENSIONS:
        return {built.NAMED_DIMENSIONS[name][0]}
    if dimension.join is built.join_department_tree:
        return {"department_id"}
    if dimension.join in (built.join_customer, built.join_rfm_segment):
        found: set[str] | None = {"customer"}
        for read in dimension.reads:
            more = _reads_columns(source, read)
            found = None if more is None or found is None else found | more
        return found
    return None


def _joined(source: Source, dimensions: Iterable[str]) -> list[Dimension]:
    """Those of `dimensions` `source` offers, in the order to join them: a dimension
    computed from others (declared in a metrics file) after them."""
    wanted = [d for d in map(source.dimension, dict.fromkeys(dimensions)) if d is not None]
    needed = [source.dimension(r) for d in wanted for r in d.reads]
    return [d for d in needed if d is not None] + wanted


class Sources:
    """Builds the per-event tables the metrics aggregate, scoped to departments, as the
    semantic model (`semantic.py`) declares them.

    Each source has a narrow core (the event's own columns and the ids it points at) and
    gets its descriptive dimensions (a customer's region or age bracket, a department's or
    an agent's name) joined on only when a query asks for them, so the many metrics that
    need none of them scan the core alone."""

    def __init__(
        self,
        conn: Connection,
        *,
        model: Model,
        departments: set[int] | None = None,
        materialise: bool = False,
        period: Callable[[Any, str], Any] | None = None,
        resident: bool = False,
        derived: bool = True,
        unread: Callable[[str], tuple[str, ...]] | None = None,
    ) -> None:
        self.conn = conn
        self.model = model
        self.departments = departments
        # Compute the core of each source that joins tables (declared `materialise`) once
        # into a table of its own (DuckDB and PostgreSQL), so every metric after that is a
        # plain scan: worth it when many metrics read one source. The other sources are
        # column scans already.
        self.materialise = materialise and conn.name in ("duckdb", "postgres")
        # How to index a timestamp's period at a grain (the engine's period_expr).
        self.period = period
        # Live reads on a mirror version kept open (live.py): the cores worth materialising
        # are computed once for every department, in period order, into tables that last
        # as long as the connection, and each request's scope filters them (see _resident).
        self.resident = resident and conn.snapshot is not None and conn.name == "duckdb"
        # Whether the cores a mirror version holds worked out (`Source.derived`) are read.
        self.derived = derived
        # The `wide` columns of a source no metric reads (the engine's `unread`), when
        # materialising for a run of many metrics.
        self.unread = unread if self.materialise and not self.resident else None
        self._cache: dict[tuple[str, str | None, tuple[str, ...]], Table] = {}
        self._plain: dict[str, Table] = {}
        self._derived_cores: dict[str, Table | None] = {}
        self._got: dict[tuple[Any, ...], Table] = {}

    def _scoped(self, t: Table) -> Table:
        if self.departments is None:
            return t
        return t.filter(t.department_id.isin(sorted(self.departments)))

    def get(
        self,
        name: str,
        dimensions: Iterable[str] = (),
        grain: str | None = None,
        *,
        span: tuple[Any, Any] | None = None,
        later: tuple[str, ...] = (),
    ) -> Table:
        """The source `name`, with those of `dimensions` it offers joined on; with a
        `grain`, each row also carries `p`, the index of its period at that grain. `span`:
        the first instant of the periods a request asks for and the first after them
        (query parameters), when it names some: a source that reads ahead of its rows
        (`Source.ahead_days`) is built from those periods' records and the days after
        alone, which its rows in the periods need (DuckDB); the caller keeps those rows.
        `later`: dimensions the caller adds to some of the rows itself (`rows_with`): not
        joined on, but the rows keep the columns they are worked out from (`_left_out`)."""
        # The same arguments give the same expression: built once per Sources (kept per
        # mirror version and scope on a live read), as building it again cost a month's
        # cross-sell rate by age bracket 33 ms of Ibis a request at a million customers.
        # (`span` is None or the engine's two span parameters, the same objects each time.)
        key = (name, tuple(dict.fromkeys(dimensions)), grain, span, later)
        if key not in self._got:
            self._got[key] = self._get(name, key[1], grain, span, later)
        return self._got[key]

    def _get(
        self,
        name: str,
        dimensions: tuple[str, ...],
        grain: str | None,
        span: tuple[Any, Any] | None,
        later: tuple[str, ...] = (),
    ) -> Table:
        source = self.model.source(name)
        grain = grain if self.period is not None else None
        if (
            span is not None
            and source.ahead_days
            and self.conn.name == "duckdb"
            and self._derived(source) is None
        ):
            core = self._ahead(source, grain, span)
        else:
            core = self._core(source, grain, self._left_out(source, (*dimensions, *later)))
        return self._with(core, _joined(source, dimensions))

    def plain(self, name: str) -> Table:
        """Source `name`'s core as an expression, nothing computed: what a metric's filter
        is applied to, to find the columns it reads."""
        if name not in self._plain:
            source = self.model.source(name)
            if source.extends is not None:
                self._plain[name] = source.build(self.conn, self.plain(source.extends))
            else:
                self._plain[name] = source.build(self.conn)
        return self._plain[name]

    def _left_out(self, source: Source, dimensions: Iterable[str]) -> tuple[str, ...]:
        """The `wide` columns of `source` its materialised core leaves out for a query
        by or filtered by `dimensions`: those no metric reads (`unread`), unless one of
        the dimensions is worked out from one of them (the channel, the salesperson's
        name) or from what is not known (then the core with every column)."""
        if self.unread is None or not source.wide or self._derived(source) is not None:
            return ()
        unread = self.unread(source.name)
        for name in dimensions:
            needs = _reads_columns(source, name)
            if needs is None or needs & set(unread):
                return ()
        return unread

    def _with(self, t: Table, dimensions: list[Dimension]) -> Table:
        """`t` (a source's rows, or rows with its `customer` column) with `dimensions`
        added: the customer's columns looked up on a live read (built.customer_columns),
        the rest joined on."""
        if self.resident:
            customer = [d.name for d in dimensions if d.join is built.join_customer]
            t = built.customer_columns(self.conn, t, customer)
        return built.with_dimensions(self.conn, t, dimensions)

    def rows_with(self, name: str, t: Table, dimension: str) -> Table:
        """`t` with source `name`'s `dimension` added as `get` adds it, worked out for
        those rows alone: `t` holds some of the source's rows (with its columns), or, for
        a value of the customer's own whenever (Dimension.of_customer), rows with a
        `customer` column."""
        return self._with(t, _joined(self.model.source(name), (dimension,)))

    def _core(self, source: Source, grain: str | None, left_out: tuple[str, ...] = ()) -> Table:
        key = (source.name, grain, left_out)
        if key not in self._cache and self.resident and source.materialise and grain:
            self._cache[key] = self._scoped(self._resident(source, grain))
        if key not in self._cache and (derived := self._derived(source)) is not None:
            if grain is not None:
                assert self.period is not None
                derived = derived.mutate(p=self.period(derived.ts, grain))
            self._cache[key] = derived
        if key not in self._cache:
            if source.extends is not None:
                # Built on the (scoped, maybe materialised) source it extends, so a repeat
                # contact is one within the same scope, and nothing is joined twice.
                base = self._core(self.model.source(source.extends), grain)
                table = source.build(self.conn, base)
            else:
                table = source.build(self.conn)
                if grain is not None:
                    # The period index is worked out once per row, where the row is read:
                    # stored with a materialised source, so no metric computes it again,
                    # and computed ahead of the repeat-contact window, where PostgreSQL's
                    # parallel workers share it (the window runs in one process).
                    assert self.period is not None
                    table = table.mutate(p=self.period(table.ts, grain))
                table = self._scoped(table)
            if left_out:
                table = table.drop(*left_out)
            label = f"source_{source.name}" + (f"_{grain}" if grain else "")
            label += "_narrow" if left_out else ""
            self._cache[key] = self.keep(label, table) if source.materialise else table
        return self._cache[key]

    def _derived(self, source: Source) -> Table | None:
        """The core of `source` as the mirror version read holds it worked out for the
        whole company (`Source.derived`), where the scope is the whole company; else None
        (a department's repeat contacts are those within its scope: worked out here)."""
        if source.name not in self._derived_cores:
            name, folder = source.derived, self.conn.parquet
            held = self.derived and self.departments is None
            if held and name and folder is not None and (folder / f"{name}.parquet").exists():
                self._derived_cores[source.name] = self.conn.table(name)
            else:
                self._derived_cores[source.name] = None
        return self._derived_cores[source.name]

    def _ahead(self, source: Source, grain: str | None, span: tuple[Any, Any]) -> Table:
        """Source `source` built on the records of its base from the span's start to
        `ahead_days` after its end. The repeat-contact window over every contact of the
        history took 0.5 s for one month at 200,000 customers; over that month and a week
        it sorts a twentieth of them."""
        assert source.extends is not None
        start, end = span
        base = self._core(self.model.source(source.extends), grain)
        # One day more than the source reads ahead: a record at the last instant of the
        # span sees every one within `ahead_days` after it.
        until = end + ibis.interval(days=source.ahead_days + 1)
        return source.build(self.conn, base.filter((base.ts >= start) & (base.ts < until)))

    def _resident(self, source: Source, grain: str) -> Table:
        """The source's core for every department, with `p`, computed once per connection
        (so once per mirror version) into a table in period order: a request for one month
        then reads that month's rows alone (DuckDB skips the rest by their periods' range)
        instead of joining every order line to its order, customer and product again.
        Scoping after the join keeps the same rows: each row carries its record's own
        department (an order line its order's)."""
        assert self.conn.snapshot is not None and self.period is not None
        key = ("resident", source.name, grain)
        if key not in self.conn.snapshot:
            if source.extends is not None:
                parent = self.model.source(source.extends)
                if parent.materialise:
                    base = self._resident(parent, grain)
                else:
                    base = parent.build(self.conn)
                    base = base.mutate(p=self.period(base.ts, grain))
                table = source.build(self.conn, base)
            else:
                table = source.build(self.conn)
                table = table.mutate(p=self.period(table.ts, grain))
            label = f"resident_{source.name}_{grain}"
            self.conn.snapshot[key] = self.conn.work_table(label, table.order_by("p"))
        return self.conn.snapshot[key]

    def keep(self, label: str, table: Table) -> Table:
        """`table` computed into a table of its own when materialising, else as is."""
        if not self.materialise:
            return table
        return self.conn.work_table(f"{label}_{id(self):x}", table)
