"""GET /api/segments/...: the RFM segments and moves, the cohorts, and saved segments with
their customers as CSV, as the Customers › Segments and Cohorts pages and
`crm-scorecard segments ...` give them, within the caller's departments. Thin: parse, call
the segments selectors, return. Registered in `api.endpoints`, which maps the domain's
errors (a date with no scores: 404; a malformed date: 422)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from ninja import Field, Router, Schema

from crm_scorecard.errors import NotFound
from crm_scorecard.reports.exports import CONTENT_TYPES, Format
from crm_scorecard.reports.tables import csv_bytes
from crm_scorecard.segments import selectors
from crm_scorecard.segments.models import RfmSegment

Errors = Callable[..., dict[int, Any]]


class SegmentOut(Schema):
    segment: str = Field(description=f"one of {', '.join(RfmSegment.values)}")
    label: str
    customers: int
    revenue: float = Field(description="the customers' revenue up to the date")
    share: float | None = Field(description="of the customers scored; null when none were")


class MoveOut(Schema):
    from_segment: str | None = Field(
        description="the segment at the date before; null: not yet a customer then"
    )
    to_segment: str
    customers: int


class RfmOut(Schema):
    """Every segment (empty ones with 0) at `as_of`, and every move since `previous`."""

    as_of: date | None = Field(description="null: no scores stored yet")
    previous: date | None = Field(description="the date scored before; null: none")
    customers: int
    segments: list[SegmentOut]
    moves: list[MoveOut]


class CohortOut(Schema):
    month: str = Field(description="YYYY-MM acquired")
    customers: int
    retention: list[float | None] = Field(
        description="per month since acquisition: the share who bought; null: not seen (no orders on record that month)"
    )
    revenue_per_customer: list[float | None]


class CohortsOut(Schema):
    computed_at: datetime | None = Field(
        description="when the stored cohorts were computed (nightly, or `segments cohorts --refresh`); null: not computed yet, no cohorts to show"
    )
    months: int
    last_month: str | None
    undated_customers: int = Field(description="left out: no acquisition date and no order")
    cohorts: list[CohortOut]


class SavedSegmentOut(Schema):
    id: int
    name: str
    department: str
    filters: dict[str, str] = Field(description="field -> value; every condition holds")


def segments_router(errors: Errors) -> Router:
    router = Router(tags=["segments"])

    @router.get("/rfm", response={200: RfmOut, **errors(404, 422)})
    def rfm(request: HttpRequest, as_of: date | None = None) -> dict[str, Any]:
        """RFM segments at `as_of` (default: the latest date scored) with counts and
        revenue, and how customers moved since the date scored before."""
        summary = selectors.rfm_summary(user=request.user, as_of=as_of)
        return {
            "as_of": summary.as_of,
            "previous": summary.previous,
            "customers": summary.customers,
            "segments": [s.__dict__ for s in summary.segments],
            "moves": [
                {"from_segment": m.before, "to_segment": m.after, "customers": m.customers}
                for m in summary.moves
            ],
        }

    @router.get("/cohorts", response={200: CohortsOut, **errors()})
    def cohorts(request: HttpRequest) -> dict[str, Any]:
        """Customers by acquisition month x months since: retention and revenue per
        customer."""
        return selectors.cohorts(user=request.user).as_dict()

    @router.get("/saved", response={200: list[SavedSegmentOut], **errors()})
    def saved(request: HttpRequest) -> list[dict[str, Any]]:
        """The saved segments of the caller's departments."""
        return [
            {"id": s.pk, "name": s.name, "department": s.department.name, "filters": s.filters}
            for s in selectors.saved_segments_visible(user=request.user)
        ]

    @router.get(
        "/saved/{pk}/customers",
        response=errors(404),
        openapi_extra={
            "responses": {
                200: {
                    "description": "The segment's customers now, within the caller's "
                    "departments, as CSV (cells formula-safe)",
                    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
                    "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
                }
            }
        },
    )
    def saved_customers(request: HttpRequest, pk: int) -> HttpResponse:
        segment = selectors.saved_segments_visible(user=request.user).filter(pk=pk).first()
        if segment is None:
            raise NotFound("No such saved segment.")
        rows = selectors.saved_segment_rows(user=request.user, segment=segment)
        response = HttpResponse(
            csv_bytes(selectors.EXPORT_HEADER, rows), content_type=CONTENT_TYPES[Format.CSV]
        )
        response["Content-Disposition"] = content_disposition_header(
            True, f"segment-{segment.pk}.csv"
        )
        return response

    return router
