"""Reads of the segments app, always within what the acting user may see: the RFM
segments at a date and the moves since the date before, cohorts, saved segments and their
customers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Count, DateTimeField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Greatest, TruncMonth
from django.utils import timezone

from crm_scorecard.accounts.scope import Actor, restrict, visible_department_ids
from crm_scorecard.crm.models import Customer, Order
from crm_scorecard.errors import NotFound

from . import rfm
from .filters import customers_matching, latest_rfm_segment
from .models import RfmScore, RfmSegment, SavedSegment

LABELS = dict(RfmSegment.choices)


def _scoped[M: Any](qs: QuerySet[M], user: Actor | None, field: str = "department") -> QuerySet[M]:
    """`qs` within what `user` sees; None: an operator at the command line sees all."""
    return qs if user is None else restrict(qs, user=user, field=field)


def _scores(user: Actor | None) -> QuerySet[RfmScore]:
    return _scoped(RfmScore.objects.all(), user, "customer__department")


def rfm_dates(*, user: Actor | None) -> list[date]:
    """The dates RFM scores are stored for, latest first."""
    return list(RfmScore.objects.order_by("-as_of").values_list("as_of", flat=True).distinct())


@dataclass(frozen=True)
class SegmentRow:
    segment: str
    label: str
    customers: int
    revenue: float
    share: float | None  # of the customers scored


@dataclass(frozen=True)
class Move:
    before: str | None  # None: not scored at the date before (a new customer)
    after: str
    customers: int

    @property
    def before_label(self) -> str:
        return LABELS[self.before] if self.before else "not yet a customer"

    @property
    def after_label(self) -> str:
        return LABELS[self.after]


@dataclass(frozen=True)
class RfmSummary:
    """The RFM segments at `as_of` within the user's departments (None: no scores stored),
    and the moves since `previous`, the date stored before it (None: the first)."""

    as_of: date | None
    previous: date | None
    dates: list[date]
    segments: list[SegmentRow] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)

    @property
    def customers(self) -> int:
        return sum(s.customers for s in self.segments)

    @property
    def changed(self) -> list[Move]:
        return [m for m in self.moves if m.before != m.after]

    @property
    def stayed(self) -> int:
        return sum(m.customers for m in self.moves if m.before == m.after)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "previous": self.previous.isoformat() if self.previous else None,
            "customers": self.customers,
            "segments": [s.__dict__ for s in self.segments],
            "moves": [
                {"from": m.before, "to": m.after, "customers": m.customers} for m in self.moves
            ],
        }


def rfm_summary(*, user: Actor | None, as_of: date | None = None) -> RfmSummary:
    """Counts and revenue (up to the date) per segment at `as_of` (default: the latest
    date stored) and how customers moved between segments since the date stored before.
    Every segment is listed, empty ones with 0 customers; a date with no scores stored is
    not found."""
    dates = rfm_dates(user=user)
    if as_of is None:
        if not dates:
            return RfmSummary(as_of=None, previous=None, dates=[])
        as_of = dates[0]
    elif as_of not in dates:
        raise NotFound(f"No RFM scores for {as_of.isoformat()}; run `segments rfm --as-of`.")
    previous = next((d for d in dates if d < as_of), None)
    rows = _scores(user).filter(as_of=as_of)
    counted: dict[str, tuple[int, float]] = {
        r["segment"]: (r["n"], float(r["revenue"] or 0))
        for r in rows.values("segment").annotate(n=Count("id"), revenue=Sum("monetary")).order_by()
    }
    total = sum(n for n, _ in counted.values())
    segments = [
        SegmentRow(
            segment=s,
            label=LABELS[s],
            customers=counted.get(s, (0, 0.0))[0],
            revenue=counted.get(s, (0, 0.0))[1],
            share=counted.get(s, (0, 0.0))[0] / total if total else None,
        )
        for s in rfm.ORDER
    ]
    moves: list[Move] = []
    if previous is not None:
        before = RfmScore.objects.filter(customer=OuterRef("customer"), as_of=previous)
        pairs = (
            rows.annotate(before=Subquery(before.values("segment")[:1]))
            .values("before", "segment")
            .annotate(n=Count("id"))
            .order_by()
        )
        order = {s: i for i, s in enumerate(rfm.ORDER)}
        moves = sorted(
            (Move(before=p["before"], after=p["segment"], customers=p["n"]) for p in pairs),
            key=lambda m: (-m.customers, order.get(m.before or "", -1), order[m.after]),
        )
    return RfmSummary(as_of=as_of, previous=previous, dates=dates, segments=segments, moves=moves)


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
    cohorts: list[Cohort]
    months: int  # columns: months since acquisition, 0 .. months - 1
    last_month: str | None  # the last month with any order: later cells are not seen
    undated: int  # customers with neither an acquisition date nor an order

    def as_dict(self) -> dict[str, Any]:
        return {
            "months": self.months,
            "last_month": self.last_month,
            "undated_customers": self.undated,
            "cohorts": [c.__dict__ for c in self.cohorts],
        }


def _index(stamp: Any) -> Any:
    """The month of a timestamp (or of a date's text, as SQLite may answer) as
    year x 12 + month - 1; None for None."""
    if stamp is None:
        return None
    if isinstance(stamp, str):
        return int(stamp[:4]) * 12 + int(stamp[5:7]) - 1
    if isinstance(stamp, datetime) and stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC)
    return int(stamp.year * 12 + stamp.month - 1)


def _month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def cohorts(*, user: Actor | None, last: int = 24) -> Cohorts:
    """Customers of the user's departments by acquisition month (their acquisition date;
    without one, their first order's month), the `last` most recent cohorts: per month
    since acquisition, the share who bought that month and the revenue per customer of the
    cohort. Orders dated before the acquisition count in month 0. Months before the first
    order anyone placed or after the last are not seen (None), never 0."""
    customers = _scoped(Customer.objects.all(), user)

    def first_order_month(customer: str) -> Subquery:
        first = Order.objects.filter(customer=OuterRef(customer)).order_by("ordered_at")
        return Subquery(first.annotate(m=TruncMonth("ordered_at", tzinfo=UTC)).values("m")[:1])

    def cohort_of(acquired: str, customer: str) -> Coalesce:
        return Coalesce(
            TruncMonth(acquired, tzinfo=UTC),
            first_order_month(customer),
            output_field=DateTimeField(),
        )

    # Grouped in the database: one row per cohort, and per (cohort, month since).
    sizes = {
        _index(r["cohort"]): r["n"]
        for r in customers.annotate(cohort=cohort_of("acquired_at", "pk"))
        .values("cohort")
        .annotate(n=Count("id"))
        .order_by()
    }
    undated = sizes.pop(None, 0)
    ordered = cohort_of("customer__acquired_at", "customer")
    cells = (
        Order.objects.filter(customer__in=customers.values("pk"))
        .annotate(
            cohort=ordered,
            # Orders dated before the acquisition count in month 0.
            month=Greatest(TruncMonth("ordered_at", tzinfo=UTC), ordered),
        )
        .values("cohort", "month")
        .annotate(buyers=Count("customer", distinct=True), revenue=Sum("lines__amount"))
        .order_by()
    )
    stamps = Order.objects.order_by("ordered_at").values_list("ordered_at", flat=True)
    first_order, last_order = stamps.first(), stamps.last()
    if not sizes:
        return Cohorts([], 0, None, undated)
    end = _index(last_order) if last_order else max(c for c in sizes if c is not None)
    start = _index(first_order) if first_order else end
    kept = sorted(c for c in sizes if c is not None and c <= end)[-last:]
    if not kept:
        return Cohorts([], 0, None, undated)
    buyers: dict[tuple[int, int], int] = {}
    revenue: dict[tuple[int, int], float] = {}
    for cell in cells:
        c, m = _index(cell["cohort"]), _index(cell["month"])
        if c is None or m is None:
            continue
        buyers[(c, m - c)] = cell["buyers"]
        revenue[(c, m - c)] = float(cell["revenue"] or 0)
    months = end - min(kept) + 1
    rows = []
    for c in kept:
        size = sizes[c]
        seen = range(max(0, start - c), end - c + 1)  # months with orders on record
        rows.append(
            Cohort(
                month=_month(c),
                customers=size,
                retention=[
                    buyers.get((c, k), 0) / size if k in seen else None for k in range(months)
                ],
                revenue_per_customer=[
                    revenue.get((c, k), 0.0) / size if k in seen else None for k in range(months)
                ],
            )
        )
    return Cohorts(rows, months, _month(end), undated)


# ---- saved segments ------------------------------------------------------------------------


def saved_segments_visible(*, user: Actor | None) -> QuerySet[SavedSegment]:
    """The saved segments of the departments the user sees (None: all)."""
    return _scoped(SavedSegment.objects.select_related("department"), user)


def saved_segment_get(*, user: Actor | None, name: str) -> SavedSegment:
    """The saved segment named `name` the user may see (None: an operator sees all); one
    they may not see answers as one that does not exist."""
    found = saved_segments_visible(user=user).filter(name=name).first()
    if found is None:
        raise NotFound(f"No saved segment named {name!r}.")
    return found


def saved_segment_customers(*, user: Actor | None, segment: SavedSegment) -> QuerySet[Customer]:
    """The customers in a saved segment now, within what the user sees (None: everyone),
    by customer id, with their latest RFM segment as `rfm_now`."""
    customers = _scoped(Customer.objects.all(), user)
    today = timezone.localdate()
    return (
        customers_matching(customers, dict(segment.filters), today=today)
        .annotate(rfm_now=latest_rfm_segment())
        .select_related("department")
        .order_by("external_id")
    )


EXPORT_HEADER = [
    "customer_id",
    "name",
    "email",
    "phone",
    "city",
    "region",
    "country",
    "segment",
    "acquisition_channel",
    "department",
    "rfm_segment",
]


def saved_segment_rows(*, user: Actor | None, segment: SavedSegment) -> list[list[Any]]:
    """The rows of a saved segment's export, in EXPORT_HEADER's order (cells are people's
    text: the faces write them formula-safe)."""
    return [
        [
            c.external_id,
            c.full_name,
            c.email,
            c.phone,
            c.city,
            c.region,
            c.country,
            c.segment,
            c.acquisition_channel,
            c.department.name,
            getattr(c, "rfm_now", None) or "",
        ]
        for c in saved_segment_customers(user=user, segment=segment)
    ]


def saved_segment_filters(*, user: Actor | None, name: str) -> dict[str, str]:
    """A saved segment as metric filters (dimension -> value): its own filters, which are
    named as the metrics engine names dimensions."""
    return dict(saved_segment_get(user=user, name=name).filters)


def can_save(*, user: Actor) -> bool:
    from .services import _may_save

    return _may_save(user) and visible_department_ids(user=user) != set()
