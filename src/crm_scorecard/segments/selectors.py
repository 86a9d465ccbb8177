"""Reads of the segments app, always within what the acting user may see: the RFM
segments at a date and the moves since the date before, cohorts, saved segments and their
customers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from crm_scorecard.accounts.scope import Actor, restrict, visible_department_ids
from crm_scorecard.crm.models import Customer, Order
from crm_scorecard.errors import NotFound

from . import rfm
from .cohorts import (
    LAST,
    NOT_COMPUTED,
    Cell,
    Cohorts,
    assemble,
    cohort_months,
    cohort_sizes,
    month_index,
    order_span,
)
from .filters import customers_matching, latest_rfm_segment
from .models import CohortCell, CohortSnapshot, RfmScore, RfmSegment, SavedSegment

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


def cohorts(*, user: Actor | None, last: int = LAST) -> Cohorts:
    """The stored cohorts (`services.cohorts_refresh`) of the user's departments (None: an
    operator sees all): customers by acquisition month (their acquisition date; without
    one, their first order's month), the `last` most recent cohorts, per month since
    acquisition the share who bought that month and the revenue per customer; as of the
    refresh (`computed_at`). Each department's cells are summed over the departments the
    user sees, in the database. Nothing stored yet: `NOT_COMPUTED` (never zeros)."""
    latest = CohortSnapshot.objects.order_by("-computed_at", "-pk")
    # One statement reads the cells with their snapshot, so a refresh committing meanwhile
    # shows the old cohorts or the new ones, never a mix.
    rows = list(
        _scoped(CohortCell.objects.filter(snapshot=Subquery(latest.values("pk")[:1])), user)
        .values(
            "snapshot__computed_at",
            "snapshot__first_order",
            "snapshot__last_order",
            "cohort",
            "months_since",
        )
        .annotate(n=Sum("customers"), active_n=Sum("active"), money=Sum("revenue"))
        .order_by()
    )
    if rows:
        head = rows[0]
        computed_at = head["snapshot__computed_at"]
        first, last_order = head["snapshot__first_order"], head["snapshot__last_order"]
    else:
        snapshot = latest.first()
        if snapshot is None:
            return NOT_COMPUTED
        computed_at = snapshot.computed_at
        first, last_order = snapshot.first_order, snapshot.last_order
    cells = [
        Cell(
            cohort=month_index(r["cohort"]),
            months_since=r["months_since"],
            customers=r["n"],
            active=r["active_n"],
            revenue=float(r["money"] or 0),
        )
        for r in rows
    ]
    return assemble(
        cells,
        first_order=month_index(first),
        last_order=month_index(last_order),
        last=last,
        computed_at=computed_at,
    )


def cohorts_live(*, user: Actor | None, last: int = LAST) -> Cohorts:
    """The cohorts as `cohorts` shows them, computed now from the customers and orders of
    the user's departments (grouped in the database; seconds at 100,000 customers): what
    the refresh stores, and what the tests hold the stored cohorts to."""
    customers = _scoped(Customer.objects.all(), user)
    cells = [
        Cell(
            cohort=month_index(r["cohort"]), months_since=0, customers=r["n"], active=0, revenue=0.0
        )
        for r in cohort_sizes(customers, by_department=False)
    ]
    for r in cohort_months(
        Order.objects.filter(customer__in=customers.values("pk")), by_department=False
    ):
        c, m = month_index(r["cohort"]), month_index(r["month"])
        if c is None or m is None:
            continue
        cells.append(
            Cell(
                cohort=c,
                months_since=m - c,
                customers=0,
                active=r["buyers"],
                revenue=float(r["revenue"] or 0),
            )
        )
    first, last_order = order_span()
    return assemble(cells, first_order=first, last_order=last_order, last=last)


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
