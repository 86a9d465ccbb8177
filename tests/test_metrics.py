"""Every KPI of the catalogue on a tiny company, each number worked out by hand
(see tests/metrics_data.py for the records; January to March 2026)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from crm_scorecard.metrics import definitions
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import MetricError
from crm_scorecard.metrics.semantic import MODEL, Sources
from crm_scorecard.metrics.sources import UnknownColumn

from . import metrics_data

pytestmark = pytest.mark.django_db

JAN, MAR = date(2026, 1, 1), date(2026, 3, 1)
# What only PostgreSQL has (its planner, privileges, statistics objects) is tested in the
# PostgreSQL pass of the suite.
postgres_only = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="PostgreSQL only: runs in the PostgreSQL pass of the suite",
)
ENGINES = ["app", "duckdb"]

# metric -> values for January, February, March (None: no data; missing months: not covered)
EXPECTED: dict[str, list[float | None]] = {
    # orders: Jan MO1 c1 100, MO2 c2 50+30; Feb MO3 c1 300 (premium), MO4 c3 70; Mar MO5 c1 20 (accessory), MO6 c2 40
    "revenue": [180, 370, 60],
    "orders": [2, 2, 2],
    "active_customers": [2, 2, 2],
    "new_customers": [2, 1, 0],  # c1, c2 in Jan; c3 in Feb
    "repeat_customers": [0, 1, 2],  # Feb c1; Mar c1, c2
    "average_order_value": [90, 185, 30],
    "revenue_per_customer": [90, 185, 30],
    "purchase_frequency": [1, 1, 1],
    "repeat_purchase_rate": [0, 0.5, 1],
    "retention_rate": [
        None,
        0.5,
        0.5,
    ],  # Jan has no covered previous month; Feb {c1,c2}->{c1}; Mar {c1,c3}->{c1}
    "churn_rate": [None, 0.5, 0.5],
    "upsell_customers": [0, 1, 0],  # c1's first premium in Feb after a standard order in Jan
    "upsell_rate": [None, 1.0, 0.0],  # over repeat customers: Jan 0 -> no data
    "cross_sell_customers": [
        0,
        0,
        1,
    ],  # c1's first accessory in Mar; c2 bought both in its first month
    "cross_sell_rate": [None, 0.0, 0.5],
    "leads": [3, 1, 0],
    "lead_conversion_rate": [
        1 / 3,
        1.0,
        None,
    ],  # ML1 in 15 days yes, ML2 in 50 days no, ML3 lost; ML4 in exactly 30 days yes
    "active_salespeople": [2, 1, 2],
    "revenue_per_salesperson": [90, 370, 30],
    "new_customers_per_salesperson": [1, 1, 0],
    "repeat_customers_per_salesperson": [0, 1, 1],
    # contacts: Jan MI1 call, MI2 call 3 days later, MI3 email; Feb MI4 visit, MI5 visit 10 days later, MI6 call
    "interactions": [3, 3],
    "calls": [2, 1],
    "average_handle_time": [250, 400],  # (300 + 200) / 2; 400
    "average_hold_time": [10, 40],
    "average_wait_time": [45, 90],
    "wait_time_p90": [57, 90],  # Jan waits 30, 60: 30 + 0.9 * (60 - 30); Feb 90 alone
    "first_contact_resolution_rate": [2 / 3, 2 / 3],  # MI1, MI3 of 3; MI4, MI6 of 3 (MI5 unknown)
    "repeat_contact_rate": [1 / 3, 0],  # MI1 followed by MI2 within 7 days
    "topics_per_contact": [4 / 3, 2],
    "visits": [0, 2],
    "visiting_customers": [0, 1],
    "visits_per_customer": [None, 2],
    # feedback: Jan 5/10, 3/6, -/8; Feb 4/9
    "rated_feedback": [2, 1],
    "satisfied_feedback": [1, 1],
    "csat": [0.5, 1.0],
    "average_rating": [4.0, 4.0],
    "nps_answers": [3, 1],
    "promoters": [1, 1],
    "detractors": [1, 0],
    "nps": [0.0, 100.0],  # (1 - 1) / 3; (1 - 0) / 1
    # complaints: MK1 Jan 24 h; MK2 Jan -> Feb 5 (384 h); MK3 Feb open; MK4 Feb 36 h 1.8 s
    "complaints": [2, 2],
    "complaints_per_1000_customers": [1000, 1000],
    # median of 384 and 36.0005 (1.8 s = 0.0005 h), by month resolved
    "complaint_resolution_hours": [24, 210.00025],
    "open_complaints": [1, 1],  # MK2 at the end of Jan; MK3 at the end of Feb
    # service level: MK1 critical 4 h (took 24 h: late); MK2 medium 72 h, due Jan 23 (late);
    # MK3 low 168 h, due Mar 4; MK4 medium (36 h: in time). By month resolved: Jan MK1;
    # Feb MK2, MK4
    "complaints_resolved_in_time": [0.0, 0.5],
    # end of Jan: MK2 (MK1 was overdue from Jan 10 04:00 until resolved on the 11th);
    # end of Feb: MK3 open but due in March
    "overdue_complaints": [1, 0],
    "reopened_complaints": [0, 1],  # MK2 first reopened on Feb 1
    # first responses: Jan MK1 2 h, MK2 6 h; Feb MK3 3 h, MK4 6 h
    "first_response_hours": [4.0, 4.5],
    # employees: ME1 since 2020; ME2 2025-06 to 2026-02-10; MA1 from 2026-01-15
    "employees_left": [0, 1, 0],
    "headcount": [2, 3, 2],
    "employee_turnover_rate": [0, 1 / 3, 0],
    "employee_engagement": [4.5, None, 2.0],
    # customer value, as of 2026-02-20 (February only): c1 high 500 expected / 400 so far,
    # c2 at risk 20 / 80, c3 low 40 / 70
    "expected_customer_value": [560],
    "customer_base_revenue": [550],
    "value_at_risk": [80],
    "value_at_risk_share": [80 / 550],
}


OPEN: list[Engine] = []


@pytest.fixture(autouse=True)
def _close_engines():
    # Each engine holds its own database connection; close them so the test database can be dropped.
    yield
    while OPEN:
        OPEN.pop().close()


def Engine(*args, **kwargs):
    from crm_scorecard.metrics.engine import Engine as RealEngine

    engine = RealEngine(*args, **kwargs)
    OPEN.append(engine)
    return engine


@pytest.fixture(scope="module")
def company(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        departments = metrics_data.build()
    yield departments
    with django_db_blocker.unblock():
        metrics_data.clear()


def series(engine: Engine, key: str, **kwargs) -> list[float | None]:
    return [v for _, _, v in engine.compute(key, since=JAN, until=MAR, **kwargs)]


@pytest.mark.parametrize("choice", ENGINES)
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_catalogue_metric(company, choice, key):
    # Given the tiny company, when the metric is computed monthly
    got = series(Engine(connect(choice), registry()), key)
    # Then it equals the hand-computed values
    assert got == pytest.approx(EXPECTED[key], abs=1e-9)


def test_every_builtin_metric_has_a_hand_computed_test():
    assert {m.key for m in registry()} == set(EXPECTED)


@pytest.fixture(scope="module")
def parquet_folder(company, tmp_path_factory, django_db_blocker):
    import io

    from django.core.management import call_command

    folder = tmp_path_factory.mktemp("parquet")
    with django_db_blocker.unblock():
        call_command("export-parquet", str(folder), "--no-progress", stdout=io.StringIO())
    return folder


@pytest.mark.parametrize("other", ["duckdb", "parquet", "spark"])
def test_engines_agree_on_the_whole_catalogue(company, parquet_folder, other):
    # Given the app database engine (SQLite or PostgreSQL, building its joined sources into
    # tables of their own as `compute` does) and another engine over the same data:
    # DuckDB attached to the app database, DuckDB over the Parquet export, Spark over it
    choice = other if other == "duckdb" else f"{other}:{parquet_folder}"
    app, them = (
        Engine(connect("app"), registry(), materialise=True),
        Engine(connect(choice), registry(), materialise=True),
    )
    assert them.conn.name == ("pyspark" if other == "spark" else "duckdb")
    # (the other engine, too, builds its joined sources into tables and computes each
    # source's aggregates together, as `compute` does; the hand-computed tests above cover
    # each engine without either)
    for by in (None, "region"):
        them.prefetch([m.key for m in registry()], by=by)
    # When every metric is computed overall and by region on both, then the numbers match within 1e-9
    compared = 0
    for metric in registry():
        for by in (None, "region"):
            try:
                a = app.compute(metric.key, by=by, since=JAN, until=MAR)
            except UnknownColumn:
                with pytest.raises(UnknownColumn):
                    them.compute(metric.key, by=by, since=JAN, until=MAR)
                continue
            b = them.compute(metric.key, by=by, since=JAN, until=MAR)
            compared += 1
            assert [(p, d) for p, d, _ in a] == [(p, d) for p, d, _ in b], metric.key
            assert [v for *_, v in a] == pytest.approx([v for *_, v in b], abs=1e-9), metric.key
    assert compared > 80


@pytest.mark.parametrize("choice", ENGINES)
def test_history_metrics_by_department_add_up_to_the_whole(company, choice):
    # Given the history metrics, which read a whole company's figures off first purchases
    # and a breakdown's off each period's purchases; every customer is in one department
    engine = Engine(connect(choice), registry())
    for key in ("new_customers", "repeat_customers", "upsell_customers", "cross_sell_customers"):
        whole = {p: v for p, _, v in engine.compute(key)}
        # When they are broken down by department
        parts: dict = {}
        for p, _, v in engine.compute(key, by="department"):
            parts[p] = parts.get(p, 0) + v
        # Then the departments add up to the whole, month by month
        assert parts == whole, key
        assert sum(whole.values()) > 0, key


@pytest.mark.parametrize("choice", ENGINES)
def test_a_whole_companys_new_customers_are_read_off_first_purchases_alone(company, choice):
    # Given the tiny company (c1, c2 new in January, c3 in February)
    engine = Engine(connect(choice), registry())
    # When the whole company's new customers are computed
    got = series(engine, "new_customers")
    # Then each customer counts in their first month, read off first purchases with no
    # table of who bought when; so does a breakdown by department (each customer's first
    # purchase with its own department) and by region (the customer's region looked up:
    # c1 and c2, North and South, in January; c3, North, in February)
    assert got == EXPECTED["new_customers"]
    assert not [key for key in engine._shared if key[0] == "active"]
    engine.compute("new_customers", by="department")
    assert not [key for key in engine._shared if key[0] == "active"]
    rows = engine.compute("new_customers", by="region")
    assert [(p.month, d, v) for p, d, v in rows] == [
        (1, "North", 1),
        (1, "South", 1),
        (2, "North", 1),
        (2, "South", 0),
        (3, "North", 0),
        (3, "South", 0),
    ]
    assert not [key for key in engine._shared if key[0] == "active"]
    # And a breakdown by age bracket, the customer's age at the time, still reads one
    engine.compute("new_customers", by="age_bracket")
    assert [key for key in engine._shared if key[0] == "active"]


@pytest.mark.parametrize("choice", ENGINES)
@pytest.mark.parametrize("span", [False, True])
def test_histories_by_a_customers_own_value_band_are_read_off_first_purchases(
    company, choice, span
):
    # Given the customers' value bands (c1 high, c2 at risk, c3 low), a value of the
    # customer whenever the event happened, whether the whole history or some months are
    # asked for
    engine = Engine(connect(choice), registry(), narrow=span)

    def by_band(key: str) -> dict[str, list[float | None]]:
        rows = engine.compute(key, by="value_band", since=JAN, until=MAR)
        return {
            band: [v for _, d, v in rows if d == band] for band in sorted({d for _, d, _ in rows})
        }

    # When the new, up-sold and cross-sold customers are broken down by it
    # Then each customer counts in its own band: c1 and c2 new in January, c3 in
    # February; c1's first premium purchase in February; c1's first accessory in March
    assert by_band("new_customers") == {
        "at_risk": [1, 0, 0],
        "high": [1, 0, 0],
        "low": [0, 1, 0],
    }
    assert by_band("upsell_customers") == {"high": [0, 1, 0]}
    assert by_band("cross_sell_customers") == {"high": [0, 0, 1]}
    # And none of them read a table of who bought when, as by age bracket they must
    assert not [key for key in engine._shared if key[0] == "active"]


@pytest.mark.parametrize("choice", ENGINES)
def test_aggregates_computed_together_equal_one_at_a_time(company, choice):
    # Given one engine computing each metric on its own, and one computing each source's
    # aggregates in one query (the channel breakdown tests filters such as "calls only":
    # a channel without calls has no handle time at all, not a null one)
    keys = [m.key for m in registry()]
    alone = Engine(connect(choice), registry())
    together = Engine(connect(choice), registry())
    compared = 0
    for by in (None, "department", "channel", "age_bracket"):
        together.prefetch(keys, by=by)
        batched = {k for (k, request) in together._series if request.by == by}
        assert len(batched) >= 12, by  # (PostgreSQL runs distinct counts on their own)
        for key in sorted(batched):
            # When both answer, then the periods, dimension values and numbers are the same
            assert together.compute(key, by=by) == alone.compute(key, by=by), (key, by)
            compared += 1
    assert compared >= 48


@pytest.mark.parametrize("choice", ENGINES)
def test_breakdowns_fill_zero_and_name_unknowns(company, choice):
    engine = Engine(connect(choice), registry())
    # Given revenue by product category: Feb had no accessory sale, which is a real 0
    rows = engine.compute("revenue", by="product_category", since=JAN, until=MAR)
    assert [(p.month, d, v) for p, d, v in rows] == [
        (1, "Accessories", 30),
        (1, "Devices", 150),
        (2, "Accessories", 0),
        (2, "Devices", 370),
        (3, "Accessories", 20),
        (3, "Devices", 40),
    ]
    # And by age bracket at the time of purchase: c1 born 1990-05-01 is 35, c2 born 1960 is 66,
    # c3 has no birth date
    rows = engine.compute(
        "revenue", by="age_bracket", since=date(2026, 2, 1), until=date(2026, 2, 1)
    )
    assert [(d, v) for _, d, v in rows] == [("(unknown)", 70), ("35-44", 300), ("65+", 0)]


@pytest.mark.parametrize("choice", ENGINES)
def test_a_formula_by_region_counts_what_a_region_lacks_as_zero(company, choice):
    # Given the net promoter score, (promoters - detractors) / answers * 100, by region:
    # January, North (c1, c3) answered 10 and 8, South (c2) 6; February, c1 (North) 9.
    # North never had a detractor, so it has no row of detractors at all
    engine = Engine(connect(choice), registry())
    rows = engine.compute("nps", by="region", since=JAN, until=date(2026, 2, 1))
    # Then North's detractors count as 0, not as no data; a region that answered nothing
    # in a month has no score (South in February: no data, not 0)
    assert [(p.month, d, v) for p, d, v in rows] == [
        (1, "North", pytest.approx(50.0)),  # (1 - 0) / 2
        (1, "South", pytest.approx(-100.0)),  # (0 - 1) / 1
        (2, "North", pytest.approx(100.0)),  # (1 - 0) / 1
        (2, "South", None),  # no answers
    ]


@pytest.mark.parametrize("choice", ENGINES)
def test_a_period_range_gives_the_numbers_of_the_whole_history(company, choice):
    # Given one engine computing every metric over the whole history, and one asked for
    # February alone (what a page showing one month asks)
    keys = [m.key for m in registry() if m.kind != "manual"]
    whole = Engine(connect(choice), registry())
    ranged = Engine(connect(choice), registry())
    feb, compared = date(2026, 2, 1), 0
    for by in (None, "region"):
        for key in keys:
            # Then each metric's February is the same, overall and by region
            try:
                want = [row for row in whole.compute(key, by=by) if row[0] == feb]
            except UnknownColumn:  # (employees have no region: refused either way)
                with pytest.raises(UnknownColumn):
                    ranged.compute(key, by=by, since=feb, until=feb)
                continue
            assert ranged.compute(key, by=by, since=feb, until=feb) == want, (key, by)
            compared += bool(want)
    assert compared >= 40


@pytest.mark.parametrize("choice", ENGINES)
def test_what_is_open_at_the_end_of_some_months_is_read_from_what_was_open_then(company, choice):
    # Given an engine reading only the months asked for (what a page or the API asks)
    narrow = Engine(connect(choice), registry(), narrow=True)
    OPEN.append(narrow)
    feb = date(2026, 2, 1)
    # When the open complaints of January and February are asked for together
    rows = narrow.compute("open_complaints", by="region", since=JAN, until=date(2026, 2, 28))
    # Then each month's end counts what stood open then: MK2 (South) at the end of January
    # (resolved Feb 5), MK3 (North) at the end of February (opened Feb 25, never resolved);
    # MK1 and MK4 were resolved in the month they opened; North is 0 in January, not missing
    assert rows == [(JAN, "North", 0), (JAN, "South", 1), (feb, "North", 1), (feb, "South", 0)]
    # And overdue: MK2 from its due time, Jan 23, until Feb 5; MK3, due in March, never
    rows = narrow.compute("overdue_complaints", by="region", since=JAN, until=date(2026, 2, 28))
    assert rows == [(JAN, "North", 0), (JAN, "South", 1), (feb, "North", 0), (feb, "South", 0)]
    # And February alone, for the company and by department (M-Service's, all four)
    assert narrow.compute("open_complaints", since=feb, until=feb) == [(feb, None, 1)]
    assert narrow.compute("open_complaints", by="department", since=feb, until=feb) == [
        (feb, "M-Service", 1)
    ]
    # (each read for those months alone, not the whole history's)
    spans = {r.span for k, r in narrow._series if k in ("open_complaints", "overdue_complaints")}
    assert None not in spans and len(spans) == 2


@pytest.mark.parametrize("choice", ENGINES)
def test_filters_and_grains(company, choice):
    engine = Engine(connect(choice), registry())
    # Given a filter on region North: c1 and c3
    assert series(engine, "revenue", filters={"region": "North"}) == [100, 370, 20]
    # Quarter: 180 + 370 + 60
    assert [v for _, _, v in engine.compute("revenue", grain="quarter")] == [610]
    # Week of Monday 2026-01-05 holds MO1 (Saturday 10th)
    weeks = {
        p: v
        for p, _, v in engine.compute(
            "revenue", grain="week", since=date(2026, 1, 5), until=date(2026, 1, 19)
        )
    }
    assert weeks == {date(2026, 1, 5): 100, date(2026, 1, 12): 0, date(2026, 1, 19): 50 + 30}
    days = {
        p: v
        for p, _, v in engine.compute(
            "orders", grain="day", since=date(2026, 1, 10), until=date(2026, 1, 11)
        )
    }
    assert days == {date(2026, 1, 10): 1, date(2026, 1, 11): 0}


@pytest.mark.parametrize("choice", ENGINES)
def test_department_scope_is_applied_inside_the_engine(company, choice):
    # Given an engine scoped to Sales (customers c1 and c2)
    engine = Engine(connect(choice), registry(), departments={company["sales"].pk})
    # Then revenue leaves out c3's February order, and Service's contacts are invisible
    assert series(engine, "revenue") == [180, 300, 60]
    assert series(engine, "interactions") == []
    # And an empty scope sees nothing at all
    assert series(Engine(connect(choice), registry(), departments=set()), "revenue") == []


def test_unknown_dimension_and_breakdown_are_refused(company):
    engine = Engine(connect("app"), registry())
    with pytest.raises(MetricError, match="unknown dimension 'planet'"):
        engine.compute("revenue", by="planet")
    with pytest.raises(UnknownColumn, match="cannot be broken down by agent"):
        engine.compute("revenue", by="agent")


def test_declared_source_columns_match_the_sources(company):
    # Given each source as the semantic model declares it (what checks metric files)
    conn = connect("duckdb")
    sources = Sources(conn, model=MODEL)
    try:
        for name, source in MODEL.sources.items():
            # When it is built, alone and with every dimension
            core = sources.get(name).columns
            whole = sources.get(name, MODEL.dimensions).columns
            # Then it has exactly the declared columns, and the declared dimensions on top
            assert set(core) == set(source.columns), name
            assert set(whole) == set(source.offers), name
            assert set(source.entities) <= set(source.columns), name
    finally:
        conn.close()


METRICS_FILE = """
metrics:
  - key: premium_revenue
    name: Premium revenue
    kind: aggregate
    source: order_lines
    agg: sum
    column: amount
    filter: {product_tier: premium}
  - key: premium_share
    kind: ratio
    numerator: premium_revenue
    denominator: revenue
  - key: premium_share_pct
    kind: derived
    expression: premium_share * 100
