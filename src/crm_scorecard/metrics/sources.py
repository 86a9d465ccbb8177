"""Where metrics read from: the CRM tables as Ibis expressions, on whichever engine holds them.

Each source is one row per business event with a timestamp `ts`, the `customer`, the ids
that scope it to a department (`department_id`), and every dimension it can be broken down
by, under the dimension's own name (joined on only when asked for). The same expressions
run on SQLite, PostgreSQL, DuckDB (over the app database or over Parquet files) and Spark."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import ibis
from ibis.expr.types import Table

from crm_scorecard.crm.ages import AGE_BRACKETS, OLDEST

from .backends import Connection, epoch_seconds, flag, shifted, within

TABLES = (
    "accounts_department",
    "crm_customer",
    "crm_employee",
    "crm_product",
    "crm_order",
    "crm_orderline",
    "crm_lead",
    "crm_interaction",
    "crm_feedback",
    "crm_complaint",
    "crm_engagementanswer",
    "voc_theme",
    "voc_thememember",
    "clv_valuefit",
    "clv_customervalue",
    "segments_rfmscore",
)


class UnknownColumn(ValueError):
    """A metric names a column or dimension its source does not have."""


def age_bracket(ts: Any, birth: Any) -> Any:
    """Age at the time of the event, bucketed; null when the birth date is unknown."""
    return _bracket(_yyyymmdd(ts) - _yyyymmdd(birth), birth)


def with_age_bracket(t: Table, birth: str) -> Table:
    """`t` with `age_bracket` at each row's `ts`, from the birth date in column `birth`
    (dropped): each row's dates read once, where an expression repeated in each of the
    bracket's cases read them six times (a month's 456,000 contacts by age bracket: 122 ->
    95 ms in DuckDB)."""
    t = t.mutate(dim_ymd_gap=_yyyymmdd(t.ts) - _yyyymmdd(t[birth]))
    bracket = _bracket(t.dim_ymd_gap, t[birth])
    return t.mutate(age_bracket=bracket).drop("dim_ymd_gap", birth)


def _bracket(gap: Any, birth: Any) -> Any:
    # `gap`: the dates as numbers YYYYMMDD, the birth date's taken from the event's; its
    # ten-thousands are the age in years, one less before the birthday (2026-03-01 minus
    # 1990-05-10: 359591, 35 years), so an age is below a limit where that is below the
    # limit's ten thousands (no division). An event before the birth is in the youngest.
    cases = [(gap < limit * 10000, label) for limit, label in AGE_BRACKETS]
    return birth.isnull().ifelse(ibis.null("string"), ibis.cases(*cases, else_=OLDEST))


def _yyyymmdd(when: Any) -> Any:
    return when.year() * 10000 + when.month() * 100 + when.day()


# Dimensions that name what an id column points at: (the id column, the table of names).
NAMED_DIMENSIONS = {
    "agent": ("agent_id", "crm_employee", "full_name"),
    "salesperson": ("salesperson_id", "crm_employee", "full_name"),
}


def department_depth(conn: Connection) -> int:
    """How many levels the department tree has below its roots (0: no sub-departments)."""
    if conn.tree_depth is None:
        d = conn.backend.execute(conn.table("accounts_department").select("id", "parent_id"))
        parents = {
            int(i): (None if p is None or p != p else int(p)) for i, p in d.itertuples(False)
        }
        deepest = 0
        for pk in parents:
            seen, node, level = {pk}, parents[pk], 0
            while node is not None and node not in seen:
                seen.add(node)
                node, level = parents.get(node), level + 1
            deepest = max(deepest, level)
        conn.tree_depth = deepest
    return conn.tree_depth


def department_ancestors(conn: Connection) -> Table:
    """Every department paired with itself and each department above it, by name:
    (`dim_dept`, `department`). Joining records to it on their department counts each record
    once for its own department and once for every department above, so grouping by
    `department` gives each department's whole subtree in one pass, and filtering on one
    name keeps exactly that subtree's records."""
    d = conn.table("accounts_department")
    # Cast: the levels' columns must have one type, and the app database's ids are not null
    # where the ids reached through a join may be (a tree three deep failed on SQLite).
    levels = [d.select(dim_dept=d.id.cast("int64"), anc_id=d.id.cast("int64"))]
    up = d.select(dim_dept=d.id, up_id=d.parent_id)
    for _ in range(department_depth(conn)):
        up = up.filter(up.up_id.notnull())
        levels.append(up.select(dim_dept=up.dim_dept.cast("int64"), anc_id=up.up_id.cast("int64")))
        step = d.select(step_id=d.id, step_parent=d.parent_id)
        up = up.join(step, up.up_id == step.step_id).select(
            dim_dept=up.dim_dept, up_id=step.step_parent
        )
    pairs = ibis.union(*levels, distinct=True) if len(levels) > 1 else levels[0]
    names = d.select(anc_key=d.id, department=d.name)
    return pairs.join(names, pairs.anc_id == names.anc_key).select("dim_dept", "department")


