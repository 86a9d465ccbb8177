"""RFM scores and named segments, moves between them, cohorts, saved segments and the
metric filters `rfm=` and `saved_segment=`, on a tiny set of customers worked out by hand.

The customers (Sales unless said), acquired on 1 January 2026 unless said; amounts are
order lines:
  A  10 Feb 50; 30 Mar 100 and 30 Mar 50 (two orders, one day)
  B  30 Mar 200
  C  5 Jan 10; 20 Jan 10; 1 Feb 10
  D  1 Jan 500
  E  1 Mar 20
  F  no orders
  G  acquired 10 Jan; 2 Apr 40 (after 31 March)
  H  acquired 1 May, no orders (not yet a customer on 31 March)

At 31 March (5 buyers; score = 1 + floor(5 x customers strictly worse / 5)):
  recency days A 1, B 1, C 58, D 89, E 30    -> R A4 B4 C2 D1 E3 (A and B tie)
  frequency (days) A 2, B 1, C 3, D 1, E 1   -> F A4 B1 C5 D1 E1
  monetary A 200, B 200, C 30, D 500, E 20   -> M A3 B3 C2 D5 E1
  segments: A loyal (4,4), B promising (4,1), C can't lose (2,5), D lost (1,1),
  E about to sleep (3,1); F and G no purchases (G's order is after the date); H absent.
At 28 February (3 buyers): recency A 18, C 27, D 58 -> R A4 C2 D1; F A1 C4 D1;
  segments A promising, C at risk, D lost; B, E, F, G no purchases."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pytest
from django.core.management import call_command

from crm_scorecard.crm.models import OrderLine
from crm_scorecard.errors import Invalid, NotAllowed, NotFound
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine, MetricError
from crm_scorecard.metrics.services import metric_series
from crm_scorecard.metrics.sources import AGE_BRACKETS
from crm_scorecard.segments import filters, rfm, selectors, services
from crm_scorecard.segments.models import CohortCell, CohortSnapshot, RfmScore

from .factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

FEB, MAR = date(2026, 2, 28), date(2026, 3, 31)


def _at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _order(customer, day: str, amount: str, hour: int = 10) -> None:
    order = OrderFactory(customer=customer, ordered_at=_at(day, hour))
    OrderLine.objects.create(order=order, line_no=1, amount=Decimal(amount))


@pytest.fixture
def shop(org):
    jan = _at("2026-01-01", 0)
    people = {
        key: CustomerFactory(
            external_id=key, full_name=f"Customer {key}", department=org.sales, acquired_at=jan
        )
        for key in "ABCDEF"
    }
    people["G"] = CustomerFactory(
        external_id="G", department=org.sales, acquired_at=_at("2026-01-10")
    )
    people["H"] = CustomerFactory(
        external_id="H", department=org.sales, acquired_at=_at("2026-05-01")
    )
    p = people
    _order(p["A"], "2026-02-10", "50")
    _order(p["A"], "2026-03-30", "100", hour=9)
    _order(p["A"], "2026-03-30", "50", hour=15)
    _order(p["B"], "2026-03-30", "200")
    _order(p["C"], "2026-01-05", "10")
    _order(p["C"], "2026-01-20", "10")
    _order(p["C"], "2026-02-01", "10")
    _order(p["D"], "2026-01-01", "500")
    _order(p["E"], "2026-03-01", "20")
    _order(p["G"], "2026-04-02", "40")
    return people


def _stored(as_of: date) -> dict[str, tuple]:
    return {
        s.customer.external_id: (s.recency_days, s.frequency, s.monetary, s.r, s.f, s.m, s.segment)
        for s in RfmScore.objects.filter(as_of=as_of).select_related("customer")
    }


def test_rfm_scores_and_segments_at_a_date(shop):
    # Given the shop, when RFM is refreshed at 31 March
    count = services.refresh_rfm(as_of=MAR)
    # Then every customer known by then is scored as worked out by hand
    assert count == 7
    assert _stored(MAR) == {
        "A": (1, 2, Decimal("200.00"), 4, 4, 3, "loyal"),
        "B": (1, 1, Decimal("200.00"), 4, 1, 3, "promising"),
        "C": (58, 3, Decimal("30.00"), 2, 5, 2, "cant_lose"),
        "D": (89, 1, Decimal("500.00"), 1, 1, 5, "lost"),
        "E": (30, 1, Decimal("20.00"), 3, 1, 1, "about_to_sleep"),
        "F": (None, 0, Decimal("0.00"), None, None, None, "no_purchases"),
        "G": (None, 0, Decimal("0.00"), None, None, None, "no_purchases"),
    }


def test_refreshing_a_date_again_replaces_its_rows(shop):
    # Given scores at 31 March
    services.rfm_refresh(as_of=MAR)
    # When D buys again on 31 March and the date is refreshed
    _order(shop["D"], "2026-03-31", "5")
    services.rfm_refresh(as_of=MAR)
    # Then one row per customer, D now the most recent buyer
    assert RfmScore.objects.filter(as_of=MAR).count() == 7
    assert _stored(MAR)["D"][:4] == (0, 2, Decimal("505.00"), 5)


def test_quintiles_give_ties_one_score_and_skip_past_them():
    # Given six values, four of them tied at the bottom
    values = pd.Series([1.0, 1.0, 1.0, 1.0, 7.0, 9.0])
    # When scored, higher better and lower better
    up = rfm.quintile(values).tolist()
    down = rfm.quintile(values, higher_is_better=False).tolist()
    # Then ties share a score: 1 + floor(5 x strictly worse / 6)
    assert up == [1, 1, 1, 1, 4, 5]
    assert down == [2, 2, 2, 2, 1, 1]


def test_the_grid_names_every_r_and_f():
    # Given every pair of scores, then each has a named segment and the corners are as published
    names = {rfm.segment_for(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert len(names) == 11
    assert rfm.segment_for(5, 5) == "champions"
    assert rfm.segment_for(5, 1) == "new"
    assert rfm.segment_for(1, 5) == "cant_lose"
    assert rfm.segment_for(2, 2) == "hibernating"
    assert rfm.segment_for(1, 2) == "lost"


def test_summary_counts_revenue_and_moves(shop, org):
    # Given scores at 28 February and 31 March
    services.rfm_refresh(as_of=FEB)
    services.rfm_refresh(as_of=MAR)
    # When the sales manager reads the summary of the latest date
    summary = selectors.rfm_summary(user=org.sales_manager)
    # Then the counts, revenue and moves since February are as worked out
    assert (summary.as_of, summary.previous) == (MAR, FEB)
    rows = {s.segment: (s.customers, s.revenue) for s in summary.segments if s.customers}
    assert rows == {
        "loyal": (1, 200.0),
        "promising": (1, 200.0),
        "cant_lose": (1, 30.0),
        "lost": (1, 500.0),
        "about_to_sleep": (1, 20.0),
        "no_purchases": (2, 0.0),
    }
    assert len(summary.segments) == 12  # empty segments are listed too
    moves = {(m.before, m.after): m.customers for m in summary.moves}
    assert moves == {
        ("promising", "loyal"): 1,
        ("no_purchases", "promising"): 1,
        ("at_risk", "cant_lose"): 1,
        ("lost", "lost"): 1,
        ("no_purchases", "about_to_sleep"): 1,
        ("no_purchases", "no_purchases"): 2,
    }
    assert summary.stayed == 3
    # And the February date has no date before it: no moves
    assert selectors.rfm_summary(user=org.sales_manager, as_of=FEB).moves == []


def test_summary_is_scoped_and_a_missing_date_is_not_found(shop, org):
    # Given scores at 31 March (all customers in Sales)
    services.rfm_refresh(as_of=MAR)
    # When Customer Service reads them, then it sees no customers
    summary = selectors.rfm_summary(user=org.service_manager)
    assert summary.customers == 0
    assert summary.as_of == MAR
    # And a date with no scores is not found
    with pytest.raises(NotFound):
        selectors.rfm_summary(user=org.sales_manager, as_of=date(2026, 1, 31))


def test_new_customers_move_from_not_yet_a_customer(shop):
    # Given scores at 28 February, and H scored at a later date after being acquired
    services.rfm_refresh(as_of=FEB)
    services.rfm_refresh(as_of=date(2026, 5, 31))
    # Then H's move comes from no segment
    summary = selectors.rfm_summary(user=None or _executive(), as_of=date(2026, 5, 31))
    moves = {(m.before, m.after): m.customers for m in summary.moves}
    assert moves[(None, "no_purchases")] == 1


def _executive():
    from crm_scorecard.accounts.models import Level

    from .factories import UserFactory

    return UserFactory(level=Level.EXECUTIVE)


def _view(result) -> tuple:
    """What a cohort view shows, but when it was computed."""
    return (result.cohorts, result.months, result.last_month, result.undated)


def test_cohorts_retention_and_revenue_per_customer(shop, org):
    # Given one more customer, in Customer Service, acquired in February, who bought once,
    # and the cohorts computed and stored
    k = CustomerFactory(external_id="K", department=org.service, acquired_at=_at("2026-02-15"))
    _order(k, "2026-02-20", "60")
    snapshot = services.cohorts_refresh()
    # When the executive reads the cohorts (the last order anyone placed: April)
    result = selectors.cohorts(user=_executive())
    # Then they are as of the refresh: January's 7 customers (A-G; H's May is after the
    # last order) and February's K
    assert result.computed and result.computed_at == snapshot.computed_at
    assert result.last_month == "2026-04"
    assert result.months == 4
    jan, feb = result.cohorts
    assert (jan.month, jan.customers, feb.month, feb.customers) == ("2026-01", 7, "2026-02", 1)
    # January: C, D in month 0; A, C in 1; A, B, E in 2; G in 3
    assert jan.retention == pytest.approx([2 / 7, 2 / 7, 3 / 7, 1 / 7])
    assert jan.revenue_per_customer == pytest.approx([520 / 7, 60 / 7, 370 / 7, 40 / 7])
    # February: K in month 0, then nothing; April+1 is not yet seen (None, not 0)
    assert feb.retention == [1.0, 0.0, 0.0, None]
    assert feb.revenue_per_customer == [60.0, 0.0, 0.0, None]
    # And the stored cohorts are exactly those computed live
    assert _view(result) == _view(selectors.cohorts_live(user=_executive()))
    # And Customer Service sees K's cohort alone
    scoped = selectors.cohorts(user=org.service_manager)
    assert [(c.month, c.customers) for c in scoped.cohorts] == [("2026-02", 1)]


def test_stored_cohorts_are_the_live_ones_within_each_callers_departments(shop, org):
    # Given K in Customer Service (February, bought 60), L in Field Sales (under Sales;
    # January, bought 30 in March) and U in Sales with neither an acquisition date nor an
    # order, and the cohorts stored
    k = CustomerFactory(external_id="K", department=org.service, acquired_at=_at("2026-02-15"))
    _order(k, "2026-02-20", "60")
    lee = CustomerFactory(
        external_id="L", department=org.field_sales, acquired_at=_at("2026-01-03")
    )
    _order(lee, "2026-03-12", "30")
    CustomerFactory(external_id="U", department=org.sales, acquired_at=None)
    services.cohorts_refresh()
    # When each caller reads them, then they equal the live computation in their scope
    callers = [
        _executive(),
        org.sales_manager,
        org.sales_analyst,
        org.field_agent,
        org.service_agent,
        org.service_manager,
    ]
    for user in callers:
        assert _view(selectors.cohorts(user=user)) == _view(selectors.cohorts_live(user=user))
    # And Sales' manager sees Sales and Field Sales: January's 8 (A-G and L), U undated
    sales = selectors.cohorts(user=org.sales_manager)
    assert [(c.month, c.customers) for c in sales.cohorts] == [("2026-01", 8)]
    assert sales.undated == 1
    assert sales.cohorts[0].retention == pytest.approx([2 / 8, 2 / 8, 4 / 8, 1 / 8])
    assert sales.cohorts[0].revenue_per_customer == pytest.approx(
        [520 / 8, 60 / 8, 400 / 8, 40 / 8]
    )
    # And the Field Sales agent sees only L's cells: January's one customer, who bought in
    # month 2; the months run to April (the last order anyone placed)
    field = selectors.cohorts(user=org.field_agent)
    assert [(c.month, c.customers) for c in field.cohorts] == [("2026-01", 1)]
    assert field.cohorts[0].retention == [0.0, 0.0, 1.0, 0.0]
    assert field.cohorts[0].revenue_per_customer == [0.0, 0.0, 30.0, 0.0]
    assert field.undated == 0
    # And the Customer Service agent sees K's alone
    service = selectors.cohorts(user=org.service_agent)
    assert [(c.month, c.customers) for c in service.cohorts] == [("2026-02", 1)]


def test_cohorts_not_computed_yet_is_not_zero(shop, org):
    # Given customers and orders, but no cohorts stored
    # When the cohorts are read
    result = selectors.cohorts(user=_executive())
    # Then they say they were not computed, with nothing to show (no zeros)
    assert not result.computed and result.computed_at is None
    assert result.cohorts == [] and result.months == 0
    assert result.as_dict()["computed_at"] is None


def test_a_refresh_replaces_the_cohorts_in_one_transaction(shop, org, monkeypatch):
    # Given the cohorts stored, then one more January order by F (who never bought)
    first = services.cohorts_refresh()
    _order(shop["F"], "2026-01-25", "5")
    # When the cohorts are refreshed
    second = services.cohorts_refresh()
    # Then the new snapshot replaced the old (its cells too), and January's month 0 counts F
    assert list(CohortSnapshot.objects.values_list("pk", flat=True)) == [second.pk]
    assert not CohortCell.objects.filter(snapshot_id=first.pk).exists()
    jan = selectors.cohorts(user=_executive()).cohorts[0]
    assert jan.retention[0] == pytest.approx(3 / 7)
    assert jan.revenue_per_customer[0] == pytest.approx(525 / 7)
    # When a refresh fails half-way (writing its cells)
    _order(shop["F"], "2026-02-25", "7")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(CohortCell.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        services.cohorts_refresh()
    # Then the cohorts stored before are still there, whole
    assert list(CohortSnapshot.objects.values_list("pk", flat=True)) == [second.pk]
    again = selectors.cohorts(user=_executive()).cohorts[0]
    assert again.retention == jan.retention


def test_saved_segment_export_filters_customers(shop, org):
    # Given scores at 31 March, a city on two customers, and a saved segment of loyal Leeds customers
    services.rfm_refresh(as_of=MAR)
    for key in "AB":
        shop[key].city = "Leeds"
        shop[key].save()
    saved = services.saved_segment_create(
        user=org.sales_manager,
        name="Leeds loyal",
        filters={"city": "Leeds", "rfm": "loyal"},
        department=org.sales,
    )
    # Then its filters are stored under the dimension's name, and its export holds A alone
    assert saved.filters == {"city": "Leeds", "rfm_segment": "loyal"}
    rows = selectors.saved_segment_rows(user=org.sales_manager, segment=saved)
    assert [(r[0], r[-1]) for r in rows] == [("A", "loyal")]
    # And Customer Service can neither see it nor export Sales' customers through it
    with pytest.raises(NotFound):
        selectors.saved_segment_get(user=org.service_manager, name="Leeds loyal")


def test_saved_segment_by_age_bracket_and_department(shop, org):
    # Given B born 30 years ago, and segments on the 25-34 bracket and on Field Sales
    today = date.today()
    shop["B"].birth_date = today.replace(year=today.year - 30)
    shop["B"].save()
    young = services.saved_segment_create(
        user=None, name="Young", filters={"age_bracket": "25-34"}, department=org.sales
    )
    field = services.saved_segment_create(
        user=None, name="Field", filters={"department": "Field Sales"}, department=org.sales
    )
    # Then B alone is 25-34, and nobody is in Field Sales
    assert [r[0] for r in selectors.saved_segment_rows(user=None, segment=young)] == ["B"]
    assert selectors.saved_segment_rows(user=None, segment=field) == []


@pytest.mark.parametrize(
    ("filters_", "message"),
    [
        ({}, "at least one"),
        ({"planet": "Mars"}, "unknown field"),
        ({"rfm": "heroes"}, "unknown RFM segment"),
        ({"age_bracket": "30-40"}, "brackets are"),
        ({"department": "Nowhere"}, "no department"),
        ({"city": ""}, "give a value"),
    ],
)
def test_saved_segment_refuses_bad_filters(org, filters_, message):
    with pytest.raises(Invalid, match=message):
        services.saved_segment_create(
            user=org.sales_manager, name="X", filters=filters_, department=org.sales
        )


def test_saved_segment_refuses_agents_and_other_departments(org):
    # Given an agent, and a manager saving for a department not theirs
    with pytest.raises(NotAllowed):
        services.saved_segment_create(
            user=org.field_agent, name="X", filters={"city": "Leeds"}, department=org.sales
        )
    with pytest.raises(NotAllowed):
        services.saved_segment_create(
            user=org.sales_manager, name="X", filters={"city": "Leeds"}, department=org.service
        )
    # Then nothing was saved
    from crm_scorecard.segments.models import SavedSegment

    assert not SavedSegment.objects.exists()


def test_age_brackets_are_the_metrics_engines():
    assert filters.AGE_BRACKETS == AGE_BRACKETS


# ---- the metric filters ---------------------------------------------------------------------

JAN1, APR1 = date(2026, 1, 1), date(2026, 4, 1)
# The engine reads over a connection of its own: the rows must be committed.
committed = pytest.mark.django_db(transaction=True)


def _revenue(choice: str, **filters) -> list[float | None]:
    with Engine(connect(choice), registry()) as engine:
        return [v for _, _, v in engine.compute("revenue", filters=filters, since=JAN1, until=APR1)]


@committed
@pytest.mark.parametrize("choice", ["app", "duckdb"])
def test_metric_filter_by_rfm_segment(shop, choice):
    # Given scores at 28 February and then 31 March (the latest counts)
    services.rfm_refresh(as_of=FEB)
    services.rfm_refresh(as_of=MAR)
    # When revenue is filtered by the RFM segment, Jan-Apr
    # Then loyal is A's orders (Feb 50, Mar 150); lost is D's; no purchases is G's April order
    assert _revenue(choice, rfm="loyal") == [0, 50, 150, 0]
    assert _revenue(choice, rfm="lost") == [500, 0, 0, 0]
    assert _revenue(choice, rfm_segment="no_purchases") == [0, 0, 0, 40]


@committed
def test_metric_filter_by_saved_segment_and_scope(shop, org):
    # Given scores at 31 March and a saved segment of customers who can't be lost
    services.rfm_refresh(as_of=MAR)
    services.saved_segment_create(
        user=org.sales_manager, name="Keep", filters={"rfm": "cant_lose"}, department=org.sales
    )

    # Then it is C's revenue (Jan 20, Feb 10) for Sales' manager
    with Engine(connect("app"), registry(), departments=None) as engine:
        points = metric_series(
            key="revenue",
            user=org.sales_manager,
            filters={"saved_segment": "Keep"},
            since=JAN1,
            until=APR1,
            engine=engine,
        )
    assert [p.value for p in points] == [20, 10, 0, 0]
    # And a contradicting filter is refused; Customer Service does not find the segment
    with pytest.raises(MetricError, match="contradicts"):
        metric_series(
            key="revenue",
            user=org.sales_manager,
            filters={"saved_segment": "Keep", "rfm_segment": "lost"},
        )
    with pytest.raises(NotFound):
        metric_series(key="revenue", user=org.service_manager, filters={"saved_segment": "Keep"})


@committed
@pytest.mark.parametrize("other", ["parquet", "spark"])
def test_engines_agree_on_the_rfm_filter(shop, tmp_path, other):
    # Given scores at 31 March and the tables exported to Parquet (as the mirror copies them)
    services.rfm_refresh(as_of=MAR)
    call_command("export-parquet", str(tmp_path), "--no-progress", stdout=io.StringIO())
    # When revenue by RFM segment, and filtered by one, is computed on the app database and
    # on DuckDB or Spark over the Parquet files
    with (
        Engine(connect("app"), registry()) as app,
        Engine(connect(f"{other}:{tmp_path}"), registry()) as them,
    ):
        a = app.compute("revenue", by="rfm_segment", since=JAN1, until=APR1)
        b = them.compute("revenue", by="rfm_segment", since=JAN1, until=APR1)
        filtered = them.compute("revenue", filters={"rfm": "loyal"}, since=JAN1, until=APR1)
    # Then they agree, and March's loyal revenue is A's 150
    assert a == b
    assert (date(2026, 3, 1), "loyal", 150.0) in a
    assert [v for *_, v in filtered] == [0, 50, 150, 0]


def test_cohort_months_before_the_first_order_are_not_seen(org):
    # Given a customer acquired in November 2025 who never bought, and one order on record,
    # by a customer acquired in January 2026
    CustomerFactory(external_id="OLD", department=org.sales, acquired_at=_at("2025-11-03"))
    buyer = CustomerFactory(external_id="NEW", department=org.sales, acquired_at=_at("2026-01-02"))
    _order(buyer, "2026-01-05", "10")
    # When the cohorts are stored and read
    services.cohorts_refresh()
    result = selectors.cohorts(user=_executive())
    # Then November's months before January have no data (None), January's is a real 0
    old, new = result.cohorts
    assert (old.month, old.retention) == ("2025-11", [None, None, 0.0])
    assert (new.month, new.retention) == ("2026-01", [1.0, None, None])
    # And so they are when computed live
    assert _view(result) == _view(selectors.cohorts_live(user=_executive()))


@committed
def test_the_profile_breaks_customers_down_by_rfm_segment(shop):
    from crm_scorecard.metrics.api import customer_profile

    # Given scores at 31 March
    services.rfm_refresh(as_of=MAR)
    # When the customer profile is broken down by RFM segment, from January to March
    with Engine(connect("app"), registry()) as engine:
        profile = customer_profile(
            engine=engine, by=["rfm_segment"], since=JAN1, until=date(2026, 3, 31)
        )
    # Then each segment's customers and revenue are as scored (H, never scored, unknown)
    rows = {r.values[0]: (r.customers, r.revenue) for r in profile.rows}
    assert rows["loyal"] == (1, 200.0)
    assert rows["lost"] == (1, 500.0)
    assert rows["no_purchases"] == (2, 0.0)
    assert rows["(unknown)"][0] == 1
