"""Live breakdowns by a customer's region, city or age bracket read the customer's values
(the birth date's for the age bracket) from lookups kept with the mirror's connection
(`sources.customer_columns`), not from a join to every customer: the numbers are the
join's, gaps in the customer ids and customers with no region or birth date included,
and a filter by a value no customer has finds nothing rather than failing.

The company (February 2026): L1 (North, Åre, born 1990-05-10) buys 100 on 5 February
and 20 on 20 February; L2 (no region, no city, no birth date) buys 50; L3 (a region with
markup in it, born 2000-12-31) buys 30. L1 answers one survey (rating 5) on 7 February. A customer made between L1 and L2 was deleted (a
gap in the ids)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from crm_scorecard.accounts.models import Department
from crm_scorecard.crm import models as m
from crm_scorecard.metrics import sources
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine
from crm_scorecard.metrics.live import live_connection, live_forget
from crm_scorecard.metrics.mirror import mirror_sync

from .metrics_data import at

FEB, FEB_END = date(2026, 2, 1), date(2026, 2, 28)
MARKUP = "Sud <b>&'\""


@pytest.fixture(scope="module")
def company(django_db_setup, django_db_blocker, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mirror")
    with django_db_blocker.unblock():
        dept = Department.objects.create(name="L-Look")
        product = m.Product.objects.create(sku="L-STD", name="Std", category="D", tier="standard")

        def customer(code: str, **fields: object) -> m.Customer:
            return m.Customer.objects.create(
                external_id=code, full_name=code, department=dept, **fields
            )

        l1 = customer("L1", region="North", city="Åre", birth_date=date(1990, 5, 10))
        customer("L-GAP", region="Gone").delete()
        l2 = customer("L2")
        l3 = customer("L3", region=MARKUP, birth_date=date(2000, 12, 31))
        for n, (who, day, amount) in enumerate(
            [
                (l1, "2026-02-05", "100"),
                (l2, "2026-02-10", "50"),
                (l3, "2026-02-12", "30"),
                (l1, "2026-02-20", "20"),
            ]
        ):
            order = m.Order.objects.create(
                external_id=f"LO{n}", customer=who, ordered_at=at(day, 12), channel="online"
            )
            m.OrderLine.objects.create(
                order=order, line_no=1, product=product, amount=Decimal(amount)
            )
        m.Feedback.objects.create(customer=l1, submitted_at=at("2026-02-07", 9), rating=5)
        mirror_sync(folder)
    yield folder
    live_forget()
    with django_db_blocker.unblock():
        m.OrderLine.objects.filter(order__external_id__startswith="LO").delete()
        m.Order.objects.filter(external_id__startswith="LO").delete()
        m.Feedback.objects.filter(customer__external_id__startswith="L").delete()
        m.Customer.objects.filter(external_id__startswith="L").delete()
        m.Product.objects.filter(sku="L-STD").delete()
        Department.objects.filter(name="L-Look").delete()


@pytest.fixture
def live(company, monkeypatch):
    monkeypatch.setenv("METRICS_ENGINE", "auto")
    monkeypatch.setenv("METRICS_MIRROR", str(company))
    live_forget()
    yield
    live_forget()


def _feb(rows):
    return sorted((d, v) for p, d, v in rows if p == FEB)


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["region", "city", "age_bracket"])
def test_a_live_breakdown_by_a_customer_column_reads_lookups_with_the_joins_numbers(live, by):
    # Given the app database's engine joining each order to its customer
    want = _feb(Engine(connect("app"), registry()).compute("revenue", by=by))
    # When the live connection breaks February's revenue down by the customer's column
    with live_connection() as conn:
        got = _feb(
            Engine(conn, registry(), narrow=True).compute(
                "revenue", by=by, since=FEB, until=FEB_END
            )
        )
        # Then it read the customer's column from a lookup made on the connection (the
        # age bracket, the birth date's)
        assert ("lookup", "birth_date" if by == "age_bracket" else by) in conn.snapshot
    # And the numbers are the join's, the customer with none of it included
    assert got == want
    assert sum(v for _, v in got) == 200


@pytest.mark.django_db
def test_the_lookups_numbers_by_hand(live):
    with live_connection() as conn:
        engine = Engine(conn, registry(), narrow=True)
        # When February's revenue is broken down by region and by age bracket
        region = _feb(engine.compute("revenue", by="region", since=FEB, until=FEB_END))
        ages = dict(_feb(engine.compute("revenue", by="age_bracket", since=FEB, until=FEB_END)))
    # Then L1's two orders are North's, L3's is the markup region's, as text
    assert ("North", 120) in region and (MARKUP, 30) in region
    assert "Gone" not in [d for d, _ in region]  # the deleted customer's gap is empty
    # And the age is at the time of the order: L1 is 35, L3 25 (born 2000-12-31)
    assert ages["35-44"] == 120 and ages["25-34"] == 30


@pytest.mark.django_db
def test_a_filter_by_a_value_no_customer_has_finds_nothing(live):
    with live_connection() as conn:
        engine = Engine(conn, registry(), narrow=True)
        rows = engine.compute("revenue", filters={"region": "Nowhere"}, since=FEB, until=FEB_END)
        north = engine.compute("revenue", filters={"region": "North"}, since=FEB, until=FEB_END)
    assert [v for p, _, v in rows if p == FEB] in ([], [0], [None])
    assert [v for p, _, v in north if p == FEB] == [120]


def _app_and_live(key: str, by: str, lookup: str) -> tuple[list, list, bool]:
    """February's `key` by `by` from the app database (a join to the customers) and from
    the live connection, and whether the live connection made the lookup of `lookup`."""
    want = _feb(Engine(connect("app"), registry()).compute(key, by=by))
    with live_connection() as conn:
        engine = Engine(conn, registry(), narrow=True)
        got = _feb(engine.compute(key, by=by, since=FEB, until=FEB_END))
        made = ("lookup", lookup) in conn.snapshot
    return want, got, made


@pytest.mark.django_db
def test_customer_ids_too_sparse_for_a_list_are_joined(live, monkeypatch):
    # Given lookups allowed only for ids no higher than the number of customers' 0 times
    monkeypatch.setattr(sources, "LOOKUP_SPREAD", 0)
    monkeypatch.setattr(sources, "LOOKUP_SHORT", 0)
    # When the live connection breaks February's revenue down by region
    want, got, made = _app_and_live("revenue", "region", "region")
    # Then no lookup was made, and the join gave the same numbers
    assert not made
    assert got == want


@pytest.mark.django_db
def test_a_source_with_fewer_rows_than_customers_reads_the_lookups_too(live):
    # Given the company's feedback: one answer (fewer rows than its three customers)
    # When the live connection breaks February's rated answers down by region
    want, got, made = _app_and_live("rated_feedback", "region", "region")
    # Then the answers' regions were looked up (a join would read every customer), with
    # the join's numbers
    assert made
    assert got == want
    assert ("North", 1) in got


@pytest.mark.django_db
def test_birth_dates_outside_the_lists_days_are_joined(live, monkeypatch):
    # Given a birth-date list that would start after L1's birth (1990-05-10)
    monkeypatch.setattr(sources, "BIRTHS_FROM", "1995-01-01")
    # When the live connection breaks February's revenue down by age bracket
    want, got, made = _app_and_live("revenue", "age_bracket", "birth_date")
    # Then no list of birth dates was made, and the join gave the same numbers
    assert not made
    assert got == want
    assert ("35-44", 120) in got and ("25-34", 30) in got
