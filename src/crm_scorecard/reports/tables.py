"""The scorecard's tables as CSV: the tree, the history, what to fix first and the
breakdowns, one file each, with raw numbers (scores and rates as 0–1 fractions, durations
in seconds) and their unit in a column, so another program can read them back.

`csv_bytes` is the one way to write a CSV of people's text: a cell that a spreadsheet would
run as a formula (starting with =, +, -, @, tab or carriage return) is written with a
leading apostrophe, as OWASP advises, so it opens as the text that was typed."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

from .content import Report

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


def text_cell(value: Cell) -> str:
    """A cell as CSV text: numbers at full precision; None (no data) as the words "no
    data", never empty or 0; typed text that starts like a formula with an apostrophe."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # 800000, not 800000.0
        return repr(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """A CSV file (UTF-8 with a byte-order mark, so spreadsheet programs read € and ü)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([text_cell(h) for h in header])
    for row in rows:
        writer.writerow([text_cell(c) for c in row])
    return out.getvalue().encode("utf-8-sig")


class Table(StrEnum):
    TREE = "tree"
    HISTORY = "history"
    FIX_FIRST = "fix-first"
    BREAKDOWNS = "breakdowns"


def _tree(report: Report) -> bytes:
    header = ["level", "perspective", "goal", "name", "depth", "value", "target", "unit"]
    header += ["score", "status", "weight", "absolute_weight", "value_period", "stale", "scope"]
    rows: list[list[Cell]] = []
    for row in report.rows:
        node = row.node
        indicator = node.kind == "indicator"
        ind = node.indicator
        rows.append(
            [
                node.kind,
                row.perspective,
                row.goal,
                node.name,
                row.depth,
                node.value if indicator else "",
                node.target if indicator else "",
                row.unit,
                node.score,
                node.status.value,
                node.weight,
                node.absolute_weight,
                node.value_period or "",
                ("yes" if node.stale else "no") if indicator else "",
                (ind.scope or "department") if ind is not None and ind.metric else "",
            ]
        )
    return csv_bytes(header, rows)


def _history(report: Report) -> bytes:
    rows: list[list[Cell]] = []
    for line in report.indicators:
        ind = line.node.indicator
        assert ind is not None
        for period, value in report.history(line):
            target = ind.target_at(period)
            rows.append([line.perspective, line.goal, line.node.name, period, value, target])
            rows[-1].append(line.unit)
    return csv_bytes(
        ["perspective", "goal", "indicator", "period", "value", "target", "unit"], rows
    )


def _fix_first(report: Report) -> bytes:
    return csv_bytes(
        ["rank", "indicator", "score", "absolute_weight", "gain"],
        [
            [rank, p.name, p.score, p.absolute_weight, p.impact]
            for rank, p in enumerate(report.fix_first, start=1)
        ],
    )


def _breakdowns(report: Report) -> bytes:
    rows: list[list[Cell]] = []
    for b in report.breakdowns:
        if b.error:
            rows.append([b.indicator, b.dimension, "", "", b.unit, b.error])
        for label, value in b.points:
            rows.append([b.indicator, b.dimension, label, value, b.unit, ""])
    return csv_bytes(["indicator", "dimension", "dimension_value", "value", "unit", "error"], rows)


WRITERS: dict[Table, Callable[[Report], bytes]] = {
    Table.TREE: _tree,
    Table.HISTORY: _history,
    Table.FIX_FIRST: _fix_first,
    Table.BREAKDOWNS: _breakdowns,
}


def table_csv(report: Report, table: Table) -> bytes:
    """One of the report's tables as CSV."""
    return WRITERS[table](report)
