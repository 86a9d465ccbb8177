"""What a report holds: one scorecard scored for one period, as its pages show it to the
reader: the tree, each indicator's history, what to fix first, and breakdowns of metric
indicators computed within the reader's departments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils import timezone

from crm_scorecard.accounts.scope import Actor
from crm_scorecard.errors import Invalid
from crm_scorecard.metrics.api import (
    DIMENSIONS,
    MetricError,
    Unit,
    UnknownColumn,
    format_value,
    metric_series,
)
from crm_scorecard.periods import PeriodError, month_first, month_index, month_of
from crm_scorecard.scorecards import analysis, scoring
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards.comments import author_name, indicator_comments
from crm_scorecard.scorecards.models import Indicator, Scorecard

HISTORY_MONTHS = 12
UNITS = {u.value for u in Unit}


def value_text(value: float | None, unit: str | None) -> str:
    """`value` in `unit` as the pages write it; a unit the registry does not know (free
    text on a manual indicator, such as "calls") follows the number."""
    unit = (unit or "").strip()
    if unit in UNITS:
        return format_value(value, unit)
    text = format_value(value, Unit.RATIO)
    return f"{text} {unit}" if unit and value is not None else text


@dataclass(frozen=True)
class Row:
    """One line of the scored tree: a perspective, goal or indicator, with where it sits."""

    node: scoring.Result
    depth: int  # 0 perspective, 1 goal, 2 its indicators and sub-goals, ...
    perspective: str
    goal: str  # the goal an indicator belongs to ("" for perspectives)

    @property
    def unit(self) -> str:
        return self.node.indicator.unit if self.node.indicator else ""


@dataclass(frozen=True)
class Breakdown:
    """A metric indicator's value for the period split by one dimension, as the indicator
    page shows it; `error` says why it could not be computed."""

    indicator: str
    unit: str
    dimension: str
    points: list[tuple[str, float | None]]
    error: str = ""


@dataclass(frozen=True)
class Note:
    """A person's comment on an indicator's value for a month, as the pack prints it."""

    period: str
    text: str
    author: str
    when: str  # the day it was written, "2 Dec 2026"


@dataclass
class Report:
    """One scorecard scored for one period, for one reader."""

    scorecard: Scorecard
    evaluation: sel.Evaluation
    generated_at: datetime
    rows: list[Row]
    fix_first: list[analysis.Priority]
    breakdowns: list[Breakdown] = field(default_factory=list)
    notes: dict[str, list[Note]] = field(default_factory=dict)  # by indicator key

    @property
    def result(self) -> scoring.Result:
        return self.evaluation.result

    @property
    def period(self) -> str:
        return self.evaluation.period

    @property
    def department(self) -> str:
        return self.scorecard.department.name

    @property
    def generated_text(self) -> str:
        """When it was made, in the site's time zone (TIME_ZONE), named."""
        return timezone.localtime(self.generated_at).strftime("%Y-%m-%d %H:%M %Z")

    @property
    def indicators(self) -> list[Row]:
        return [r for r in self.rows if r.node.kind == "indicator"]

    def history(self, row: Row) -> list[tuple[str, float | None]]:
        return self.evaluation.history.get(row.node.key, [])

    def comments(self, row: Row) -> list[Note]:
        """The comments on the months of the indicator's history chart, oldest first."""
        return self.notes.get(row.node.key, [])


def _notes(
    rows: list[Row], history: dict[str, list[tuple[str, float | None]]]
) -> dict[str, list[Note]]:
    periods = sorted({p for r in rows for p, _ in history.get(r.node.key, [])})
    if not periods:
        return {}
    found = indicator_comments(
        indicator_ids=[int(r.node.key) for r in rows if r.node.kind == "indicator"],
        since=month_first(periods[0]),
        until=month_first(periods[-1]),
    )
    return {
        str(pk): [
            Note(
                period=f"{c.period_start:%Y-%m}",
                text=c.text,
                author=author_name(c),
                when=f"{timezone.localtime(c.created_at):%d %b %Y}".lstrip("0"),
            )
            for c in comments
        ]
        for pk, comments in found.items()
    }


def _rows(result: scoring.Result) -> list[Row]:
    rows: list[Row] = []

    def visit(node: scoring.Result, depth: int, perspective: str, goal: str) -> None:
        rows.append(Row(node, depth, perspective, goal))
        for child in node.children:
            visit(child, depth + 1, perspective, node.name if node.kind == "goal" else goal)

    for perspective in result.children:
        visit(perspective, 0, perspective.name, "")
    return rows


def check_period(period: str) -> str:
    """A month a report can be made for: "YYYY-MM", not after the current month."""
    try:
        month_index(period)
    except PeriodError as exc:
        raise Invalid(f"period: {exc}") from None
    today = timezone.now().date()
    if month_first(period) > today:
        raise Invalid(
            f"period: {period} is in the future; the latest is {month_of(today)} (this month)"
        )
    return period


def _breakdowns(
    report_rows: list[Row], period: str, dimensions: Sequence[str], user: Actor | None
) -> list[Breakdown]:
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown:
        raise Invalid(
            f"breakdown: unknown dimension {unknown[0]!r}; use one of {', '.join(DIMENSIONS)}"
        )
    keys = [r.node.key for r in report_rows if r.node.indicator and r.node.indicator.metric]
    models = {
        str(i.pk): i
        for i in Indicator.objects.filter(pk__in=keys).select_related(
            "goal__perspective__scorecard__department",
            "cascaded_from__goal__perspective__scorecard__department",
        )
    }
    start: date = month_first(period)
    found: list[Breakdown] = []
    for row in report_rows:
        indicator = models.get(row.node.key)
        if indicator is None or row.node.indicator is None:
            continue
        metric = (indicator.cascaded_from or indicator).metric
        for dimension in dimensions:
            try:
                points = metric_series(
                    key=metric,
                    user=user,
                    by=dimension,
                    filters=sel.indicator_filters(indicator=indicator),
                    since=start,
                    until=start,
                )
            except (UnknownColumn, MetricError) as exc:
                found.append(Breakdown(row.node.name, row.unit, dimension, [], str(exc)))
                continue
            found.append(
                Breakdown(
                    row.node.name,
                    row.unit,
                    dimension,
                    [(p.dimension_value or "(none)", p.value) for p in points],
                )
            )
    return found


def report_build(
    *,
    scorecard: Scorecard,
    user: Actor | None,
    period: str | None = None,
    breakdowns: Sequence[str] = (),
) -> Report:
    """The report's content for `scorecard` in `period` (default: the month pages open on).
    The caller has already checked that `user` may see the scorecard (`exports` does);
    breakdowns are computed within `user`'s departments (None: the whole company, for an
    operator at the command line). Raises `scoring.DefinitionError` when the scorecard
    cannot be scored, `Invalid` for a malformed or future period or an unknown dimension."""
    if period is not None:
        check_period(period)
    ev = sel.evaluation(scorecard=scorecard, period=period, months=HISTORY_MONTHS)
    rows = _rows(ev.result)
    return Report(
        scorecard=scorecard,
        evaluation=ev,
        generated_at=timezone.now(),
        rows=rows,
        fix_first=analysis.fix_first(ev.result),
        breakdowns=_breakdowns(rows, ev.period, breakdowns, user) if breakdowns else [],
        notes=_notes(rows, ev.history),
    )
