"""Customers › Profile: customers, active customers, revenue and orders by one or two
dimensions, as a sorted bar chart or a heat map, its table and a CSV of it. Thin: parse the
query string, call the metrics layer (which keeps to the user's departments), render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from crm_scorecard.errors import Invalid
from crm_scorecard.metrics.api import (
    PROFILE_MEASURES,
    Profile,
    currency_symbol,
    customer_profile,
    profile_check,
    profile_dimensions,
)
from crm_scorecard.reports.exports import CONTENT_TYPES, Format
from crm_scorecard.reports.tables import csv_bytes

from ..templatetags.numbers import value_text
from .shared import attachment, file_stem

CHART_LIMIT = 25  # bars, and rows and columns of a heat map (the largest; the table has all)
TABLE_LIMIT = 500  # rows on the page; the CSV has every row
FILTER_SLOTS = 3
DEFAULT_BY = ("product_category", "age_bracket")


@dataclass
class Asked:
    """The profile the query string asks for (defaults: categories by age bracket)."""

    by: list[str]
    measure: str
    share: bool
    since: date | None
    until: date | None
    filters: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, query: QueryDict) -> Asked:
        first, second = query.get("by", ""), query.get("by2", "")
        if "by" not in query:
            first, second = DEFAULT_BY
        pairs = [
            (d, v.strip())
            for d, v in zip(query.getlist("fdim"), query.getlist("fval"), strict=False)
            if d and v.strip()
        ]
        return cls(
            by=[d for d in (first, second) if d],
            measure=query.get("measure") or "customers",
            share=query.get("share") == "1",
            since=_day(query.get("since", ""), "From"),
            until=_day(query.get("until", ""), "To"),
            filters=pairs,
        )


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None


def _profile(request: HttpRequest) -> tuple[Asked, Profile]:
    asked = Asked.read(request.GET)
    profile_check(
        by=asked.by,
        filters=asked.filters,
        since=asked.since,
        until=asked.until,
        measure=asked.measure,
    )
    found = customer_profile(
        user=request.user,
        by=asked.by,
        filters=asked.filters,
        since=asked.since,
        until=asked.until,
    )
    return asked, found


def dimension_text(name: str) -> str:
    """A dimension as the page names it: "product_category" -> "Product category"."""
    return name.replace("_", " ").capitalize()


def customer_profile_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "dimensions": [(d, dimension_text(d)) for d in profile_dimensions()],
        "measures": PROFILE_MEASURES.values(),
        "filter_slots": range(FILTER_SLOTS),
    }
    try:
        asked, found = _profile(request)
    except Invalid as exc:
        # The form stays as typed, with why, so the user can correct it.
        context.update(error=str(exc), form=_raw(request.GET), filters=_raw_filters(request))
        return render(request, "web/profile.html", context, status=400)
    measure = PROFILE_MEASURES[asked.measure]
    share = found.shares(asked.measure) if asked.share else {}
    ordered = found.ordered(asked.measure)
    context.update(
        asked=asked,
        by_text=[dimension_text(d) for d in asked.by],
        filter_text=[(dimension_text(d), v) for d, v in asked.filters],
        form={
            "by": asked.by,
            "measure": asked.measure,
            "share": asked.share,
            "since": asked.since.isoformat() if asked.since else "",
            "until": asked.until.isoformat() if asked.until else "",
        },
        filters=asked.filters + [("", "")] * (FILTER_SLOTS - len(asked.filters)),
        measure=measure,
        rows=[
            {"row": r, "share": share.get(r.values) if asked.share else None}
            for r in ordered[:TABLE_LIMIT]
        ],
        total_rows=len(ordered),
        table_limit=TABLE_LIMIT,
        chart=_chart(found, asked) if ordered else None,
        csv_query=request.GET.urlencode(),
    )
    return render(request, "web/profile.html", context)


def _raw(query: QueryDict) -> dict[str, Any]:
    return {
        "by": [query.get("by", ""), query.get("by2", "")],
        "measure": query.get("measure", "customers"),
        "share": query.get("share") == "1",
        "since": query.get("since", ""),
        "until": query.get("until", ""),
    }


def _raw_filters(request: HttpRequest) -> list[tuple[str, str]]:
    pairs = list(zip(request.GET.getlist("fdim"), request.GET.getlist("fval"), strict=False))
    return (pairs + [("", "")] * FILTER_SLOTS)[:FILTER_SLOTS]


def _chart(found: Profile, asked: Asked) -> dict[str, Any]:
    """What profile.js draws: a heat map of two dimensions, sorted bars of one. Values
    come with their labels worded here (the page's units); a missing cell is null."""
    measure = PROFILE_MEASURES[asked.measure]
    unit = "percent" if asked.share else measure.unit
    title = f"{measure.name}" + (" (share of the row)" if asked.share else "")
    if len(found.by) == 2:
        grid = found.grid(asked.measure, share=asked.share, limit=CHART_LIMIT)
        return {
            "kind": "heatmap",
            "title": title,
            "rowsName": dimension_text(found.by[0]),
            "columnsName": dimension_text(found.by[1]),
            "rows": grid.rows,
            "columns": grid.columns,
            "cells": [
                [j, i, v, value_text(v, unit)]
                for i, line in enumerate(grid.cells)
                for j, v in enumerate(line)
                if v is not None
            ],
            "empty": [
                [j, i] for i, line in enumerate(grid.cells) for j, v in enumerate(line) if v is None
            ],
            "unit": unit,
            "currency": currency_symbol(),
        }
    shares = found.shares(asked.measure) if asked.share else {}
    bars = found.ordered(asked.measure)[:CHART_LIMIT]
    values = [shares[r.values] if asked.share else r.measure(asked.measure) for r in bars]
    return {
        "kind": "bar",
        "title": title,
        "name": dimension_text(found.by[0]),
        "labels": [r.values[0] for r in bars],
        "values": values,
        "valueLabels": [value_text(v, unit) for v in values],
        "unit": unit,
        "currency": currency_symbol(),
    }


def customer_profile_csv(request: HttpRequest) -> HttpResponse:
    """The page's table as CSV: every row (not only those the page shows), raw numbers."""
    asked, found = _profile(request)
    header = [*found.by, *PROFILE_MEASURES]
    share = found.shares(asked.measure) if asked.share else {}
    if asked.share:
        header.append(f"share_of_row_{asked.measure}")
    rows = []
    for r in found.ordered(asked.measure):
        cells: list[str | int | float | None] = [*r.values]
        cells += [r.customers, r.active_customers, r.revenue, r.orders]
        if asked.share:
            cells.append(share[r.values])
        rows.append(cells)
    return attachment(
        filename=f"{file_stem('customer-profile', *found.by)}.csv",
        content_type=CONTENT_TYPES[Format.CSV],
        content=csv_bytes(header, rows),
    )