def department_names(conn: Connection) -> dict[int, list[str]]:
    """Each department's name and the names of every department above it, by id: the
    departments whose subtree holds its records (see department_ancestors, which pairs them
    in SQL). What the engine adds a record's own department's numbers up to."""
    d = conn.backend.execute(conn.table("accounts_department").select("id", "parent_id", "name"))
    parents, names = {}, {}
    for i, p, name in d.itertuples(False):
        parents[int(i)] = None if p is None or p != p else int(p)
        names[int(i)] = str(name)
    out = {}
    for pk in parents:
        seen, node = [pk], parents[pk]
        while node is not None and node not in seen and node in parents:
            seen.append(node)
            node = parents[node]
        out[pk] = [names[n] for n in seen]
    return out


Join = Callable[[Connection, Table, list[str]], Table]


class Joined(Protocol):
    """What joining asks of a dimension (`semantic.Dimension`): its name and its join."""

    @property
    def name(self) -> str: ...

    @property
    def join(self) -> Join | None: ...


def with_dimensions(conn: Connection, t: Table, wanted: Iterable[Joined]) -> Table:
    """`t` with the dimensions in `wanted` that it lacks added, each join once for all the
    dimensions it brings: the customer's columns, the department tree, the names behind
    ids and the themes, in that order, then those computed from these."""
    joins: dict[Join, list[str]] = {}
    for dim in wanted:
        if dim.join is not None and dim.name not in t.columns:
            names = joins.setdefault(dim.join, [])
            if dim.name not in names:
                names.append(dim.name)
    ordered = sorted(joins, key=lambda j: JOINS.index(j) if j in JOINS else len(JOINS))
    for join in ordered:
        t = join(conn, t, joins[join])
    return t


def join_customer(conn: Connection, t: Table, names: list[str]) -> Table:
    """`t` with its customer's region, country, city, segment or age bracket (at the time
    of the event) among `names`, in one join."""
    c = conn.table("crm_customer")
    columns = {d: c[d] for d in names if d != "age_bracket"}
    if "age_bracket" in names:
        columns["dim_birth_date"] = c.birth_date
    lookup = c.select(dim_customer=c.id, **columns)
    t = t.left_join(lookup, t.customer == lookup.dim_customer).drop("dim_customer")
    return with_age_bracket(t, "dim_birth_date") if "age_bracket" in names else t


# A kept live connection's customer lookups (`customer_columns`) are lists as long as the
# highest customer id (ids left by deleted customers are gaps in them): made where that is
# at most LOOKUP_SPREAD times the number of customers, or LOOKUP_SHORT (a list of a million
# regions takes about a megabyte).
LOOKUP_SPREAD = 4
LOOKUP_SHORT = 1_000_000
_LOOKUPS: dict[str, Callable[..., Any]] = {}
# The customer's columns read so (crm_customer's own text columns, by their names).
TEXT_LOOKUPS = ("region", "country", "city", "segment", "acquisition_channel")
# The age bracket reads the birth date from a list of days since BIRTHS_FROM, two bytes
# each: made where every birth date is in the 65,535 days after it (to 2079-06-05).
BIRTHS_FROM = "1900-01-01"


