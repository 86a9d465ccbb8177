"""The customer profile's pre-aggregated order lines (metrics.profile_cube): on the default
engine the profile reads them, and gives exactly what the order lines themselves give, for
every kind of view; a new version of the columnar mirror writes its own; a version without
one gets it from the first profile.

The company is tests/profile_data.py's plus one order that puts two tiers in one category
and one tier in two categories, so every order count of the cube is used:

| order | customer | day        | channel | lines                   |
| ----- | -------- | ---------- | ------- | ----------------------- |
| O7    | P4       | 2026-04-01 | retail  | DEV 10, PRM 30, ACC 5   |
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import ibis
import pytest

from crm_scorecard.accounts.models import Department
from crm_scorecard.crm import models as m
from crm_scorecard.metrics import profile, profile_cube, sources
from crm_scorecard.metrics.api import customer_profile, engine_for
from crm_scorecard.metrics.connect import connect

from . import profile_data

SINCE, UNTIL = profile_data.RANGE


@pytest.fixture(scope="module")
def company(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        org = profile_data.build()
        products = {p.sku: p for p in m.Product.objects.all()}
        order = m.Order.objects.create(
            external_id="O7",
            customer=m.Customer.objects.get(external_id="P4"),
            ordered_at=datetime(2026, 4, 1, 12, tzinfo=UTC),
            channel="retail",
        )
        for n, (sku, amount) in enumerate([("DEV", "10"), ("PRM", "30"), ("ACC", "5")], 1):
            m.OrderLine.objects.create(
                order=order, line_no=n, product=products[sku], amount=Decimal(amount)
            )
    yield org
    with django_db_blocker.unblock():
        profile_data.clear()


def table(p) -> dict[tuple[str, ...], tuple[int, int, float, int]]:
    return {r.values: (r.customers, r.active_customers, r.revenue, r.orders) for r in p.rows}


def both(engine, monkeypatch, **view):
    """The view read from the cube, then from the order lines, on the same engine."""
    cube = profile_query(engine, **view)
    monkeypatch.setattr(profile, "USE_CUBE", False)
    raw = profile_query(engine, **view)
    monkeypatch.setattr(profile, "USE_CUBE", True)
    return cube, raw


def profile_query(engine, **view):
    return table(customer_profile(engine=engine, **view))


@pytest.mark.django_db
def test_the_default_engine_reads_the_cube(company, db):
    # Given the default engine over the mirror
    with engine_for(engine="auto") as engine:
        # Then the mirror's version holds the cube, and a profile reads it
        name = profile._cube(engine, engine.registry.model, ("region",), ())
        assert name == profile_cube.table_name()
        assert (engine.conn.parquet / f"{name}.parquet").exists()
        # and a salesperson (a name, not counted in the cube) reads it too, grouping per
        # customer
        assert profile._cube(engine, engine.registry.model, ("salesperson",), ()) == name
    # while the app database reads the order lines
    with engine_for(engine="app") as engine:
        assert profile._cube(engine, engine.registry.model, ("region",), ()) is None


@pytest.mark.django_db
def test_every_order_count_is_exact(company, db, monkeypatch):
    # Given O7 (DEV 10 standard and PRM 30 premium in Devices, ACC 5 standard)
    with engine_for(engine="auto") as engine:
        # When profiled by category over all dates: O7 counts once in each category
        by_category = both(engine, monkeypatch, by=["product_category"])
        # by tier: once in each tier
        by_tier = both(engine, monkeypatch, by=["product_tier"])
        # by region: once
        by_region = both(engine, monkeypatch, by=["region"])
    # Then Devices: P1 (O1 100, O2 200), P2 (O3 500), P5 (O5 150), P4 (O7 10 + 30);
    # Accessories: P1 (O2 20), P3 (O4 40), P2 (O6 60), P4 (O7 5)
    expected = {
        ("Devices",): (4, 4, 990.0, 5),
        ("Accessories",): (4, 4, 125.0, 4),
    }
    assert by_category == (expected, expected)
    # standard: O1, O2, O4, O5, O6, O7 of P1, P3, P5, P2, P4; premium: O3 (P2), O7 (P4)
    expected = {
        ("standard",): (5, 5, 585.0, 6),
        ("premium",): (2, 2, 530.0, 2),
    }
    assert by_tier == (expected, expected)
    # North: P1, P2, P4 with O1, O2, O3, O6, O7; South: P3, P5 with O4, O5
    expected = {
        ("North",): (3, 3, 925.0, 5),
        ("South",): (2, 2, 190.0, 2),
    }
    assert by_region == (expected, expected)


DIMENSIONS = [
    "department",
    "region",
    "city",
    "age_bracket",
    "segment",
    "rfm_segment",
    "product_category",
    "product_tier",
    "channel",
    "salesperson",
]
PAIRS = [
    ("department", "product_category"),
    ("age_bracket", "channel"),
    ("product_category", "product_tier"),
    ("region", "salesperson"),
    ("rfm_segment", "product_tier"),
    ("segment", "department"),
    ("channel", "product_tier"),
    ("city", "age_bracket"),
]
FILTERS = [
    {},
    {"country": "DE"},
    {"channel": "online"},
    {"product_category": "Devices"},
    {"department": "Sales"},
]
RANGES = [
    {},
    {"since": SINCE, "until": UNTIL},
    {"since": date(2026, 1, 10)},
    {"until": date(2026, 2, 5)},
    {"since": date(2026, 2, 6), "until": date(2026, 2, 27)},  # no order at all
]


@pytest.mark.django_db
def test_the_cube_and_the_order_lines_agree_on_every_view(company, db, monkeypatch):
    # Given the default engine, when every one and two dimensions are profiled with each
    # filter and range (the ranges start and end on order days, and one holds none)
    views = [[d] for d in DIMENSIONS] + [list(p) for p in PAIRS]
    checked = 0
    with engine_for(engine="auto") as engine:
        for by, filters, dates in itertools.product(views, FILTERS, RANGES):
            if set(filters) & set(by) or (filters and len(dates) == 1):
                continue
            cube, raw = both(engine, monkeypatch, by=by, filters=filters, **dates)
            # Then the cube gives exactly the order lines' figures
            assert cube == raw, (by, filters, dates)
            checked += bool(raw)
    assert checked > 200  # most views have rows: the comparison is not of empty answers


@pytest.mark.django_db
def test_a_version_without_a_cube_gets_one_from_the_first_profile(company, db):
    # Given a mirror version whose cube is gone (one written before the cube, say)
    with engine_for(engine="auto") as engine:
        cube = engine.conn.parquet / f"{profile_cube.table_name()}.parquet"
        written = profile_cube.files(engine.conn.parquet)
        assert written[0] == cube
        for gone in written:
            gone.unlink()
        # When the company is profiled
        rows = table(customer_profile(engine=engine, by=["region"]))
        # Then the cube and the totals beside it are written again, complete, and read
        assert all(f.exists() for f in written)
        for f in written:  # no temporary file left
            assert not list(cube.parent.glob(f".{f.name}.*"))
        assert rows == {("North",): (3, 3, 925.0, 5), ("South",): (2, 2, 190.0, 2)}


def test_a_new_mirror_version_writes_its_own_cube(company, django_db_blocker):
    # (outside a test transaction: the mirror copies what is committed)
    with django_db_blocker.unblock():
        rebuilt(company)


def rebuilt(company) -> None:
    # Given the cube of the mirror as it stands
    with engine_for(engine="auto") as engine:
        before = engine.conn.parquet / f"{profile_cube.table_name()}.parquet"
        revenue = table(customer_profile(engine=engine, by=["region"]))
    assert before.exists()
    assert revenue[("South",)] == (2, 2, 190.0, 2)
    # When an order line is added (P5's O5 gets ACC 7) and the mirror brought up to date
    order = m.Order.objects.get(external_id="O5")
    line = m.OrderLine.objects.create(
        order=order, line_no=2, product=m.Product.objects.get(sku="ACC"), amount=Decimal("7")
    )
    try:
        with engine_for(engine="auto") as engine:
            after = engine.conn.parquet / f"{profile_cube.table_name()}.parquet"
            rows = table(customer_profile(engine=engine, by=["region"]))
        # Then the new version has a cube of its own, with the new line in it
        assert after.parent != before.parent
        assert rows[("South",)] == (2, 2, 197.0, 2)
    finally:
        line.delete()


def test_the_cube_is_reused_until_its_inputs_change(company, django_db_blocker):
    # (outside a test transaction: the mirror copies what is committed)
    with django_db_blocker.unblock():
        reused_then_rewritten()


def reused_then_rewritten() -> None:
    # Given the cube of the mirror as it stands, its version pinned while it is looked at
    with engine_for(engine="auto") as first:
        cube = first.conn.parquet / f"{profile_cube.table_name()}.parquet"
        assert table(customer_profile(engine=first, by=["region"]))[("South",)] == (2, 2, 190.0, 2)
        # When a table the cube is not computed from changes (a new department) and the
        # mirror is brought up to date
        department = Department.objects.create(name="Cube Reuse")
        try:
            with engine_for(engine="auto") as second:
                linked = second.conn.parquet / f"{profile_cube.table_name()}.parquet"
                # Then the new version reads the same file, not one written again
                assert linked.parent != cube.parent
                assert linked.stat().st_ino == cube.stat().st_ino
                # and the same totals beside it
                inodes = [f.stat().st_ino for f in profile_cube.files(cube.parent)]
                assert [f.stat().st_ino for f in profile_cube.files(linked.parent)] == inodes
                # When an order line is added (P5's O5 gets ACC 7) and the mirror brought
                # up to date
                order = m.Order.objects.get(external_id="O5")
                line = m.OrderLine.objects.create(
                    order=order,
                    line_no=2,
                    product=m.Product.objects.get(sku="ACC"),
                    amount=Decimal("7"),
                )
                try:
                    with engine_for(engine="auto") as third:
                        written = third.conn.parquet / f"{profile_cube.table_name()}.parquet"
                        rows = table(customer_profile(engine=third, by=["region"]))
                    # Then its version has a cube written for it, with the new line in it
                    assert written.parent not in (cube.parent, linked.parent)
                    assert written.stat().st_ino != linked.stat().st_ino
                    # and totals of its own (each file written anew)
                    rewritten = [f.stat().st_ino for f in profile_cube.files(written.parent)]
                    assert not set(rewritten) & set(inodes)
                    assert rows[("South",)] == (2, 2, 197.0, 2)
                finally:
                    line.delete()
        finally:
            department.delete()


def test_the_age_bracket_from_date_comparisons_is_the_engines_own():
    # Given every birth date from 1950 to 2010 and reference days around birthdays and
    # leap days (the cube compares dates rather than working out each age)
    births = ibis.memtable(
        {"birth": [date(1950, 1, 1) + timedelta(days=n) for n in range(22_280)] + [None]},
        schema={"birth": "date"},
    )
    days = [date(2026, 6, 30), date(2028, 2, 29), date(2027, 2, 28), date(2027, 3, 1)]
    backend = ibis.duckdb.connect()
    for day in days:
        # When both bracket every birth date on that day
        noon = ibis.literal(datetime.combine(day, time(12)), type="timestamp")
        both_ways = births.select(
            births.birth,
            compared=profile.age_bracket_on(day, births.birth),
            engine=sources.age_bracket(noon, births.birth),
        )
        rows = backend.execute(both_ways)
        # Then they agree on every one (the unknown birth date has no bracket)
        differ = rows[rows.compared.fillna("-") != rows.engine.fillna("-")]
        assert differ.empty, (day, differ.head())
        assert rows.compared.isna().sum() == 1
    # and by hand: on 29 February 2028, one born 28 February 2003 has turned 25, one born
    # 1 March 2003 has not; on 28 February 2027, one born 29 February 2002... is not a date,
    # so one born 28 February 2002 has turned 25 and one born 1 March 2002 has not
    assert bracket(date(2028, 2, 29), date(2003, 2, 28)) == "25-34"
    assert bracket(date(2028, 2, 29), date(2003, 3, 1)) == "under 25"
    assert bracket(date(2027, 2, 28), date(2002, 2, 28)) == "25-34"
    assert bracket(date(2027, 2, 28), date(2002, 3, 1)) == "under 25"
    assert bracket(date(2026, 6, 30), date(1961, 6, 30)) == "65+"
    assert bracket(date(2026, 6, 30), date(1961, 7, 1)) == "55-64"


def bracket(day: date, birth: date) -> str:
    return str(ibis.duckdb.connect().execute(profile.age_bracket_on(day, ibis.literal(birth))))


@pytest.mark.django_db
def test_the_age_bracket_at_its_edges_on_the_app_database():
    # Given events on and around birthdays that cross a bracket's limit, leap days, an
    # event before the birth and an unknown birth date
    cases = [
        (datetime(2026, 5, 10, 12), date(2001, 5, 10), "25-34"),  # turns 25 that day
        (datetime(2026, 5, 9, 23, 59), date(2001, 5, 10), "under 25"),  # the day before
        (datetime(2028, 2, 29, 12), date(2003, 2, 28), "25-34"),
        (datetime(2028, 2, 29, 12), date(2003, 3, 1), "under 25"),
        (datetime(2029, 2, 28, 12), date(2004, 2, 29), "under 25"),  # no 29 Feb in 2029
        (datetime(2029, 3, 1, 0, 0), date(2004, 2, 29), "25-34"),
        (datetime(2026, 6, 30, 12), date(1961, 6, 30), "65+"),
        (datetime(2026, 6, 30, 12), date(1961, 7, 1), "55-64"),
        (datetime(2020, 1, 1, 12), date(2021, 6, 1), "under 25"),  # before the birth
        (datetime(2026, 1, 1, 12), None, None),
    ]
    events = ibis.memtable(
        {"n": list(range(len(cases))), "ts": [c[0] for c in cases], "birth": [c[1] for c in cases]},
        schema={"n": "int64", "ts": "timestamp", "birth": "date"},
    )
    # When the app database's engine (SQLite or PostgreSQL) brackets them
    conn = connect("app")
    try:
        got = conn.backend.execute(
            events.select(events.n, b=sources.age_bracket(events.ts, events.birth)).order_by("n")
        )
    finally:
        conn.close()
    # Then each is in the bracket of its age that day
    assert [None if b is None or b != b else b for b in got.b] == [c[2] for c in cases]
