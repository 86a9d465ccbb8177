"""A scorecard as an Excel workbook: the scored tree with stop-light fills, each
indicator's history (a commented month's value carries its comments as a cell note), what
to fix first, any breakdowns and the comments. Numbers are numbers, formatted
by their unit; "no data" is text, never 0; whatever people typed is text, never a formula."""

from __future__ import annotations

import io
import math
from datetime import timedelta
from typing import Any, cast

from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from crm_scorecard.metrics.api import Unit, currency_symbol

from .content import Note, Report, Row

# The stop-light colours of the pages (strategy map, lights), as cell fills.
FILLS = {
    "green": PatternFill("solid", fgColor="16A34A"),
    "yellow": PatternFill("solid", fgColor="EAB308"),
    "red": PatternFill("solid", fgColor="DC2626"),
    "grey": PatternFill("solid", fgColor="9CA3AF"),
}
STATUS_FONT = {"green": "FFFFFF", "yellow": "000000", "red": "FFFFFF", "grey": "000000"}
HEADER = Font(bold=True)
NO_DATA = Font(italic=True, color="6B7280")
SCORE_FORMAT = "0%"
WEIGHT_FORMAT = "0.0%"


def number_format(unit: str, value: float) -> str:
    """The Excel number format that writes `value` as the pages do (metrics.units)."""
    size = abs(value)
    match unit:
        case Unit.CURRENCY:
            symbol = currency_symbol().replace('"', "")
            return f'"{symbol}"#,##0' if size >= 1000 else f'"{symbol}"#,##0.00'
        case Unit.PERCENT:
            return "0.0%"
        case Unit.SECONDS:
            return "[h]:mm:ss" if size >= 3600 else "[m]:ss"
        case Unit.HOURS:
            return '#,##0.0" h"'
        case Unit.SCORE:
            return '0.00" / 5"'
        case Unit.NPS:
            return "+0.0;-0.0;0.0"
        case Unit.COUNT:
            return "#,##0" if size == int(size) else "#,##0.0"
    if unit:  # free text on a manual indicator ("calls"): the number, then the unit
        return '#,##0.00" ' + unit.replace('"', "").replace("\\", "") + '"'
    return "#,##0.00"


def _text(cell: Cell, text: str) -> Cell:
    """Text exactly as typed: a name starting with =, +, - or @ stays text in every
    spreadsheet program (stored as a string, marked as text for editing too)."""
    cell.value = text
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def _cell(ws: Worksheet, row: int, column: int) -> Cell:
    """A plain cell (this workbook merges none)."""
    return cast(Cell, ws.cell(row=row, column=column))


def _put(ws: Worksheet, row: int, column: int, value: Any, fmt: str | None = None) -> Cell:
    cell = _cell(ws, row, column)
    if isinstance(value, str):
        return _text(cell, value)
    cell.value = value
    if fmt:
        cell.number_format = fmt
    return cell


def _value(ws: Worksheet, row: int, column: int, value: float | None, unit: str) -> Cell:
    """A value in its unit; no data is the words "no data", never an empty cell or 0."""
    if value is None or math.isnan(value):
        cell = _text(_cell(ws, row, column), "no data")
        cell.font = NO_DATA
        return cell
    if unit == Unit.SECONDS:  # a duration Excel can add up and shows as m:ss
        return _put(ws, row, column, timedelta(seconds=value), number_format(unit, value))
    return _put(ws, row, column, value, number_format(unit, value))


def _score(ws: Worksheet, row: int, column: int, score: float | None) -> Cell:
    if score is None:
        cell = _text(_cell(ws, row, column), "no data")
        cell.font = NO_DATA
        return cell
    return _put(ws, row, column, score, SCORE_FORMAT)


def _status(ws: Worksheet, row: int, column: int, status: str) -> Cell:
    """The stop-light as a filled cell that also says its colour (for print and for
    people who do not tell red from green)."""
    cell = _text(_cell(ws, row, column), status)
    cell.fill = FILLS[status]
    cell.font = Font(bold=True, color=STATUS_FONT[status])
    cell.alignment = Alignment(horizontal="center")
    return cell


def _header(ws: Worksheet, row: int, titles: list[str]) -> None:
    for column, title in enumerate(titles, start=1):
        _put(ws, row, column, title).font = HEADER
    ws.freeze_panes = _cell(ws, row + 1, 1)


def _widths(ws: Worksheet, widths: list[int]) -> None:
    for column, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(column)].width = width


TREE_COLUMNS = [
    "Level",
    "Name",
    "Value",
    "Target",
    "Score",
    "Status",
    "Weight",
    "Absolute weight",
    "Unit",
    "Value from",
    "Whose numbers",
    "No data",
]
TREE_FIRST_ROW = 7  # the header; rows of the tree follow


def _scorecard_sheet(ws: Worksheet, report: Report) -> None:
    ws.title = "Scorecard"
    result = report.result
    _put(ws, 1, 1, report.scorecard.name).font = Font(bold=True, size=14)
    for row, (label, value) in enumerate(
        [
            ("Department", report.department),
            ("Period", report.period),
            ("Generated at", report.generated_text),
        ],
        start=2,
    ):
        _put(ws, row, 1, label).font = HEADER
        _put(ws, row, 2, value)
    _put(ws, 5, 1, "Overall score").font = HEADER
    _score(ws, 5, 2, result.score)
    _status(ws, 5, 3, result.status.value)
    _header(ws, TREE_FIRST_ROW, TREE_COLUMNS)
    for offset, line in enumerate(report.rows, start=1):
        _tree_row(ws, TREE_FIRST_ROW + offset, line)
    _widths(ws, [12, 48, 14, 14, 9, 9, 9, 15, 10, 11, 24, 30])


