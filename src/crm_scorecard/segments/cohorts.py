"""Cohorts: customers by acquisition month x months since, the share who bought and the
revenue per customer. The grouping queries (run by `services.cohorts_refresh` per
department, and by `selectors.cohorts_live` within a user's scope) and the one way their
counts become the view, so the stored cohorts and the live ones cannot drift apart."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Count, DateTimeField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Greatest, TruncMonth

from crm_scorecard.crm.models import Customer, Order

LAST = 24  # cohorts shown: the most recent


@dataclass(frozen=True)
class Cohort:
    month: str  # YYYY-MM of acquisition
    customers: int
    retention: list[
        float | None
    ]  # per month since: share who bought; None: not seen (no orders on record)
    revenue_per_customer: list[float | None]


@dataclass(frozen=True)
class Cohorts:
    """The cohort view. `computed_at`: when the stored cohorts were computed (None: read
    live); `computed` False: nothing stored yet, so there is nothing to show (not zeros)."""

    cohorts: list[Cohort]
    months: int  # columns: months since acquisition, 0 .. months - 1
    last_month: str | None  # the last month with any order: later cells are not seen
    undated: int  # customers with neither an acquisition date nor an order
    computed_at: datetime | None = None
    computed: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "computed_at": self.computed_at.isoformat() if self.computed_at else None,
            "months": self.months,
            "last_month": self.last_month,
            "undated_customers": self.undated,
            "cohorts": [c.__dict__ for c in self.cohorts],
        }


NOT_COMPUTED = Cohorts([], 0, None, 0, computed_at=None, computed=False)


def month_index(stamp: Any) -> int | None:
    """The month of a timestamp or a date (or of its text, as SQLite may answer) as
    year x 12 + month - 1; None for None."""
    if stamp is None:
        return None
    if isinstance(stamp, str):
        return int(stamp[:4]) * 12 + int(stamp[5:7]) - 1
    if isinstance(stamp, datetime) and stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC)
    return int(stamp.year * 12 + stamp.month - 1)


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_date(index: int | None) -> date | None:
    return None if index is None else date(index // 12, index % 12 + 1, 1)


def _first_order_month(customer: str) -> Subquery:
    first = Order.objects.filter(customer=OuterRef(customer)).order_by("ordered_at")
    return Subquery(first.annotate(m=TruncMonth("ordered_at", tzinfo=UTC)).values("m")[:1])


def _cohort_of(acquired: str, customer: str) -> Coalesce:
    return Coalesce(
        TruncMonth(acquired, tzinfo=UTC),
        _first_order_month(customer),
        output_field=DateTimeField(),
    )


def cohort_sizes(customers: QuerySet[Customer], *, by_department: bool) -> QuerySet[Any]:
    """Rows of (department,) cohort, n: the customers of each cohort (cohort None:
    neither an acquisition date nor an order)."""
    keys = ("department", "cohort") if by_department else ("cohort",)
    return (
        customers.annotate(cohort=_cohort_of("acquired_at", "pk"))
        .values(*keys)
        .annotate(n=Count("id"))
        .order_by()
    )


def cohort_months(orders: QuerySet[Order], *, by_department: bool) -> QuerySet[Any]:
    """Rows of (department,) cohort, month, buyers, revenue: per cohort and calendar
    month, the customers who bought and what they paid. Orders dated before the
    acquisition count in month 0."""
    ordered = _cohort_of("customer__acquired_at", "customer")
    keys = ("customer__department", "cohort", "month") if by_department else ("cohort", "month")
    return (
        orders.annotate(
            cohort=ordered, month=Greatest(TruncMonth("ordered_at", tzinfo=UTC), ordered)
        )
        .values(*keys)
        .annotate(buyers=Count("customer", distinct=True), revenue=Sum("lines__amount"))
        .order_by()
    )


def order_span() -> tuple[int | None, int | None]:
    """The months of the first and the last order on record, company-wide."""
    stamps = Order.objects.order_by("ordered_at").values_list("ordered_at", flat=True)
    return month_index(stamps.first()), month_index(stamps.last())


@dataclass(frozen=True)
class Cell:
    """Counts of one cohort (month index; None: undated) `months_since` months on."""

    cohort: int | None
    months_since: int
    customers: int  # the cohort's size (month 0 cells are where sizes are read)
    active: int
    revenue: float


def assemble(
    cells: Iterable[Cell],
    *,
    first_order: int | None,
    last_order: int | None,
    last: int = LAST,
    computed_at: datetime | None = None,
) -> Cohorts:
    """The view from counted cells: the `last` most recent cohorts up to the last order's
    month; per month since acquisition, the share who bought and the revenue per customer.
    Months before the first order anyone placed or after the last are not seen (None),
    never 0."""
    sizes: dict[int | None, int] = {}
    buyers: dict[tuple[int, int], int] = {}
    revenue: dict[tuple[int, int], float] = {}
    for cell in cells:
        if cell.months_since == 0:
            sizes[cell.cohort] = sizes.get(cell.cohort, 0) + cell.customers
        if cell.cohort is not None:
            key = (cell.cohort, cell.months_since)
            buyers[key] = buyers.get(key, 0) + cell.active
            revenue[key] = revenue.get(key, 0.0) + cell.revenue
    undated = sizes.pop(None, 0)
    dated = [c for c in sizes if c is not None]
    if not dated:
        return Cohorts([], 0, None, undated, computed_at)
    end = last_order if last_order is not None else max(dated)
    start = first_order if first_order is not None else end
    kept = sorted(c for c in dated if c <= end)[-last:]
    if not kept:
        return Cohorts([], 0, None, undated, computed_at)
    months = end - min(kept) + 1
    rows = []
    for c in kept:
        size = sizes[c]
        seen = range(max(0, start - c), end - c + 1)  # months with orders on record
        rows.append(
            Cohort(
                month=month_text(c),
                customers=size,
                retention=[
                    buyers.get((c, k), 0) / size if k in seen else None for k in range(months)
                ],
                revenue_per_customer=[
                    revenue.get((c, k), 0.0) / size if k in seen else None for k in range(months)
                ],
            )
        )
    return Cohorts(rows, months, month_text(end), undated, computed_at)