def customer_columns(conn: Connection, t: Table, names: Iterable[str]) -> Table:
    """`t` with the customer's columns among `names` (region, country, city, segment,
    acquisition channel, and the age bracket from the birth date) read from lookups by
    customer id rather than by a join, on a DuckDB connection kept open for a mirror
    version (live reads); `t` as is elsewhere, or where the customer ids are too sparse
    for a list.

    A month's breakdown by region joined that month's rows to every customer: at 1,000,000
    customers the join cost most of the request. Each lookup is made once per connection:
    a list holding every customer's value at the index of their id, in a one-row table the
    rows are cross-joined to, read with a macro. The values are small: a text column's
    dictionary-encoded (an ENUM: one byte each for a region), a birth date as the days
    since BIRTHS_FROM (two bytes), because DuckDB copies the list for every 2,048 rows it
    reads (a month's 456,000 contacts: 24 ms to read the regions, 26 ms the birth dates so,
    44-58 ms as 4-byte dates or numbers). The value of an id with no customer, or of a
    customer with none, is null, as the join's is. (The list read as a scalar subquery
    inside the macro cost a month's orders by region 10 ms more: DuckDB copies the whole
    list through an aggregate to check that the subquery has one row; 18-22 ms against
    8-9 ms for a month's 108,000 orders grouped by region at a million customers.)
    A source with fewer rows than there are customers reads the lookups too: a join reads
    every customer (open complaints by city at a million customers: 102-106 ms joined,
    44-47 ms so, in DuckDB). A month's contacts by age bracket: 122 ms joined, 52 ms so
    (in DuckDB alone, with the bracket worked out from YYYYMMDD numbers: see
    age_bracket)."""
    lookups = (*TEXT_LOOKUPS, "age_bracket")
    names = [n for n in dict.fromkeys(names) if n in lookups and n not in t.columns]
    if not names or conn.snapshot is None or conn.name != "duckdb":
        return t
    ids = conn.snapshot.get(("lookup", "ids"))
    if ids is None:
        conn.table("crm_customer")  # its view
        ids = conn.backend.raw_sql(
            "SELECT count(*), max(id), "
            f"coalesce(min(birth_date) >= DATE '{BIRTHS_FROM}' AND "
            f"max(birth_date) < DATE '{BIRTHS_FROM}' + 65535, TRUE) FROM crm_customer"
        ).fetchone()
        conn.snapshot[("lookup", "ids")] = ids
    count, top, births_fit = ids
    if not count or top > max(LOOKUP_SPREAD * count, LOOKUP_SHORT):
        return t
    for name in names:
        column = "birth_date" if name == "age_bracket" else name
        if column == "birth_date" and not births_fit:
            continue  # joined (with_dimensions)
        if ("lookup", column) not in conn.snapshot:
            _customer_lookup(conn, column, top)
            conn.snapshot[("lookup", column)] = True
        values = f"crm_lookup_{column}_l"
        lists = conn.bound(
            f"crm_lookup_{column}_list",
            ibis.schema({values: _LOOKUP_TYPES.get(column, _TEXT)[0]}),
            catalog="temp",
        )
        t = t.cross_join(lists)
        if name == "age_bracket":
            t = t.mutate(dim_birth_date=_lookup_function(column)(t[values], t.customer))
            t = with_age_bracket(t.drop(values), "dim_birth_date")
        else:
            t = t.mutate(**{name: _lookup_function(column)(t[values], t.customer)}).drop(values)
    return t


# A lookup's list and value types (Ibis's, for the macro's signature): text but these.
_TEXT = ("array<string>", "string")
_LOOKUP_TYPES = {"birth_date": ("array<uint16>", "date")}