"""


def test_metric_file_adds_metrics(company, tmp_path):
    # Given a metrics file
    path = tmp_path / "metrics.yaml"
    path.write_text(METRICS_FILE)
    engine = Engine(connect("app"), definitions.registry(path))
    # Then premium revenue is 0, 300, 0 and its share of revenue 0, 300/370, 0
    assert series(engine, "premium_revenue") == [0, 300, 0]
    assert series(engine, "premium_share_pct") == pytest.approx([0, 30000 / 370, 0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- {key: x, kind: aggregate, source: orders, agg: sum, column: price}",
            "x: source orders has no column 'price'",
        ),
        (
            "- {key: x, kind: aggregate, source: orders, agg: percentile, column: customer, quantile: 90}",
            "x: percentile needs a quantile between 0 and 1 (0.9 for the 90th), got 90",
        ),
        (
            "- {key: x, kind: aggregate, source: orders, agg: median, column: customer, quantile: 0.5}",
            "x: quantile is only for agg: percentile",
        ),
        (
            "- {key: x, kind: ratio, numerator: revenue, denominator: nothing}",
            "metric 'x' uses unknown metric 'nothing'",
        ),
        (
            "- {key: a, kind: derived, expression: b + 1}\n  - {key: b, kind: derived, expression: a * 2}",
            "cycle between metrics: a -> b -> a",
        ),
        ("- {key: x, kind: magic}", "x: unknown kind 'magic'"),
        (
            "- {key: x, kind: aggregate, source: orders, agg: count, filter: {planet: Mars}}",
            "unknown dimension 'planet'",
        ),
        (
            "- {key: x, kind: derived, expression: __import__('os')}",
            "only + - * / numbers and metric keys",
        ),
        ("- {key: revenue, kind: manual}", "metric 'revenue' is declared twice"),
    ],
)
def test_metric_file_errors_are_clear(tmp_path, text, message):
    path = tmp_path / "metrics.yaml"
    path.write_text("metrics:\n  " + text + "\n")
    with pytest.raises(MetricError) as info:
        definitions.registry(path)
    assert message in str(info.value)


def test_metric_file_must_exist(tmp_path):
    with pytest.raises(MetricError, match="no such metrics file"):
        definitions.registry(Path(tmp_path / "none.yaml"))


DIMENSIONS_FILE = """
dimensions:
  - name: basket
    source: order_lines
    expression: "'large' if amount >= 100 else 'small'"
    meaning: Order lines of 100 or more.
  - name: home
    source: orders
    expression: "'home' if region == 'North' else 'away'"