def _tree_row(ws: Worksheet, r: int, line: Row) -> None:
    node = line.node
    _put(ws, r, 1, node.kind.title())
    name = _put(ws, r, 2, node.name)
    name.alignment = Alignment(indent=line.depth * 2)
    if node.kind != "indicator":
        name.font = HEADER
    if node.kind == "indicator":
        _value(ws, r, 3, node.value, line.unit)
        if node.target is not None:
            _value(ws, r, 4, node.target, line.unit)
        _put(ws, r, 9, line.unit)
        if node.value_period:
            _put(ws, r, 10, node.value_period + (" (stale)" if node.stale else ""))
        ind = node.indicator
        if ind is not None and ind.metric:
            _put(ws, r, 11, ind.scope or "department")
    _score(ws, r, 5, node.score)
    _status(ws, r, 6, node.status.value)
    _put(ws, r, 7, node.weight, "General")
    _put(ws, r, 8, node.absolute_weight, WEIGHT_FORMAT)
    if node.no_data:
        _put(ws, r, 12, ", ".join(node.no_data))


def _history_sheet(ws: Worksheet, report: Report) -> None:
    """One row of values and one of targets per indicator, a column per month."""
    indicators = report.indicators
    periods = [p for p, _ in report.history(indicators[0])] if indicators else []
    _header(ws, 1, ["Perspective", "Goal", "Indicator", "Series", *periods])
    r = 2
    for line in indicators:
        ind = line.node.indicator
        assert ind is not None
        history = report.history(line)
        for series in ("value", "target"):
            for column, text in enumerate([line.perspective, line.goal, line.node.name], start=1):
                _put(ws, r, column, text)
            _put(ws, r, 4, series)
            notes = _by_period(report.comments(line)) if series == "value" else {}
            for column, (period, value) in enumerate(history, start=5):
                shown = value if series == "value" else ind.target_at(period)
                cell = _value(ws, r, column, shown, line.unit)
                if period in notes:  # a note on the value, as the chart's pin on the page
                    cell.comment = Comment(notes[period], "CRM Scorecard", width=300)
            r += 1
    _widths(ws, [20, 28, 36, 8, *[11 for _ in periods]])


def _by_period(notes: list[Note]) -> dict[str, str]:
    """Each commented month's comments as one cell note: "text — author, day" per line."""
    found: dict[str, list[str]] = {}
    for n in notes:
        found.setdefault(n.period, []).append(f"{n.text} — {n.author}, {n.when}")
    return {period: "\n".join(lines) for period, lines in found.items()}


def _comments_sheet(ws: Worksheet, report: Report) -> None:
    """Every comment on the months of the history, oldest first per indicator."""
    _header(ws, 1, ["Perspective", "Goal", "Indicator", "Month", "Comment", "By", "Written"])
    r = 2
    for line in report.indicators:
        for n in report.comments(line):
            texts = [line.perspective, line.goal, line.node.name, n.period, n.text, n.author]
            for column, text in enumerate([*texts, n.when], start=1):
                _put(ws, r, column, text)
            _cell(ws, r, 5).alignment = Alignment(wrap_text=True, vertical="top")
            r += 1
    _widths(ws, [20, 28, 36, 9, 60, 18, 12])


def _fix_first_sheet(ws: Worksheet, report: Report) -> None:
    _header(ws, 1, ["Rank", "Indicator", "Score", "Absolute weight", "Gain if fixed"])
    for r, p in enumerate(report.fix_first, start=2):
        _put(ws, r, 1, r - 1)
        _put(ws, r, 2, p.name)
        _put(ws, r, 3, p.score, SCORE_FORMAT)
        _put(ws, r, 4, p.absolute_weight, WEIGHT_FORMAT)
        _put(ws, r, 5, p.impact, WEIGHT_FORMAT)
    if not report.fix_first:
        _put(ws, 2, 2, "Nothing to gain: every scored indicator is on target, or has no data.")
    _widths(ws, [6, 40, 9, 15, 13])


def _breakdown_sheet(ws: Worksheet, report: Report) -> None:
    _header(ws, 1, ["Indicator", "Dimension", "Dimension value", "Value", "Note"])
    r = 2
    for b in report.breakdowns:
        if b.error or not b.points:
            for column, text in enumerate(
                [b.indicator, b.dimension, "", "", b.error or "no data"], start=1
            ):
                _put(ws, r, column, text)
            r += 1
            continue
        for label, value in b.points:
            _put(ws, r, 1, b.indicator)
            _put(ws, r, 2, b.dimension)
            _put(ws, r, 3, label)
            _value(ws, r, 4, value, b.unit)
            r += 1
    _widths(ws, [36, 16, 28, 14, 40])


def workbook(report: Report) -> bytes:
    """The report as .xlsx bytes."""
    wb = Workbook()
    active = wb.active
    assert active is not None
    _scorecard_sheet(active, report)
    _history_sheet(wb.create_sheet("History"), report)
    _fix_first_sheet(wb.create_sheet("Fix first"), report)
    if report.breakdowns:
        _breakdown_sheet(wb.create_sheet("Breakdowns"), report)
    if any(report.notes.values()):
        _comments_sheet(wb.create_sheet("Comments"), report)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