def _customer_lookup(conn: Connection, column: str, top: int) -> None:
    """Make the lookup of `column` (a column of crm_customer) on `conn`."""
    run = conn.backend.con.execute
    name = f"crm_lookup_{column}"
    if column == "birth_date":
        value = f"CAST(c.birth_date - DATE '{BIRTHS_FROM}' AS USMALLINT)"
        read = f"DATE '{BIRTHS_FROM}' + l[customer]"
    else:
        run(
            f"CREATE TYPE {name}_values AS ENUM "
            f"(SELECT DISTINCT {column} FROM crm_customer WHERE {column} IS NOT NULL)"
        )
        value = f"CAST(c.{column} AS {name}_values)"
        read = "CAST(l[customer] AS VARCHAR)"
    # One row (an aggregate without groups), so the cross join keeps every row.
    run(
        f"CREATE TEMP TABLE {name}_list AS "
        f"SELECT list({value} ORDER BY i.i) AS {name}_l "
        f"FROM range(1, {int(top) + 1}) AS i(i) LEFT JOIN crm_customer AS c ON c.id = i.i"
    )
    run(f"CREATE MACRO {name}(l, customer) AS {read}")


def _lookup_function(column: str) -> Callable[..., Any]:
    """The Ibis function calling the lookup macro of `column` (one per process, so the
    same expression each time, which the connection's compiled queries are kept by)."""
    if column not in _LOOKUPS:

        def lookup(values: Any, customer: Any) -> Any: ...

        values, result = _LOOKUP_TYPES.get(column, _TEXT)
        _LOOKUPS[column] = ibis.udf.scalar.builtin(
            lookup, name=f"crm_lookup_{column}", signature=((values, "int64"), result)
        )
    return _LOOKUPS[column]


def join_department_tree(conn: Connection, t: Table, names: list[str]) -> Table:
    """`t` with `department`: each record once for its department and once for every
    department above (see department_ancestors)."""
    tree = department_ancestors(conn)
    return t.join(tree, t.department_id == tree.dim_dept).drop("dim_dept")


def join_names(conn: Connection, t: Table, names: list[str]) -> Table:
    """`t` with the names behind its ids (`agent`: the agent's, `salesperson`: ...)."""
    for name in names:
        key, table, column = NAMED_DIMENSIONS[name]
        n = conn.table(table)
        lookup = n.select(dim_id=n.id, **{name: n[column]})
        t = t.left_join(lookup, t[key] == lookup.dim_id).drop("dim_id")
    return t


def join_voc_theme(conn: Connection, t: Table, names: list[str]) -> Table:
    return _with_voc_theme(conn, t)


def join_rfm_segment(conn: Connection, t: Table, names: list[str]) -> Table:
    """`t` with `rfm_segment`: its customer's segment in their latest stored RFM scores
    (segments app; read by table name, as the CRM's tables are); null: never scored."""
    r = conn.table("segments_rfmscore")
    latest = r.group_by(rfm_customer=r.customer_id).aggregate(rfm_last=r.as_of.max())
    current = r.join(
        latest, (r.customer_id == latest.rfm_customer) & (r.as_of == latest.rfm_last)
    ).select(rfm_customer=r.customer_id, rfm_segment=r.segment)
    return t.left_join(current, t.customer == current.rfm_customer).drop("rfm_customer")


def join_value_band(conn: Connection, t: Table, names: list[str]) -> Table:
    """`t` with `value_band`: its customer's band in the current customer value fit (clv
    app; read by table name, as the CRM's tables are); null: no prediction."""
    v = conn.table("clv_customervalue")
    bands = v.select(value_customer=v.customer_id, value_band=v.value_band)
    return t.left_join(bands, t.customer == bands.value_customer).drop("value_customer")


def customer_value(conn: Connection) -> Table:
    """Each customer's prediction in the current customer value fit, dated the day the
    predictions are as of (the fit's last purchase day), in the customer's department."""
    v = conn.table("clv_customervalue")
    f = conn.table("clv_valuefit")
    f = f.select(value_fit=f.id, ts=f.data_end.cast("timestamp"))
    t = v.join(f, v.fit_id == f.value_fit)
    t = t.select(
        customer=t.customer_id,
        ts=t.ts,
        value_band=t.value_band,
        p_alive=t.p_alive.cast("float64"),
        expected_value=t.expected_value.cast("float64"),
        historic_value=t.historic_value.cast("float64"),
    )
    return _customer_department(conn, t)