metrics:
  - key: large_revenue
    kind: aggregate
    source: order_lines
    agg: sum
    column: amount
    filter: {basket: large}
"""


@pytest.mark.parametrize("choice", ENGINES)
def test_metric_file_adds_dimensions_to_sources(company, tmp_path, choice):
    # Given a metrics file adding a basket size to order lines, a home region to orders
    # (read off the customer's region, a joined dimension) and a metric filtering on one
    path = tmp_path / "metrics.yaml"
    path.write_text(DIMENSIONS_FILE)
    engine = Engine(connect(choice), definitions.registry(path))
    # When revenue is broken down by basket, orders by home, and the new metric computed
    by_basket = engine.compute("revenue", by="basket")
    by_home = engine.compute("orders", by="home")
    # Then lines of 100 and more are large: Jan MO1 100 | MO2 50 + 30; Feb MO3 300 | MO4 70;
    # Mar none | MO5 20 + MO6 40
    assert [(p.month, d, v) for p, d, v in by_basket] == [
        (1, "large", 100),
        (1, "small", 80),
        (2, "large", 300),
        (2, "small", 70),
        (3, "large", 0),
        (3, "small", 60),
    ]
    # And orders of North customers (c1, c3) are home: Jan MO1 | MO2; Feb MO3, MO4 |; Mar MO5 | MO6
    assert [(p.month, d, v) for p, d, v in by_home] == [
        (1, "away", 1),
        (1, "home", 1),
        (2, "away", 0),
        (2, "home", 2),
        (3, "away", 1),
        (3, "home", 1),
    ]
    assert series(engine, "large_revenue") == [100, 300, 0]
    # And a source without the dimension cannot be broken down by it
    with pytest.raises(UnknownColumn, match="cannot be broken down by basket"):
        engine.compute("interactions", by="basket")


@pytest.mark.parametrize("choice", ENGINES)
def test_retention_keeps_records_without_the_dimension_as_one_group(company, tmp_path, choice):
    # Given a dimension c1 lacks (null: c1 is 35-44) and c2, c3 have, and a country no
    # customer has (empty)
    path = tmp_path / "metrics.yaml"
    path.write_text(
        "dimensions:\n  - {name: grp, source: orders, "
        "expression: \"None if age_bracket == '35-44' else 'known'\"}\n"
    )
    engine = Engine(connect(choice), definitions.registry(path))
    # When retention is broken down by them
    by_grp = engine.compute("retention_rate", by="grp")
    by_country = engine.compute("retention_rate", by="country")
    # Then c1, unknown, came back in Feb and Mar (1 of 1); the known c2 (Jan) and c3
    # (Feb) did not (0 of 1); January has no previous month
    assert [(p.month, d, v) for p, d, v in by_grp] == [
        (1, "(unknown)", None),
        (1, "known", None),
        (2, "(unknown)", 1.0),
        (2, "known", 0.0),
        (3, "(unknown)", 1.0),
        (3, "known", 0.0),
    ]
    # And with no country at all, everyone is unknown: the company's 0.5 and 0.5
    assert [(p.month, d, v) for p, d, v in by_country] == [
        (1, "(unknown)", None),
        (2, "(unknown)", 0.5),
        (3, "(unknown)", 0.5),
    ]


def test_metrics_show_breaks_down_by_a_file_dimension(company, tmp_path, monkeypatch):
    import io
    import json

    from django.core.management import CommandError, call_command

    # Given no metrics file, `--by basket` is refused
    monkeypatch.delenv("METRICS_FILE", raising=False)
    with pytest.raises(CommandError, match="invalid choice: 'basket'"):
        call_command("metrics", "show", "revenue", "--by", "basket", "--engine", "app")
    # When METRICS_FILE declares the basket dimension
    path = tmp_path / "metrics.yaml"
    path.write_text(DIMENSIONS_FILE)
    monkeypatch.setenv("METRICS_FILE", str(path))
    out = io.StringIO()
    call_command(
        "metrics", "show", "revenue", "--by", "basket", "--engine", "app", "--json", stdout=out
    )
    # Then revenue is shown by basket: January's large line of 100 and small ones of 80
    points = json.loads(out.getvalue())
    january = {
        p["dimension_value"]: p["value"] for p in points if p["period_start"] == "2026-01-01"
    }
    assert january == {"large": 100, "small": 80}
    assert {p["dimension"] for p in points} == {"basket"}


def test_public_dimensions_add_the_file_ones_after_the_built_in(tmp_path, monkeypatch):
    from crm_scorecard.metrics.api import DIMENSIONS

    # Given no metrics file, the faces list the built-in dimensions, in their order
    monkeypatch.delenv("METRICS_FILE", raising=False)
    built_in = ["department", "region", "country", "city", "age_bracket", "segment"]
    built_in += ["acquisition_channel", "rfm_segment", "value_band"]
    built_in += ["product_category", "product_tier", "channel", "salesperson", "agent"]
    built_in += ["complaint_category", "voc_theme"]
    assert list(DIMENSIONS) == built_in
    assert "basket" not in DIMENSIONS
    # When METRICS_FILE adds two
    path = tmp_path / "metrics.yaml"
    path.write_text(DIMENSIONS_FILE)
    monkeypatch.setenv("METRICS_FILE", str(path))
    # Then they come after the built-in ones (in the order of their sources: orders, then
    # order lines), read when the list is used
    assert list(DIMENSIONS) == [*built_in, "home", "basket"]
    assert "basket" in DIMENSIONS
    assert len(DIMENSIONS) == 18


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{name: basket, source: order_lines, expression: amout >= 100}",
            "dimensions entry 1 (basket): dimension basket on order_lines: source order_lines "
            "has no column 'amout'; it has order, customer",
        ),
        (
            "{name: basket, source: order_lines, expression: 'amount >='}",
            "dimensions entry 1 (basket): dimension basket on order_lines: cannot read "
            "expression 'amount >='",
        ),
        (
            "{name: basket, source: order_lines, expression: \"__import__('os')\"}",
            "dimension basket on order_lines: unknown function in \"__import__('os')\"",
        ),
        (
            "{name: basket, source: order_lines, expression: amount.real}",
            "dimension basket on order_lines: attribute is not allowed in 'amount.real'",
        ),
        (
            "{name: basket, source: planets, expression: amount}",
            "dimensions entry 1 (basket): unknown source 'planets'; sources are orders,",
        ),
        (
            "{name: region, source: orders, expression: channel}",
            "dimensions entry 1 (region): source orders already has a column or dimension 'region'",
        ),
        (
            "{name: Basket Size, source: orders, expression: channel}",
            "dimension 'Basket Size': a name is lower-case letters, digits and _",
        ),
        (
            "{name: mine, source: orders, expression: department == 'x'}",
            "dimension mine on orders: an expression cannot read department",
        ),
        ("{name: basket, source: orders}", "dimensions entry 1 (basket): needs expression"),
        (
            "{name: basket, source: orders, expression: channel, colour: red}",
            "dimensions entry 1 (basket): unknown field(s) colour",
        ),
    ],
)
def test_metric_file_dimension_errors_are_clear(tmp_path, entry, message):
    # Given a metrics file with a bad dimension
    path = tmp_path / "metrics.yaml"
    path.write_text("dimensions:\n  - " + entry + "\n")
    # When it is loaded, then the error names the entry, the field and the reason
    with pytest.raises(MetricError) as info:
        definitions.registry(path)
    assert message in str(info.value)


def test_file_dimension_of_the_wrong_type_is_refused_when_computed(company, tmp_path):
    # Given a dimension lower-casing a number
    path = tmp_path / "metrics.yaml"
    path.write_text(
        "dimensions:\n  - {name: odd, source: order_lines, expression: lower(amount)}\n"
    )
    engine = Engine(connect("app"), definitions.registry(path))
    # When a metric is broken down by it, then the error names the dimension and expression
    with pytest.raises(
        MetricError, match=r"dimension odd on order_lines: cannot compute 'lower\(amount\)'"
    ):
        engine.compute("revenue", by="odd")


def test_compute_stores_values_idempotently_and_records_the_fill(company):
    import io

    from django.core.management import call_command

    from crm_scorecard.metrics.models import FillRun, KpiValue

    # Given the tiny company, when revenue and csat are computed twice for Q1
    for _ in range(2):
        call_command(
            "compute",
            "--metric",
            "revenue",
            "--metric",
            "csat",
            "--since",
            "2026-01",
            "--until",
            "2026-03",
            "--no-progress",
            stdout=io.StringIO(),
        )
    # Then each value is stored once: overall and per department
    overall = dict(
        KpiValue.objects.filter(metric="revenue", department=None, dimension="").values_list(
            "period_start", "value"
        )
    )
    assert overall == {JAN: 180, date(2026, 2, 1): 370, MAR: 60}
    by_dept = dict(
        KpiValue.objects.filter(
            metric="revenue", department__isnull=False, period_start=date(2026, 2, 1)
        ).values_list("department__name", "value")
    )
    assert by_dept == {"M-Sales": 300, "M-Service": 70}
    assert (
        KpiValue.objects.filter(metric="csat", department=None, dimension="").count() == 2
    )  # feedback covers Jan-Feb only
    assert KpiValue.objects.filter(metric="revenue").count() == 3 + 6
    # And each fill is recorded
    run = FillRun.objects.latest("started_at")
    assert (
        run.metrics == ["revenue", "csat"]
        and run.rows_written == 9 + 4
        and run.finished_at is not None
    )


def test_metrics_show_json_and_scope(company, tmp_path):
    import io
    import json

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.factories import UserFactory

    # Given a Sales agent
    UserFactory(username="m-agent", level="agent", departments=[company["sales"]])
    # When revenue is shown as JSON, for everyone and as the agent
    out = io.StringIO()
    call_command(
        "metrics",
        "show",
        "revenue",
        "--since",
        "2026-02",
        "--until",
        "2026-02",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue()) == [
        {"period_start": "2026-02-01", "dimension": None, "dimension_value": None, "value": 370.0}
    ]
    out = io.StringIO()
    call_command(
        "metrics",
        "show",
        "revenue",
        "--since",
        "2026-02",
        "--until",
        "2026-02",
        "--as",
        "m-agent",
        "--by",
        "region",
        "--json",
        stdout=out,
    )
    assert [(r["dimension_value"], r["value"]) for r in json.loads(out.getvalue())] == [
        ("North", 300.0),
        ("South", 0.0),
    ]
    # And a bad request says what is wrong
    with pytest.raises(CommandError, match="unknown metric 'revenu'"):
        call_command("metrics", "show", "revenu", stdout=io.StringIO())
    with pytest.raises(CommandError, match="DIMENSION=VALUE"):
        call_command("metrics", "show", "revenue", "--filter", "north", stdout=io.StringIO())


def test_metrics_list(company):
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command("metrics", "list", "--json", stdout=out)
    listed = {m["key"]: m for m in json.loads(out.getvalue())}
    assert set(listed) == set(EXPECTED)
    assert (
        listed["churn_rate"]["direction"] == "lower" and listed["churn_rate"]["kind"] == "derived"
    )


def test_export_parquet_then_compute_on_it(company, tmp_path):
    import io

    from django.core.management import call_command

    # Given the tables exported as Parquet
    call_command("export-parquet", str(tmp_path), "--no-progress", stdout=io.StringIO())
    # When DuckDB computes over the files, then the numbers are the same
    engine = Engine(connect(f"parquet:{tmp_path}"), registry())
    assert series(engine, "revenue") == [180, 370, 60]
    assert series(engine, "retention_rate") == pytest.approx([None, 0.5, 0.5])


@postgres_only
@pytest.mark.parametrize(
    "grain", ["month", "quarter", "year"]
)  # days and weeks: one per contact here
def test_postgres_planner_knows_how_many_periods(company, grain):
    # Given the app database analysed, with the period statistics the migration created
    import ibis
    from django.db import connection

    from crm_scorecard.metrics.kinds import Request

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_interaction")
    engine = Engine(connect("app"), registry())
    # When PostgreSQL plans the engine's own query grouping interactions by period
    t = engine.table("interactions", Request(grain=grain))
    query = ibis.to_sql(t.group_by("p").aggregate(n=t.count()), dialect="postgres")
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {query}")
        estimate = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
        cursor.execute("SELECT count(DISTINCT started_at) FROM crm_interaction")
        stamps = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM ({query}) q")
        periods = cursor.fetchone()[0]
    # Then it expects as many groups as there are periods, not one per timestamp
    assert stamps > periods  # else the test could not tell the two apart
    assert estimate == periods


@postgres_only
def test_postgres_work_tables_are_dropped(company):
    from django.db import connection

    from crm_scorecard.metrics.backends import WORK_PREFIX

    def work_tables() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE starts_with(tablename, %s)", [WORK_PREFIX]
            )
            return {row[0] for row in cursor.fetchall()}

    # Given a work table left behind by a server process that no longer exists
    orphan = f"{WORK_PREFIX}999999999_source_orders"
    other = connect("app")  # committed at once, unlike this test's own transaction
    other.backend.raw_sql(f'CREATE UNLOGGED TABLE "{orphan}" (x int)').close()
    other.close()
    assert orphan in work_tables()
    # When an engine materialises its sources
    engine = Engine(connect("app"), registry(), materialise=True)
    assert series(engine, "revenue") == EXPECTED["revenue"]
    # Then the orphan is gone, the engine's own tables exist while it is open...
    made = work_tables()
    assert orphan not in made
    assert any("source_order_lines" in name for name in made)
    # ...and are dropped when it closes
    engine.close()
    assert work_tables() == set()


@postgres_only
def test_postgres_user_who_may_not_create_tables_gets_temporary_ones(company):
    from django.db import connection

    from crm_scorecard.metrics.backends import WORK_PREFIX, Connection, postgres

    # Given a database user who may read the CRM tables but not create tables
    role = f"crm_metrics_reader_{connection.settings_dict['NAME'][-12:]}".lower()
    admin = connect("app")  # commits at once, unlike this test's own transaction

    def run(sql: str) -> None:
        admin.backend.raw_sql(sql).close()

    run(f'DROP ROLE IF EXISTS "{role}"')
    run(f'CREATE ROLE "{role}" LOGIN')
    run(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    try:
        reader = Connection(postgres({**connection.settings_dict, "USER": role, "PASSWORD": ""}))
        cursor = reader.backend.raw_sql("SELECT has_schema_privilege('public', 'CREATE')")
        assert cursor.fetchone()[0] is False
        cursor.close()
        # When that user's engine materialises its sources
        engine = Engine(reader, registry(), materialise=True)
        # Then the numbers are right, from temporary tables, not unlogged ones
        assert series(engine, "revenue") == EXPECTED["revenue"]
        assert series(engine, "new_customers") == EXPECTED["new_customers"]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_tables WHERE starts_with(tablename, %s)", [WORK_PREFIX]
            )
            assert cursor.fetchone()[0] == 0
        engine.close()
    finally:
        run(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
        run(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


@postgres_only
def test_postgres_period_statistics_are_dropped_and_made_again(company):
    # (inside this test's transaction: PostgreSQL rolls the statistics back afterwards)
    from django.db import connection

    from crm_scorecard.metrics.planner import create_statistics, drop_statistics, statistics

    def names() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT stxname FROM pg_statistic_ext WHERE starts_with(stxname, 'crm_period_')"
            )
            return {row[0] for row in cursor.fetchall()}

    # Given the migration's statistics, and one made from an expression no longer emitted
    assert names() == {name for name, _, _ in statistics()}
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE STATISTICS crm_period_order_ordered_at_old ON "
            "((EXTRACT(day FROM ordered_at))) FROM crm_order"
        )
        # When the migration is reversed, then every one of them is gone
        drop_statistics(cursor.execute)
        assert names() == set()
        # And when it is applied again, then the engine's are back
        create_statistics(cursor.execute)
    assert names() == {name for name, _, _ in statistics()}


def test_postgres_connection_string_keeps_awkward_passwords_and_options():
    import dj_database_url
    from psycopg.conninfo import conninfo_to_dict

    from crm_scorecard.metrics.backends import pg_conninfo

    # Given a DATABASE_URL whose password holds a space, quotes and a backslash, with
    # libpq options in its query string (and a Django-only option beside them)
    db = dj_database_url.parse(
        "postgres://me:it%27s%20a%20%22secret%22%5C@db.example:6543/crm"
        "?sslmode=require&application_name=crm%20metrics"
    )
    db["OPTIONS"]["isolation_level"] = 1
    # When the engine builds its libpq connection string
    info = pg_conninfo(db)
    # Then libpq reads every value back as given, and only libpq's options
    assert conninfo_to_dict(info) == {
        "host": "db.example",
        "port": "6543",
        "user": "me",
        "password": 'it\'s a "secret"\\',
        "dbname": "crm",
        "sslmode": "require",
        "application_name": "crm metrics",
    }


@postgres_only
@pytest.mark.parametrize("choice", ["app", "duckdb"])
def test_postgres_connections_honour_awkward_passwords_and_options(company, monkeypatch, choice):
    from django.db import connection

    # Given settings with a password holding quotes and a space (the test server trusts
    # local connections, so it is sent and ignored) and a libpq option
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", 'it\'s a "secret"')
    monkeypatch.setitem(
        connection.settings_dict,
        "OPTIONS",
        {**connection.settings_dict.get("OPTIONS", {}), "application_name": "crm metrics"},
    )
    # When the metrics connect to PostgreSQL (DuckDB: through its PostgreSQL scanner)
    conn = connect(choice)
    try:
        engine = Engine(conn, registry())
        # Then they connect and compute
        assert series(engine, "revenue") == EXPECTED["revenue"]
        if choice == "app":
            cursor = conn.backend.raw_sql("SELECT current_setting('application_name')")
            assert cursor.fetchone()[0] == "crm metrics"
            cursor.close()
    finally:
        conn.close()
