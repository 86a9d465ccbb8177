"""An indicator's page: its history against target with the forecast, a breakdown of its
metric by a dimension, and (for a manager) the form that enters a manual value; the history
and the breakdown shown as CSV files; comments on its values (marked on the chart) and its
audit trail (who changed what, when, old and new)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from crm_scorecard.alerts.services import indicator_follow_state
from crm_scorecard.errors import Invalid
from crm_scorecard.metrics.api import DIMENSIONS, MetricError, UnknownColumn, metric_series
from crm_scorecard.periods import month_first
from crm_scorecard.reports.content import check_period
from crm_scorecard.reports.exports import CONTENT_TYPES, Format
from crm_scorecard.reports.tables import Cell, csv_bytes
from crm_scorecard.scorecards import analysis, scoring
from crm_scorecard.scorecards import comments as cm
from crm_scorecard.scorecards import history as audit
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards import services as svc
from crm_scorecard.scorecards.models import Indicator

from .. import charts, forms
from .editing import Edit, indicator_at, indicator_card
from .scorecards import find_node
from .shared import attachment, file_stem, period_asked, unscorable


def indicator_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method == "POST":
        return manual_value_enter(request, pk=pk)
    indicator = sel.indicator_get(user=request.user, pk=pk)
    return indicator_page(request, indicator, None, 200)


def indicator_page(
    request: HttpRequest,
    indicator: Indicator,
    form: forms.ManualValueForm | None,
    status: int,
    comment_form: forms.CommentForm | None = None,
) -> HttpResponse:
    scorecard = indicator_card(indicator)
    try:
        ev = sel.evaluation(scorecard=scorecard, period=period_asked(request), months=24)
    except scoring.DefinitionError as exc:
        return unscorable(request, scorecard, exc)
    node = find_node(ev.result, f"indicator:{indicator.pk}")
    assert node is not None and node.indicator is not None
    history = ev.history.get(str(indicator.pk), [])
    forecast = analysis.forecast(node.indicator, end=ev.period)
    by = request.GET.get("by", "")
    breakdown, breakdown_error = _breakdown(request, indicator, ev.period, by)
    comments = cm.indicator_comments(indicator_ids=[indicator.pk]).get(indicator.pk, [])
    chart = charts.indicator_history(node.indicator, history, forecast)
    chart["comments"] = charts.chart_marks(comments, chart["periods"])
    return render(
        request,
        "web/indicator.html",
        {
            "scorecard": scorecard,
            "indicator": indicator,
            "node": node,
            "ev": ev,
            "chart": chart,
            "history": history,
            "forecast": forecast,
            "by": by,
            "breakdown": breakdown,
            "breakdown_error": breakdown_error,
            "dimensions": DIMENSIONS,
            "can_edit": sel.can_edit(user=request.user, scorecard=scorecard),
            "form": form or forms.ManualValueForm(initial={"period": ev.period}),
            "comments": comments,
            "comment_form": comment_form or forms.CommentForm(initial={"period": ev.period}),
            "changes": audit.indicator_changes(indicator=indicator, unit=node.indicator.unit),
            "follow": indicator_follow_state(user=request.user, indicator=indicator),
        },
        status=status,
    )


def _breakdown(
    request: HttpRequest, indicator: Indicator, period: str, by: str
) -> tuple[list[Any], str]:
    """The indicator's metric for the month, one value per value of the dimension `by`;
    or why there is none (shown on the page in place of the table)."""
    if not by or not indicator.metric:
        return [], ""
    if by not in DIMENSIONS:
        return [], f"Unknown dimension {by!r}."
    start = month_first(period)
    try:
        found = metric_series(
            key=indicator.metric,
            user=request.user,
            by=by,
            filters=sel.indicator_filters(indicator=indicator),
            since=start,
            until=start,
        )
    except (UnknownColumn, MetricError) as exc:
        return [], str(exc)
    return list(found), ""


HISTORY_MONTHS = 24  # the page's chart and table


PageTable = Callable[[HttpRequest, Indicator, sel.Evaluation, scoring.Indicator], tuple[str, bytes]]
"""(request, indicator, its scorecard scored, the indicator scored) -> (what the file holds,
as the end of its name; the CSV)."""


def _download(table: PageTable) -> Callable[..., HttpResponse]:
    """A download of one of the page's tables for `?period=`: the indicator as the user may
    see it (404 outside their departments). A malformed or future month is refused (400),
    not replaced by the default as the page does, so a file never holds another month than
    the one asked for; an unscorable scorecard answers 409 with why."""

    def view(request: HttpRequest, pk: int) -> HttpResponse:
        indicator = sel.indicator_get(user=request.user, pk=pk)
        scorecard = indicator_card(indicator)
        raw = request.GET.get("period") or None
        period = check_period(raw) if raw else None
        try:
            ev = sel.evaluation(scorecard=scorecard, period=period, months=HISTORY_MONTHS)
        except scoring.DefinitionError as exc:
            return unscorable(request, scorecard, exc, status=409)
        node = find_node(ev.result, f"indicator:{indicator.pk}")
        assert node is not None and node.indicator is not None
        name, content = table(request, indicator, ev, node.indicator)
        stem = file_stem(scorecard.name, indicator.name, ev.period, name)
        return attachment(
            filename=f"{stem}.csv", content_type=CONTENT_TYPES[Format.CSV], content=content
        )

    return view


def _history_csv(
    request: HttpRequest, indicator: Indicator, ev: sel.Evaluation, scored: scoring.Indicator
) -> tuple[str, bytes]:
    """The page's history table, oldest month first, in the columns of the scorecard's
    `--table history` (raw numbers, the target of each month, the unit)."""
    rows: list[list[Cell]] = [
        [
            indicator.goal.perspective.name,
            indicator.goal.name,
            indicator.name,
            period,
            value,
            scored.target_at(period),
            scored.unit,
        ]
        for period, value in ev.history.get(str(indicator.pk), [])
    ]
    header = ["perspective", "goal", "indicator", "period", "value", "target", "unit"]
    return "history", csv_bytes(header, rows)


def _breakdown_csv(
    request: HttpRequest, indicator: Indicator, ev: sel.Evaluation, scored: scoring.Indicator
) -> tuple[str, bytes]:
    """The page's breakdown (`?by=`) in the columns of the scorecard's `--table
    breakdowns`, computed within the user's departments as on the page; a breakdown the
    engine cannot make is one row naming why."""
    by = request.GET.get("by", "")
    if not indicator.metric:
        raise Invalid(f"{indicator.name} has no metric to break down: people enter its values")
    if by not in DIMENSIONS:
        raise Invalid(f"by: {by!r} is not a dimension; use one of {', '.join(DIMENSIONS)}")
    points, error = _breakdown(request, indicator, ev.period, by)
    unit = scored.unit
    rows: list[list[Cell]] = [[indicator.name, by, "", "", unit, error]] if error else []
    rows += [[indicator.name, by, p.dimension_value or "(none)", p.value, unit, ""] for p in points]
    header = ["indicator", "dimension", "dimension_value", "value", "unit", "error"]
    return f"by-{by}", csv_bytes(header, rows)


indicator_history_csv = _download(_history_csv)
indicator_breakdown_csv = _download(_breakdown_csv)


manual_value_enter: Edit[Indicator] = Edit(
    find=indicator_at,
    scorecard=indicator_card,
    refused="Only a manager of this department may enter values.",
    form=lambda i, data, _: forms.ManualValueForm(data),
    save=lambda request, i, f: svc.manual_value_set(
        indicator=i,
        period=f.cleaned_data["period"],
        value=f.cleaned_data["value"],
        user=request.user,
    ),
    then=lambda i, _: redirect("indicator-detail", pk=i.pk),
    saved=lambda f, _: f"Saved {f.cleaned_data['value']} for {f.cleaned_data['period']}.",
    title=lambda i: i.name,
    page=indicator_page,
)