JOINS: tuple[Join, ...] = (
    join_customer,
    join_department_tree,
    join_names,
    join_voc_theme,
    join_rfm_segment,
)


def _with_voc_theme(conn: Connection, t: Table) -> Table:
    """`t` (feedback or complaints) with `voc_theme`: the label of the voice-of-the-customer
    theme its comment was put in (null: in none). Read from voc's tables by name, as the
    CRM's are: the metrics layer does not import the voc app. A comment is in one theme at
    most, so no row is counted twice."""
    kind = "feedback" if "feedback" in t.columns else "complaint"
    m = conn.table("voc_thememember")
    theme = conn.table("voc_theme")
    m = m.filter(m[f"{kind}_id"].notnull())
    labels = m.join(theme, m.theme_id == theme.id).select(
        dim_comment=m[f"{kind}_id"], voc_theme=theme.label
    )
    return t.left_join(labels, t[kind] == labels.dim_comment).drop("dim_comment")


def _customer_department(conn: Connection, t: Table) -> Table:
    """`t` with `department_id`: the department its customer belongs to."""
    c = conn.table("crm_customer")
    lookup = c.select(dep_customer=c.id, department_id=c.department_id)
    return t.left_join(lookup, t.customer == lookup.dep_customer).drop("dep_customer")


def orders(conn: Connection) -> Table:
    o = conn.table("crm_order")
    o = o.select(
        order=o.id,
        customer=o.customer_id,
        ts=o.ordered_at,
        channel=o.channel,
        salesperson_id=o.salesperson_id,
    )
    return _customer_department(conn, o)


def order_lines(conn: Connection, o: Table | None = None) -> Table:
    """Order lines with their order's columns (`o`: the orders source, if already built)."""
    line = conn.table("crm_orderline")
    p = conn.table("crm_product")
    p = p.select(prod_id=p.id, product_category=p.category, product_tier=p.tier)
    o = orders(conn) if o is None else o
    t = line.join(o, line.order_id == o.order, how="inner").join(
        p, line.product_id == p.prod_id, how="left"
    )
    return t.select(
        *[c for c in o.columns],
        "product_category",
        "product_tier",
        line=t.id,
        amount=t.amount.cast("float64"),
        quantity=t.quantity.cast("float64"),
    )


def interactions(conn: Connection) -> Table:
    i = conn.table("crm_interaction")
    return i.select(
        interaction=i.id,
        customer=i.customer_id,
        ts=i.started_at,
        channel=i.channel,
        agent_id=i.agent_id,
        department_id=i.department_id,
        # The whole seconds and topics as the app database holds them: a mean of them is
        # fractional on every engine, and DuckDB's 90th percentile of a month's waits runs
        # over the integers faster than over a DOUBLE copy of them (see the README).
        wait_seconds=i.wait_seconds,
        hold_seconds=i.hold_seconds,
        handle_seconds=i.handle_seconds,
        topic_count=i.topic_count,
        resolved=flag(i.resolved_first_contact),
    )


# A contact is a repeat one when the same customer comes back within this many days.
REPEAT_DAYS = 7


def contacts(conn: Connection, i: Table | None = None) -> Table:
    """Interactions, each knowing whether the same customer came back within 7 days
    (`i`: the interactions source, if already built). Only the columns that place and
    describe a contact: the window sorts every column it carries."""
    i = interactions(conn) if i is None else i
    i = i.select(
        "interaction",
        "customer",
        "ts",
        "channel",
        "agent_id",
        "department_id",
        *(["p"] if "p" in i.columns else []),
    )
    customer, interaction = i.customer, i.interaction
    narrow = conn.small_ids("crm_interaction", ("id", "customer_id"))
    if narrow:
        # DuckDB partitions and sorts by 32-bit ids faster than by 64-bit ones, computed
        # ahead of the window: the window over ten million contacts 3.0 s -> 1.7-2.0 s.
        i = i.mutate(
            window_customer=i.customer.cast("int32"), window_interaction=i.interaction.cast("int32")
        )
        customer, interaction = i.window_customer, i.window_interaction
    order = [i.ts, interaction]
    if conn.name == "postgres" and "p" in i.columns:
        # The same order (the period index grows with time), but PostgreSQL then works out
        # the period index in its parallel workers, ahead of the window, which runs in
        # one process: 6.2 s -> 5.1 s over ten million contacts.
        order = [i.p, *order]
    i = i.mutate(next_ts=i.ts.lead().over(ibis.window(group_by=customer, order_by=order)))
    if narrow:
        i = i.drop("window_customer", "window_interaction")
    # The next contact never comes before this one (the window orders by time).
    came_back = within(conn, i.ts, i.next_ts, REPEAT_DAYS)
    return i.mutate(repeat=(i.next_ts.notnull() & came_back).ifelse(1, 0))


