"""The one entry to reports for every face: the page's download button and the API call
`report_export` with the acting user; `crm-scorecard report` finds the scorecard by name
and calls `report_render`. An export holds only what its reader may see."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from crm_scorecard.accounts.scope import Actor
from crm_scorecard.errors import Invalid
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards.models import Scorecard

from . import excel, pdf
from .content import report_build
from .tables import Table, table_csv


class Format(StrEnum):
    PDF = "pdf"
    XLSX = "xlsx"
    CSV = "csv"  # one table (see tables.Table)


CONTENT_TYPES = {
    Format.PDF: "application/pdf",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.CSV: "text/csv; charset=utf-8",
}


@dataclass(frozen=True)
class Export:
    """A finished report: what to send, under what name and type."""

    filename: str
    content_type: str
    content: bytes


def _stem(text: str) -> str:
    """A file name part from people's text: no control characters or path separators."""
    cleaned = "".join(
        " " if unicodedata.category(c).startswith("C") or c in "/\\" else c for c in text
    )
    return "-".join(cleaned.lower().split())


def report_render(
    *,
    scorecard: Scorecard,
    user: Actor | None,
    fmt: str,
    period: str | None = None,
    breakdowns: Sequence[str] = (),
    table: str = Table.TREE,
) -> Export:
    """`scorecard` for `period` (default: the month pages open on) as a PDF board pack, an
    Excel workbook, or one of its tables as CSV (`table`: tree, history, fix-first,
    breakdowns). The caller has found `scorecard` within what `user` may see (None: an
    operator at the command line, who sees the whole company); breakdowns of metric
    indicators by `breakdowns` (dimensions) are computed within `user`'s departments.
    Raises `Invalid` (format, table, period, dimension) and `scoring.DefinitionError` (a scorecard
    that cannot be scored)."""
    try:
        chosen = Format(fmt)
    except ValueError:
        raise Invalid(f"format: {fmt!r} is not one of {', '.join(Format)}") from None
    try:
        which = Table(table)
    except ValueError:
        raise Invalid(f"table: {table!r} is not one of {', '.join(Table)}") from None
    report = report_build(scorecard=scorecard, user=user, period=period, breakdowns=breakdowns)
    parts = [_stem(scorecard.name), _stem(report.department), report.period]
    if chosen == Format.PDF:
        content = pdf.document(report)
    elif chosen == Format.XLSX:
        content = excel.workbook(report)
    else:
        content = table_csv(report, which)
        parts.append(which.value)
    stem = "-".join(part for part in parts if part)
    return Export(f"{stem}.{chosen.value}", CONTENT_TYPES[chosen], content)


def report_export(
    *,
    user: Actor,
    pk: int,
    fmt: str,
    period: str | None = None,
    breakdowns: Sequence[str] = (),
    table: str = Table.TREE,
) -> Export:
    """What the page button and the API call: the scorecard `pk` as `user` may see it; one
    outside their departments answers like one that does not exist (the selector raises
    `errors.NotFound`, which each face maps to its 404)."""
    scorecard = sel.scorecard_get(user=user, pk=pk)
    return report_render(
        scorecard=scorecard, user=user, fmt=fmt, period=period, breakdowns=breakdowns, table=table
    )
