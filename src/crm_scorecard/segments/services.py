"""Writes of the segments app: each customer's RFM scores at a date, for all customers at
once, and saved segments."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import batched
from typing import Any, cast

import pandas as pd
from django.db import connection, transaction
from django.db.models import Count, Field, FloatField, Max, Q, Sum
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.accounts.scope import Actor, visible_department_ids
from crm_scorecard.crm.bulk import insert_rows, next_id, reset_sequences
from crm_scorecard.crm.changes import tables_touch
from crm_scorecard.crm.models import Customer, Order, OrderLine
from crm_scorecard.errors import Invalid, NotAllowed

from . import rfm
from .cohorts import cohort_months, cohort_sizes, month_date, month_index, order_span
from .filters import clean_filters
from .models import CohortCell, CohortSnapshot, RfmScore, SavedSegment

COLUMNS = ("id", "as_of", "customer_id", "recency_days", "frequency", "monetary", "r", "f", "m")


def cutoff(as_of: date) -> datetime:
    """The end of the day `as_of` (UTC): orders before it count."""
    return datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)


def rfm_frame(*, as_of: date) -> pd.DataFrame:
    """One row per customer known at `as_of` (acquired by then, or with no acquisition
    date, or who bought by then): recency_days (NaN: no purchase), frequency (days with a
    purchase) and monetary (revenue), over every order placed up to the end of the day.
    Three grouped queries; nothing is read row by row through the ORM."""
    end = cutoff(as_of)
    orders = pd.DataFrame.from_records(
        Order.objects.filter(ordered_at__lt=end)
        .values("customer_id")
        .annotate(
            last=Max("ordered_at"), days=Count(TruncDate("ordered_at", tzinfo=UTC), distinct=True)
        )
        .order_by()
        .values_list("customer_id", "last", "days"),
        columns=["customer_id", "last", "days"],
    )
    revenue = pd.DataFrame.from_records(
        OrderLine.objects.filter(order__ordered_at__lt=end)
        .values("order__customer_id")
        .annotate(total=Sum("amount"), value=Cast(Sum("amount"), FloatField()))
        .order_by()
        .values_list("order__customer_id", "total", "value"),
        columns=["customer_id", "monetary", "monetary_value"],
    )
    known = pd.DataFrame.from_records(
        Customer.objects.filter(Q(acquired_at__lt=end) | Q(acquired_at__isnull=True))
        .order_by()
        .values_list("pk"),
        columns=["customer_id"],
    )
    ids = pd.Index(known["customer_id"]).union(pd.Index(orders["customer_id"]))
    frame = pd.DataFrame(index=ids.rename("customer_id"))
    orders = orders.set_index("customer_id")
    last = pd.to_datetime(orders["last"], utc=True).dt.tz_localize(None).dt.normalize()
    recency = (pd.Timestamp(as_of) - last).dt.days
    frame["recency_days"] = recency.reindex(frame.index).astype("float64")
    frame["frequency"] = orders["days"].reindex(frame.index).fillna(0).astype("int64")
    revenue = revenue.set_index("customer_id").reindex(frame.index)
    # Stored exactly (Decimal, as summed by the database); scored as a float.
    frame["monetary"] = revenue["monetary"].where(revenue["monetary"].notna(), Decimal(0))
    frame["monetary_value"] = revenue["monetary_value"].astype("float64").fillna(0.0)
    return frame.sort_index()


@transaction.atomic
def rfm_refresh(*, as_of: date) -> int:
    """Score every customer at `as_of` and store the result, replacing that date's rows
    (other dates stay, for moves between segments). Returns how many customers were
    scored."""
    scored = rfm.score(rfm_frame(as_of=as_of))
    RfmScore.objects.filter(as_of=as_of).delete()
    first = next_id(RfmScore)

    def scores(column: str) -> list[int | None]:
        return [None if v is pd.NA else int(v) for v in scored[column].tolist()]

    recency = [None if v != v else int(v) for v in scored["recency_days"].tolist()]
    rows = zip(
        range(first, first + len(scored)),
        [as_of] * len(scored),
        [int(c) for c in scored.index.tolist()],
        recency,
        [int(v) for v in scored["frequency"].tolist()],
        scored["monetary"].tolist(),
        scores("r"),
        scores("f"),
        scores("m"),
        scored["segment"].tolist(),
        strict=True,
    )

    count = _insert((*COLUMNS, "segment"), rows)
    reset_sequences(RfmScore)
    return count


def rfm_prune_month(*, as_of: date) -> int:
    """Delete the scores of the days of `as_of`'s month before `as_of`, keeping `as_of`'s
    and every other month's. The nightly run scores every customer each day and calls this
    after: the table keeps one date per past month (its last night) and today's, so it grows
    by one set of scores a month, not a day, and the moves read from the end of last month.
    Returns how many rows were deleted."""
    deleted, _ = RfmScore.objects.filter(as_of__gte=as_of.replace(day=1), as_of__lt=as_of).delete()
    if deleted:
        tables_touch(RfmScore)
    return deleted


def _insert(fields: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> int:
    """Insert score rows: COPY on PostgreSQL (crm.bulk); on SQLite one prepared INSERT run
    over batches (building a model instance per row costs ten times more at a million
    customers). The statement is composed from the model's metadata alone."""
    if connection.vendor != "sqlite":
        return insert_rows(RfmScore, fields, rows)
    meta = RfmScore._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(cast(Field, meta.get_field(f)).column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    statement = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"
    count = 0
    with connection.cursor() as cursor:
        for batch in batched(rows, 50_000):
            cursor.executemany(statement, [_sqlite_row(r) for r in batch])
            count += len(batch)
    tables_touch(RfmScore)
    return count


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Values as Django writes them to SQLite: dates as ISO text, decimals as text."""
    return tuple(
        v.isoformat() if isinstance(v, date) else str(v) if isinstance(v, Decimal) else v
        for v in row
    )


refresh_rfm = rfm_refresh  # the name the issue gives it


def rfm_refresh_latest(*, dates: int = 2, step_days: int = 30) -> list[date]:
    """Score every customer on the day of the latest order and on `dates - 1` earlier
    days `step_days` apart (oldest first, so the moves read forward); the dates scored.
    Nothing when there are no orders. The demo runs it so its pages show segments and the
    moves between them."""
    last = Order.objects.order_by("-ordered_at").values_list("ordered_at", flat=True).first()
    if last is None:
        return []
    end = last.astimezone(UTC).date()
    days = [end - timedelta(days=step_days * k) for k in reversed(range(dates))]
    for day in days:
        rfm_refresh(as_of=day)
    return days


@transaction.atomic
def cohorts_refresh() -> CohortSnapshot:
    """Compute every department's cohorts (`cohorts.cohort_sizes` and `cohort_months`, the
    grouping `selectors.cohorts_live` runs for one user) and store them as the one
    snapshot, replacing the one before in the same transaction: readers see the old
    cohorts or the new ones, never half. Run nightly by the worker, by `crm-scorecard
    segments cohorts --refresh` and by the demo. Returns the new snapshot."""
    sizes: dict[tuple[int, int | None], int] = {
        (r["department"], month_index(r["cohort"])): r["n"]
        for r in cohort_sizes(Customer.objects.all(), by_department=True)
    }
    counted: dict[tuple[int, int | None, int], tuple[int, Decimal]] = {}
    for r in cohort_months(Order.objects.all(), by_department=True):
        c, m = month_index(r["cohort"]), month_index(r["month"])
        if c is None or m is None:
            continue
        counted[(r["customer__department"], c, m - c)] = (r["buyers"], r["revenue"] or Decimal(0))
    for department, cohort in sizes:  # every cohort has its month 0, where sizes are read
        counted.setdefault((department, cohort, 0), (0, Decimal(0)))
    first, last = order_span()
    CohortSnapshot.objects.all().delete()  # and its cells (cascade)
    snapshot = CohortSnapshot(
        computed_at=timezone.now(), first_order=month_date(first), last_order=month_date(last)
    )
    snapshot.full_clean()
    snapshot.save()
    CohortCell.objects.bulk_create(
        (
            CohortCell(
                snapshot=snapshot,
                department_id=department,
                cohort=month_date(cohort),
                months_since=months_since,
                customers=sizes.get((department, cohort), 0),
                active=active,
                revenue=revenue,
            )
            for (department, cohort, months_since), (active, revenue) in sorted(
                counted.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])
            )
        ),
        batch_size=5000,
    )
    return snapshot


def _may_save(user: Actor) -> bool:
    level = getattr(user, "level", None)
    return bool(getattr(user, "is_superuser", False)) or level in (
        Level.EXECUTIVE,
        Level.MANAGER,
        Level.ANALYST,
    )


@transaction.atomic
def saved_segment_create(
    *, user: Actor | None, name: str, filters: dict[str, str], department: Department
) -> SavedSegment:
    """Save a named group of customers (`filters`: field -> value, all must hold) for
    `department`. `user` None: an operator at the command line. Refused, with the reason,
    for an agent, for a department the user does not see, for a name taken and for a
    filter on an unknown field or an unknown value."""
    if user is not None:
        if not _may_save(user):
            raise NotAllowed("Only analysts, managers and executives save segments.")
        ids = visible_department_ids(user=user)
        if ids is not None and department.pk not in ids:
            raise NotAllowed("You can only save segments for your own departments.")
    name = name.strip()
    if not name or len(name) > 80 or "\x00" in name or any(c in name for c in "\r\n"):
        raise Invalid("name: 1 to 80 characters on one line")
    if SavedSegment.objects.filter(name=name).exists():
        raise Invalid(f"name: a saved segment named {name!r} exists already")
    segment = SavedSegment(
        name=name,
        filters=clean_filters(filters),
        department=department,
        created_by=user if isinstance(user, User) else None,
    )
    segment.full_clean()
    segment.save()
    return segment
