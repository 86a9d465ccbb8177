"""The history metrics (new, repeat, up-sold and cross-sold customers) count each customer
once a period, whether read off first purchases alone (the whole company) or off a
breakdown's or a filter's purchases, on every engine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm_scorecard.accounts.models import Department
from crm_scorecard.crm import models as m
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine

from .factories import CustomerFactory, DepartmentFactory, ProductFactory

JAN, MAR = date(2026, 1, 1), date(2026, 3, 1)
HISTORIES = ("new_customers", "repeat_customers", "upsell_customers", "cross_sell_customers")


@pytest.fixture
def shop(transactional_db) -> None:
    """c1 (North, Stores) buys a standard device in January, then in March an accessory
    and a service on one order: two categories new to it in one month. c2 (North, Stores)
    buys standard devices in January and February, then in March a premium device and an
    accessory. c3 (South, Phone sales) buys an accessory in February, its first order."""
    stores = DepartmentFactory(name="Stores")
    phone = DepartmentFactory(name="Phone sales")
    # (c1 is 35 all year; c2 turns 25 on 1 February; c3's birth date is not known)
    c1 = CustomerFactory(department=stores, region="North", birth_date=date(1990, 3, 15))
    c2 = CustomerFactory(department=stores, region="North", birth_date=date(2001, 2, 1))
    c3 = CustomerFactory(department=phone, region="South", birth_date=None)
    device = ProductFactory(category="Devices", tier="standard")
    premium = ProductFactory(category="Devices", tier="premium")
    accessory = ProductFactory(category="Accessories", tier="standard")
    service = ProductFactory(category="Services", tier="standard")
    orders = [
        (c1, 1, [device]),
        (c1, 3, [accessory, service]),
        (c2, 1, [device]),
        (c2, 2, [device]),
        (c2, 3, [premium, accessory]),
        (c3, 2, [accessory]),
    ]
    for n, (customer, month, products) in enumerate(orders):
        order = m.Order.objects.create(
            external_id=f"H-{n}",
            customer=customer,
            ordered_at=datetime(2026, month, 10, tzinfo=UTC),
            # c1's March order by phone, every other online
            channel="phone" if (customer, month) == (c1, 3) else "online",
        )
        for line, product in enumerate(products, start=1):
            m.OrderLine.objects.create(
                order=order, line_no=line, product=product, amount=Decimal(10)
            )


# January, February, March, by hand from the orders above.
WHOLE = {
    "new_customers": [2, 1, 0],  # c1, c2; c3; none
    "repeat_customers": [0, 1, 2],  # c2 in February; c1 and c2 in March
    "upsell_customers": [0, 0, 1],  # c2's first premium device in March
    # c1 (accessories and services, counted once) and c2 (accessories) in March; c3's
    # accessory in February is its first purchase of all, not a cross-sale
    "cross_sell_customers": [0, 0, 2],
}
# North holds c1 and c2: the company less c3 (new in February).
NORTH = {**WHOLE, "new_customers": [2, 0, 0]}


def months(engine: Engine, key: str, **kwargs) -> list[float | None]:
    return [v for _, _, v in engine.compute(key, since=JAN, until=MAR, **kwargs)]


@pytest.mark.parametrize("choice", ["app", "duckdb"])
def test_histories_count_each_customer_once_a_month(shop, choice):
    with Engine(connect(choice), registry()) as engine:
        # When the whole company's histories are read (off first purchases alone)
        # Then each customer counts once a month, c1's two new categories included
        assert {key: months(engine, key) for key in HISTORIES} == WHOLE
        # When they are read for North alone (off each month's purchases)
        # Then likewise
        north = {key: months(engine, key, filters={"region": "North"}) for key in HISTORIES}
        assert north == NORTH
        # When broken down by department
        # Then Stores has c1 and c2; Phone sales has c3, new in February and never back,
        # and appears where its customers' history puts it (as new) alone
        for key in HISTORIES:
            rows = engine.compute(key, by="department", since=JAN, until=MAR)
            got = {name: [v for _, d, v in rows if d == name] for name in ("Stores", "Phone sales")}
            want_phone = [0, 1, 0] if key == "new_customers" else []
            assert got == {"Stores": NORTH[key], "Phone sales": want_phone}, key
        # When broken down by region (the customer's own: new, up- and cross-sold
        # customers read off first purchases, each customer's region looked up)
        # Then North has c1 and c2, South c3 alone, as by department
        for key in HISTORIES:
            rows = engine.compute(key, by="region", since=JAN, until=MAR)
            got = {name: [v for _, d, v in rows if d == name] for name in ("North", "South")}
            want_south = [0, 1, 0] if key == "new_customers" else []
            assert got == {"North": NORTH[key], "South": want_south}, key


@pytest.mark.parametrize("choice", ["app", "duckdb"])
@pytest.mark.parametrize("narrow", [False, True])
def test_up_and_cross_selling_by_what_the_purchase_says(shop, choice, narrow):
    # Given an engine over the whole history, or one reading the months asked for alone
    with Engine(connect(choice), registry(), narrow=narrow) as engine:

        def by(key: str, dimension: str) -> dict[str, list[float | None]]:
            rows = engine.compute(key, by=dimension, since=JAN, until=MAR)
            return {d: [v for _, e, v in rows if e == d] for d in {d for _, d, _ in rows}}

        # When up- and cross-selling are broken down by the age bracket at the purchase
        # (a month's purchases matched to first purchases, then the bracket worked out)
        # Then c2's premium device and accessory in March count at 25, not at the 24 of
        # its first purchase; c1's two new categories once, at 35
        assert by("upsell_customers", "age_bracket") == {"25-34": [0, 0, 1]}
        assert by("cross_sell_customers", "age_bracket") == {
            "25-34": [0, 0, 1],
            "35-44": [0, 0, 1],
        }
        # When broken down by the order's channel, then c1's March order is a phone sale
        assert by("upsell_customers", "channel") == {"online": [0, 0, 1]}
        assert by("cross_sell_customers", "channel") == {"online": [0, 0, 1], "phone": [0, 0, 1]}


@pytest.mark.parametrize("choice", ["app", "duckdb"])
def test_repeat_customers_and_retention_share_who_was_active_when(shop, choice):
    # Given an engine working out the whole company's figures (each customer is in one
    # department, so its orders are too)
    with Engine(connect(choice), registry(), materialise=True) as engine:
        # When its retention rate and repeat customers are computed
        retention = months(engine, "retention_rate")
        repeat = months(engine, "repeat_customers")
        # Then both read one table of who was active when, by each customer's own
        # department (the retention rate's), and the numbers are the hand-computed ones:
        # February c2 of {c1, c2}; March c2 of {c2, c3}
        active = [key for key in engine._shared if key[0] == "active"]
        assert [key[3].by for key in active] == ["department_id"]
        assert retention == [None, 0.5, 0.5]
        assert repeat == WHOLE["repeat_customers"]


@pytest.mark.parametrize("choice", ["app", "duckdb"])
@pytest.mark.parametrize(("narrow", "roll_up"), [(False, True), (True, True), (False, False)])
def test_repeat_customers_are_those_active_less_those_new_in_each_group(
    shop, choice, narrow, roll_up
):
    # Given c4 (Stores), who orders twice in January, its first month, and once in February
    stores = Department.objects.get(name="Stores")
    c4 = CustomerFactory(department=stores, region="North")
    device = m.Product.objects.get(tier="standard", category="Devices")
    for n, day in enumerate((5, 20, 41)):
        order = m.Order.objects.create(
            external_id=f"N-{n}",
            customer=c4,
            ordered_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day),
            channel="online",
        )
        m.OrderLine.objects.create(order=order, line_no=1, product=device, amount=Decimal(10))
    # When the repeat customers are counted for the company (a group's active customers
    # less its new ones: the whole company's, or each own department's added up) and by
    # department
    with Engine(connect(choice), registry(), narrow=narrow, roll_up=roll_up) as engine:
        company = months(engine, "repeat_customers")
        rows = engine.compute("repeat_customers", by="department", since=JAN, until=MAR)
    # Then January has none back (c4's second order is in its first month, counted once
    # among the active); February c2 and c4; March c1 and c2
    assert company == [0, 2, 2]
    # And by department Stores has them all; Phone sales (c3, new in February, never
    # back) has no value at all, not a 0
    got = {name: [v for _, d, v in rows if d == name] for name in ("Stores", "Phone sales")}
    assert got == {"Stores": [0, 2, 2], "Phone sales": []}


@pytest.mark.parametrize("choice", ["app", "duckdb"])
def test_active_customers_are_counted_off_who_was_active_when(shop, choice):
    # Given c1's second order in January (c1 active twice that month)
    c1_order = m.Order.objects.filter(ordered_at__month=1).order_by("id").first()
    assert c1_order is not None
    m.Order.objects.create(
        external_id="H-again",
        customer=c1_order.customer,
        ordered_at=datetime(2026, 1, 20, tzinfo=UTC),
        channel="online",
    )
    # When an engine working out the whole company's figures counts the active customers,
    # for the company and by department
    with Engine(connect(choice), registry(), materialise=True) as engine:
        company = months(engine, "active_customers")
        rows = engine.compute("active_customers", by="department", since=JAN, until=MAR)
        # Then they are read off one table of who was active when, by each customer's own
        # department (the one retention reads), not counted from the orders again
        active = [key for key in engine._shared if key[0] == "active"]
        assert [(key[1], key[2], key[3].by) for key in active] == [
            ("orders", "customer", "department_id")
        ]
    # And each customer counts once a month: January c1 and c2 (c1's two orders once);
    # February c2 and c3; March c1 and c2
    assert company == [2, 2, 2]
    got = {name: [v for _, d, v in rows if d == name] for name in ("Stores", "Phone sales")}
    assert got == {"Stores": [2, 1, 2], "Phone sales": [0, 1, 0]}