def feedback(conn: Connection) -> Table:
    f = conn.table("crm_feedback")
    f = f.select(
        feedback=f.id,
        customer=f.customer_id,
        ts=f.submitted_at,
        rating=f.rating.cast("float64"),
        recommend=f.recommend.cast("float64"),
        channel=f.source,
    )
    return _customer_department(conn, f)


def complaints(conn: Connection) -> Table:
    """Complaints, with their service level (hours allowed by severity, from
    `CRM_COMPLAINT_SLA_HOURS`): whether each was resolved in time, and from when to when it
    stood overdue (from its due time until resolved; never, if resolved in time)."""
    from django.conf import settings

    k = conn.table("crm_complaint")
    sla = ibis.cases(
        *[(k.severity == name, int(h)) for name, h in settings.CRM_COMPLAINT_SLA_HOURS.items()],
        else_=ibis.null("int64"),
    )
    opened = epoch_seconds(conn, k.opened_at)
    resolution_hours = (epoch_seconds(conn, k.resolved_at) - opened).cast("float64") / 3600
    in_time = ibis.cases(
        (k.resolved_at.isnull() | sla.isnull(), ibis.null("int64")),
        (resolution_hours <= sla, 1),
        else_=0,
    )
    due = shifted(conn, k.opened_at, sla)
    late = sla.notnull() & (in_time.isnull() | (in_time == 0))
    return k.select(
        complaint=k.id,
        customer=k.customer_id,
        ts=k.opened_at,
        resolved_ts=k.resolved_at,
        complaint_category=k.category,
        department_id=k.department_id,
        severity=k.severity,
        resolution_hours=resolution_hours,
        resolved_in_time=in_time,
        overdue_ts=late.ifelse(due, ibis.null(due.type().copy(nullable=True))),
        overdue_end_ts=late.ifelse(
            k.resolved_at, ibis.null(k.resolved_at.type().copy(nullable=True))
        ),
        first_response_ts=k.first_response_at,
        first_response_hours=(epoch_seconds(conn, k.first_response_at) - opened).cast("float64")
        / 3600,
        reopened_ts=k.first_reopened_at,
    )


def leads(conn: Connection) -> Table:
    lead = conn.table("crm_lead")
    return lead.select(
        lead=lead.id,
        customer=lead.customer_id,
        ts=lead.created_at,
        converted_ts=lead.converted_at,
        lost_ts=lead.lost_at,
        channel=lead.source,
        department_id=lead.department_id,
        salesperson_id=lead.owner_id,
    )


def employees(conn: Connection) -> Table:
    e = conn.table("crm_employee")
    return e.select(
        employee=e.id,
        ts=e.hired_at.cast("timestamp"),
        left_ts=e.left_at.cast("timestamp"),
        department_id=e.department_id,
    )


def engagement(conn: Connection) -> Table:
    a = conn.table("crm_engagementanswer")
    e = conn.table("crm_employee")
    e = e.select(emp_id=e.id, department_id=e.department_id)
    t = a.join(e, a.employee_id == e.emp_id, how="inner")
    return t.select(
        answer=t.id,
        employee=t.employee_id,
        ts=t.answered_at,
        rating=t.rating.cast("float64"),
        department_id=t.department_id,
    )
