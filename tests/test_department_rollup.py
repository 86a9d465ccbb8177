"""A department breakdown worked out on each record's own department and added up the tree
(what adds up: sums, counts, means, distinct counts of what is in one department) gives
each subtree's numbers, the same as joining every record to each department above its own;
what does not add up (a median, customers served by several departments) keeps the join.

The company (January to March 2026), three levels deep:
  R-Group > R-Sales > R-East, R-Group > R-Sales > R-West, R-Group > R-Service
  customers: e1, e2 (R-East), w1 (R-West), s1 (R-Sales itself), v1 (R-Service)
  orders:    Jan e1 100, e2 40, w1 50, s1 10;  Feb e1 200 and 20, w1 30, v1 500;  Mar e2 60
  complaints resolved in January: R-East 10 h and 20 h, R-West 4 h, R-Sales 7 h,
             R-Service 100 h; one of R-West's opened in February and still open
  visits in February: e1 by R-East and by R-Service
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm_scorecard.accounts.models import Department
from crm_scorecard.crm import models as m
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine
from crm_scorecard.metrics.kinds import Aggregate, Request

pytestmark = pytest.mark.django_db
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
ENGINES = ["app", "duckdb"]

# metric -> department -> January, February, March (None: no data)
EXPECTED: dict[str, dict[str, list[float | None]]] = {
    # a sum
    "revenue": {
        "R-East": [140, 220, 60],
        "R-West": [50, 30, 0],
        "R-Sales": [200, 250, 60],  # the children's and its own (s1's 10)
        "R-Service": [0, 500, 0],
        "R-Group": [200, 750, 60],
    },
    # a distinct count of customers, each in one department: e1 ordered twice in February
    "active_customers": {
        "R-East": [2, 1, 1],
        "R-West": [1, 1, 0],
        "R-Sales": [4, 2, 1],
        "R-Service": [0, 1, 0],
        "R-Group": [4, 3, 1],
    },
    # a ratio: the subtree's revenue over its orders, not its children's average
    # (R-Sales in February: 250 / 3, where R-East's 110 and R-West's 30 average 70)
    "average_order_value": {
        "R-East": [70, 110, 60],
        "R-West": [50, 30, None],
        "R-Sales": [50, 250 / 3, 60],
        "R-Service": [None, 500, None],
        "R-Group": [50, 187.5, 60],
    },
    # a mean of the handle time of calls: R-East's two calls (300, 200) and R-Service's (400)
    # (contacts cover January and February alone: March is absent)
    "average_handle_time": {
        "R-East": [250, None],
        "R-Sales": [250, None],
        "R-Service": [None, 400],
        "R-Group": [250, 400],
    },
}
# Visited customers are not each in one department: e1 was visited by R-East and R-Service
# in February, and is one visited customer for R-Group, not two (R-West visited no one ever).
VISITED_IN_FEBRUARY = {"R-East": 1, "R-Sales": 1, "R-Service": 1, "R-Group": 1}
# A median over the subtree's complaints resolved in January (not the children's medians):
# R-Sales median(10, 20, 4, 7) = 8.5; R-Group median(4, 7, 10, 20, 100) = 10
MEDIAN_IN_JANUARY = {"R-East": 15, "R-West": 4, "R-Sales": 8.5, "R-Service": 100, "R-Group": 10}


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture(scope="module")
def tree(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        group = Department.objects.create(name="R-Group")
        sales = Department.objects.create(name="R-Sales", parent=group)
        east = Department.objects.create(name="R-East", parent=sales)
        west = Department.objects.create(name="R-West", parent=sales)
        service = Department.objects.create(name="R-Service", parent=group)
        people = {
            key: m.Customer.objects.create(
                external_id=f"R{key}", full_name=key, department=dept, region=region
            )
            for key, dept, region in [
                ("e1", east, "North"),
                ("e2", east, "South"),
                ("w1", west, "North"),
                ("s1", sales, "South"),
                ("v1", service, "North"),
            ]
        }
        std = m.Product.objects.create(sku="R-STD", name="Std", category="Devices", tier="standard")
        prem = m.Product.objects.create(
            sku="R-PREM", name="Prem", category="Devices", tier="premium"
        )
        acc = m.Product.objects.create(
            sku="R-ACC", name="Acc", category="Accessories", tier="standard"
        )
        seller = m.Employee.objects.create(
            external_id="RE1", full_name="R Seller", department=east, hired_at=date(2020, 1, 1)
        )
        leaver = m.Employee.objects.create(
            external_id="RE2",
            full_name="R Leaver",
            department=west,
            hired_at=date(2025, 6, 1),
            left_at=date(2026, 2, 10),
        )
        agent = m.Employee.objects.create(
            external_id="RA1", full_name="R Agent", department=service, hired_at=date(2026, 1, 15)
        )
        for n, (who, day, amount, product) in enumerate(
            [
                ("e1", "2026-01-10", "100", std),
                ("e2", "2026-01-11", "40", std),
                ("w1", "2026-01-12", "50", std),
                ("s1", "2026-01-13", "10", acc),
                ("e1", "2026-02-10", "200", prem),
                ("e1", "2026-02-11", "20", acc),
                ("w1", "2026-02-12", "30", std),
                ("v1", "2026-02-13", "500", std),
                ("e2", "2026-03-10", "60", acc),
            ]
        ):
            order = m.Order.objects.create(
                external_id=f"RO{n}",
                customer=people[who],
                ordered_at=at(day),
                salesperson=seller,
                channel="online",
            )
            m.OrderLine.objects.create(
                order=order, line_no=1, product=product, amount=Decimal(amount)
            )
        for n, (who, dept, hours) in enumerate(
            [
                ("e1", east, 10),
                ("e2", east, 20),
                ("w1", west, 4),
                ("s1", sales, 7),
                ("v1", service, 100),
            ]
        ):
            opened = at("2026-01-05", 0)
            m.Complaint.objects.create(
                external_id=f"RK{n}",
                customer=people[who],
                category="billing",
                department=dept,
                opened_at=opened,
                resolved_at=opened + timedelta(hours=hours),
                first_response_at=opened + timedelta(hours=1),
            )
        m.Complaint.objects.create(
            external_id="RK9",
            customer=people["v1"],
            category="service",
            severity="low",
            department=west,
            opened_at=at("2026-02-25"),
        )
        for n, (who, dept, channel, when, wait, handle, resolved) in enumerate(
            [
                ("e1", east, "call", at("2026-01-02"), 60, 300, True),
                ("e1", east, "call", at("2026-01-05"), 30, 200, False),
                ("w1", west, "email", at("2026-01-20"), None, 100, True),
                ("e1", east, "visit", at("2026-02-10"), None, 1800, True),
                ("e1", service, "visit", at("2026-02-12"), None, None, None),
                ("v1", service, "call", at("2026-02-25"), 90, 400, True),
            ]
        ):
            m.Interaction.objects.create(
                external_id=f"RI{n}",
                customer=people[who],
                agent=agent,
                department=dept,
                channel=channel,
                started_at=when,
                wait_seconds=wait,
                handle_seconds=handle,
                topic_count=1,
                resolved_first_contact=resolved,
            )
        for n, (who, day, rating, recommend) in enumerate(
            [("e1", "2026-01-15", 5, 10), ("w1", "2026-01-20", 3, 6), ("v1", "2026-02-10", 4, 9)]
        ):
            m.Feedback.objects.create(
                external_id=f"RF{n}",
                customer=people[who],
                submitted_at=at(day),
                rating=rating,
                recommend=recommend,
            )
        for n, (dept, created, converted) in enumerate(
            [
                (east, "2026-01-05", "2026-01-20"),
                (west, "2026-01-10", None),
                (sales, "2026-02-01", "2026-03-03"),
            ]
        ):
            m.Lead.objects.create(
                external_id=f"RL{n}",
                created_at=at(created),
                converted_at=at(converted) if converted else None,
                department=dept,
                owner=seller,
            )
        for employee, day, rating in [
            (seller, "2026-01-10", 4),
            (agent, "2026-01-20", 5),
            (leaver, "2026-02-01", 2),
        ]:
            m.EngagementAnswer.objects.create(employee=employee, answered_at=at(day), rating=rating)
    yield
    with django_db_blocker.unblock():
        m.EngagementAnswer.objects.filter(employee__external_id__startswith="R").delete()
        m.Lead.objects.filter(external_id__startswith="RL").delete()
        m.Feedback.objects.filter(external_id__startswith="RF").delete()
        m.Interaction.objects.filter(external_id__startswith="RI").delete()
        m.ComplaintEvent.objects.filter(complaint__external_id__startswith="RK").delete()
        m.Complaint.objects.filter(external_id__startswith="RK").delete()
        m.OrderLine.objects.filter(order__external_id__startswith="RO").delete()
        m.Order.objects.filter(external_id__startswith="RO").delete()
        m.Customer.objects.filter(external_id__startswith="R").delete()
        m.Employee.objects.filter(external_id__in=["RE1", "RE2", "RA1"]).delete()
        m.Product.objects.filter(sku__startswith="R-").delete()
        for name in ("R-East", "R-West", "R-Sales", "R-Service", "R-Group"):
            Department.objects.filter(name=name).delete()


def _by_department(rows, dept: str) -> list[float | None]:
    return [v for _, d, v in rows if d == dept]


@pytest.mark.parametrize("choice", ENGINES)
def test_subtree_values_added_up_the_tree_are_the_hand_computed_ones(tree, choice):
    # Given the engine over the three-level company
    with Engine(connect(choice), registry()) as engine:
        for key, departments in EXPECTED.items():
            # Then a sum, a distinct count and a mean are added up the tree (a ratio: the
            # two it is made of)
            metric = registry().get(key)
            for part in metric.inputs() or (key,):
                assert engine.rolls_up(registry().get(part), Request(by="department")), part
            # When broken down by department
            rows = engine.compute(key, by="department", since=JAN, until=MAR)
            # Then each department's series is its subtree's, worked out by hand
            for dept, expected in departments.items():
                got = _by_department(rows, dept)
                assert got == pytest.approx(expected, abs=1e-9), (key, dept)


@pytest.mark.parametrize("choice", ENGINES)
def test_what_does_not_add_up_is_worked_out_on_the_subtree_records(tree, choice):
    with Engine(connect(choice), registry()) as engine:
        # Given a median and a distinct count of customers several departments serve
        for key in ("complaint_resolution_hours", "visiting_customers"):
            # Then they are not added up the tree
            assert not engine.rolls_up(registry().get(key), Request(by="department")), key
        # When broken down by department, then each is its subtree's, worked out by hand
        rows = engine.compute("complaint_resolution_hours", by="department", since=JAN, until=JAN)
        assert {d: v for _, d, v in rows} == pytest.approx(MEDIAN_IN_JANUARY, abs=1e-9)
        rows = engine.compute("visiting_customers", by="department", since=FEB, until=FEB)
        assert {d: v for _, d, v in rows} == VISITED_IN_FEBRUARY


@pytest.mark.parametrize("choice", ENGINES)
def test_distinct_salespeople_by_department_count_each_once_per_subtree(tree, choice, monkeypatch):
    # Given the one salesperson, who sold to customers of R-East, R-West, R-Sales itself
    # and R-Service (R-Sales' four orders in January are one salesperson, not four)
    asked = []
    original = Aggregate._tree_distinct

    def spy(self, engine, request):
        asked.append(self.key)
        return original(self, engine, request)

    monkeypatch.setattr(Aggregate, "_tree_distinct", spy)
    with Engine(connect(choice), registry()) as engine:
        assert not engine.rolls_up(registry().get("active_salespeople"), Request(by="department"))
        # When the active salespeople are broken down by department
        rows = engine.compute("active_salespeople", by="department", since=JAN, until=MAR)
        # Then each subtree counts them once a month
        expected = {
            "R-East": [1, 1, 1],
            "R-West": [1, 1, 0],
            "R-Sales": [1, 1, 1],
            "R-Service": [0, 1, 0],
            "R-Group": [1, 1, 1],
        }
        for dept, values in expected.items():
            assert _by_department(rows, dept) == values, dept
    # And on DuckDB off the distinct salespeople of each department's own orders, joined
    # to the tree (elsewhere every order is)
    assert asked == (["active_salespeople"] if engine.conn.name == "duckdb" else [])


@pytest.mark.parametrize("choice", ENGINES)
def test_every_metric_by_department_is_the_same_as_the_tree_join(tree, choice):
    # Given one engine joining every record to each department above its own, one adding
    # each department's own numbers up the tree metric by metric, and one doing so for
    # each source's aggregates in one query (as `compute` does)
    keys = [metric.key for metric in registry() if metric.kind != "manual"]
    with (
        Engine(connect(choice), registry(), roll_up=False) as joined,
        Engine(connect(choice), registry()) as alone,
        Engine(connect(choice), registry(), materialise=True) as together,
    ):
        together.prefetch(keys, by="department")
        rolled = [k for k in keys if alone.rolls_up(registry().get(k), Request(by="department"))]
        assert len(rolled) >= 30
        compared = 0
        for key in keys:
            # When each metric is broken down by department, overall and for calls only
            for filters in ({}, {"channel": "call"}):
                try:
                    want = joined.compute(key, by="department", filters=filters)
                except Exception as exc:  # a source without channels: refused the same way
                    with pytest.raises(type(exc)):
                        alone.compute(key, by="department", filters=filters)
                    continue
                # Then the periods, departments and values are the same
                for engine in (alone, together):
                    got = engine.compute(key, by="department", filters=filters)
                    assert [(p, d) for p, d, _ in got] == [(p, d) for p, d, _ in want], key
                    assert [v for *_, v in got] == pytest.approx([v for *_, v in want], abs=1e-9), (
                        key,
                        filters,
                    )
                compared += bool(want)
        assert compared >= 60


# The contacts' aggregates by department, January and February (contacts end in February),
# by hand from the six contacts above: e1's two calls in January (waits 60, 30; resolved
# once) and w1's e-mail (resolved), R-East's and R-Service's visits to e1 in February (the
# second not resolved), v1's call in February (wait 90, resolved).
CONTACTS_BY_DEPARTMENT: dict[str, dict[str, list[float | None]]] = {
    "interactions": {
        "R-East": [2, 1],
        "R-West": [1, 0],
        "R-Sales": [3, 1],
        "R-Service": [0, 2],
        "R-Group": [3, 3],
    },
    # (R-West, which never called nor visited, has no series of them)
    "calls": {"R-East": [2, 0], "R-Sales": [2, 0], "R-Service": [0, 1], "R-Group": [2, 1]},
    "visits": {"R-East": [0, 1], "R-Service": [0, 1], "R-Group": [0, 2]},
    # A mean over calls alone: no call in a month is no data, not 0
    "average_wait_time": {
        "R-East": [45, None],
        "R-Sales": [45, None],
        "R-Service": [None, 90],
        "R-Group": [45, 90],
    },
    # A mean over every contact, unfiltered: R-Sales in January (1 + 0 + 1) / 3
    "first_contact_resolution_rate": {
        "R-East": [0.5, 1],
        "R-West": [1, None],
        "R-Sales": [2 / 3, 1],
        "R-Service": [None, 0.5],
        "R-Group": [2 / 3, 2 / 3],
    },
}


@pytest.mark.parametrize("choice", ENGINES)
def test_contacts_batch_is_grouped_by_channel_and_added_up_where_each_filter_holds(tree, choice):
    # Given the contacts' aggregates computed together, as `compute` does: calls and visits
    # filtered by channel, the others not
    keys = list(CONTACTS_BY_DEPARTMENT)
    with Engine(connect(choice), registry(), materialise=True) as engine:
        metrics = [registry().get(key) for key in keys]
        t = engine.table("interactions", Request(by="department_id"))
        # Then the batch is grouped by the one column its filters read, the channel
        assert Aggregate._split_by(engine, metrics, t, ["p", "department_id"]) == "channel"
        # (and not where a distinct count is among them: a customer called and visited
        # is one visited customer, not one per channel)
        mixed = [*metrics, registry().get("visiting_customers")]
        assert Aggregate._split_by(engine, mixed, t, ["p", "department_id"]) is None
        # When broken down by department
        engine.prefetch(keys, by="department")
        for key, departments in CONTACTS_BY_DEPARTMENT.items():
            rows = engine.compute(key, by="department", since=JAN, until=FEB)
            # Then each department's subtree has the hand-computed values, no data kept
            for dept, expected in departments.items():
                assert _by_department(rows, dept) == pytest.approx(expected, abs=1e-9), (key, dept)
            if key in ("calls", "visits", "average_wait_time"):
                assert not _by_department(rows, "R-West"), key


@pytest.mark.parametrize("choice", ENGINES)
def test_a_filtered_distinct_count_or_percentile_is_batched_with_its_own_rows_on_duckdb(
    tree, choice
):
    # Given a batch of the contacts' aggregates: two filtered by channel that are neither
    # sums nor counts (the visited customers, the 90th-percentile wait)
    keys = ["interactions", "calls", "visits", "visiting_customers", "wait_time_p90"]
    with Engine(connect(choice), registry(), materialise=True) as engine:
        metrics = [registry().get(key) for key in keys]
        # Then on DuckDB each runs with the aggregates filtered the same way alone, the
        # rest in a query of their own; elsewhere they are one batch
        groups = [[m.key for m in group] for group in Aggregate.apart(engine, metrics)]
        if engine.conn.name == "duckdb":
            assert groups == [
                ["visits", "visiting_customers"],
                ["calls", "wait_time_p90"],
                ["interactions"],
            ]
        else:
            assert groups == [keys]
        # And the company's values are the hand-computed ones, January and February: the
        # waits 60 and 30 (30 + 0.9 * 30 = 57), then 90; e1 visited twice in February
        engine.prefetch(keys)
        expected = {
            "interactions": [3, 3],
            "calls": [2, 1],
            "visits": [0, 2],
            "visiting_customers": [0, 1],
            "wait_time_p90": [57, 90],
        }
        for key, values in expected.items():
            got = [v for *_, v in engine.compute(key, since=JAN, until=FEB)]
            assert got == pytest.approx(values, abs=1e-9), key


# The 90th percentile and the median of the contacts' handle seconds, by department:
# January R-East 200, 300 and R-West 100 (R-Sales and R-Group: 100, 200, 300); February
# R-East 1800 (a visit), R-Service 400 (R-Group: 400, 1800; the other visit has none).
# The value at rank (n - 1) * q, between the two ranks around it: R-East in January
# 200 + 0.9 * 100 = 290; R-Sales 0.9 * 2 = 1.8, 200 + 0.8 * 100 = 280; R-Group in February
# 400 + 0.9 * 1400 = 1660; the medians 250, 200 and 1100.
HANDLE_BY_DEPARTMENT = {
    0.9: {
        "R-East": [290, 1800],
        "R-West": [100, None],
        "R-Sales": [280, 1800],
        "R-Service": [None, 400],
        "R-Group": [280, 1660],
    },
    0.5: {
        "R-East": [250, 1800],
        "R-West": [100, None],
        "R-Sales": [200, 1800],
        "R-Service": [None, 400],
        "R-Group": [200, 1100],
    },
}


@pytest.mark.parametrize("choice", ENGINES)
def test_a_percentile_of_whole_numbers_by_department_is_the_subtree_s(tree, choice, monkeypatch):
    # Given the 90th percentile and the median of the contacts' handle seconds (whole
    # numbers)
    reg = registry()
    for key, agg, q in [("handle_p90", "percentile", 0.9), ("handle_median", "median", None)]:
        reg.add(
            Aggregate(
                key=key,
                name=key,
                meaning="test",
                unit="seconds",
                source="interactions",
                agg=agg,
                quantile=q,
                column="handle_seconds",
            )
        )
    counted = []
    original = Aggregate._counted_quantile

    def spy(self, engine, request):
        counted.append((self.key, request.by))
        return original(self, engine, request)

    monkeypatch.setattr(Aggregate, "_counted_quantile", spy)
    with Engine(connect(choice), reg, materialise=True) as engine:
        for key, q in [("handle_p90", 0.9), ("handle_median", 0.5)]:
            # When broken down by department, and for the company
            rows = engine.compute(key, by="department", since=JAN, until=FEB)
            company = [v for *_, v in engine.compute(key, since=JAN, until=FEB)]
            # Then each department's is its subtree's, interpolated between the ranks
            for dept, expected in HANDLE_BY_DEPARTMENT[q].items():
                assert _by_department(rows, dept) == pytest.approx(expected, abs=1e-9), (key, dept)
            assert company == pytest.approx(HANDLE_BY_DEPARTMENT[q]["R-Group"], abs=1e-9), key
        # And on DuckDB it was read off the rows counted by value (elsewhere the database's
        # own), counted once for the company and the departments
        counts = [key for key in engine._shared if key[0] == "counted"]
    if engine.conn.name == "duckdb":
        assert set(counted) == {
            (key, by) for key in ("handle_p90", "handle_median") for by in ("department", None)
        }
        assert sorted(key[1] for key in counts) == ["handle_median", "handle_p90"]
    else:
        assert counted == []


WIDE = ("order", "channel", "salesperson_id", "line", "quantity")


@pytest.mark.parametrize("choice", ENGINES)
def test_a_run_leaves_out_of_the_order_lines_the_columns_no_metric_reads(tree, choice):
    # Given a run of the built-in metrics (materialising its sources): none reads the order
    # lines' own ids, quantity, channel or salesperson
    with Engine(connect(choice), registry(), materialise=True) as engine:
        assert engine.unread("order_lines") == WIDE
        # When the revenue is computed by department
        rows = engine.compute("revenue", by="department", since=JAN, until=MAR)
        # Then it is the hand-computed one, read off a table without those columns (where
        # the engine materialises: DuckDB and PostgreSQL)
        for dept, expected in EXPECTED["revenue"].items():
            assert _by_department(rows, dept) == pytest.approx(expected), dept
        columns = engine.table("order_lines", Request()).columns
        materialised = engine.conn.name in ("duckdb", "postgres")
        assert not set(WIDE) & set(columns) if materialised else set(WIDE) <= set(columns)
        # And a breakdown by salesperson and a filter by channel still read them: every
        # order was R Seller's, online (January 200, February 750, March 60)
        by_seller = engine.compute("revenue", by="salesperson", since=JAN, until=MAR)
        assert [(d, v) for _, d, v in by_seller] == [
            ("R Seller", 200),
            ("R Seller", 750),
            ("R Seller", 60),
        ]
        online = engine.compute("revenue", filters={"channel": "online"}, since=JAN, until=MAR)
        assert [v for *_, v in online] == [200, 750, 60]


@pytest.mark.parametrize("choice", ENGINES)
def test_a_metric_reading_a_wide_column_keeps_it_in_the_run(tree, choice):
    # Given the built-in metrics and two of a metrics file's: the units sold (the lines'
    # quantity, 1 each) and the revenue of orders online (a filter on the order's channel)
    from crm_scorecard.metrics.engine import Registry

    units = Aggregate(
        key="units_sold", name="Units", meaning="Units sold.", source="order_lines", agg="sum",
        column="quantity",
    )  # fmt: skip
    online = Aggregate(
        key="online_revenue", name="Online revenue", meaning="Revenue online.",
        source="order_lines", agg="sum", column="amount", where=lambda t: t.channel == "online",
    )  # fmt: skip
    with Engine(
        connect(choice), Registry([*registry(), units, online]), materialise=True
    ) as engine:
        # Then the run keeps the quantity and the channel, leaves out the rest
        assert engine.unread("order_lines") == ("order", "salesperson_id", "line")
        # And both are the hand-computed ones: January 4 lines, 200; February 4, 750;
        # March 1, 60
        engine.prefetch(["units_sold", "online_revenue", "revenue"])
        got = [v for *_, v in engine.compute("units_sold", since=JAN, until=MAR)]
        assert got == pytest.approx([4, 4, 1])
        got = [v for *_, v in engine.compute("online_revenue", since=JAN, until=MAR)]
        assert got == pytest.approx([200, 750, 60])


@pytest.mark.parametrize("choice", ENGINES)
def test_a_run_gives_each_order_lines_metric_by_each_dimension_as_one_metric_alone(tree, choice):
    # Given a run (its order lines' table without the columns no metric reads) and an
    # engine computing one metric at a time (every column)
    reg = registry()
    keys = [m.key for m in reg if m.source_name(reg) == "order_lines"]
    dims = [d.name for d in reg.model.source("order_lines").dimensions]
    assert {"revenue", "cross_sell_customers", "upsell_rate"} <= set(keys)
    with (
        Engine(connect(choice), reg) as alone,
        Engine(connect(choice), reg, materialise=True) as run,
    ):
        run.prefetch(keys)
        # Then the cross-sold customers by salesperson are e1's accessories in February
        # and e2's in March, both R Seller's (a history matched to the lines by
        # salesperson: the lines keep the salesperson's id)
        got = run.compute("cross_sell_customers", by="salesperson", since=JAN, until=MAR)
        assert [(d, v) for _, d, v in got] == [("R Seller", 0), ("R Seller", 1), ("R Seller", 1)]
        # And every metric of the order lines by every dimension is the same in both
        for key in keys:
            for by in [None, *dims]:
                try:
                    want = alone.compute(key, by=by)
                except Exception as exc:  # a breakdown the source has no data for
                    with pytest.raises(type(exc)):
                        run.compute(key, by=by)
                    continue
                got = run.compute(key, by=by)
                assert [(p, d) for p, d, _ in got] == [(p, d) for p, d, _ in want], (key, by)
                assert [v for *_, v in got] == pytest.approx([v for *_, v in want]), (key, by)
