"""An indicator's page: its history against target with the forecast, a breakdown of its
metric by a dimension, and (for a manager) the form that enters a manual value."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from crm_scorecard.metrics.api import DIMENSIONS, MetricError, UnknownColumn, metric_series
from crm_scorecard.periods import month_first
from crm_scorecard.scorecards import analysis, scoring
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards import services as svc
from crm_scorecard.scorecards.models import Indicator

from .. import charts, forms
from .editing import Edit, indicator_at, indicator_card
from .scorecards import find_node
from .shared import period_asked, unscorable


def indicator_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method == "POST":
        return manual_value_enter(request, pk=pk)
    indicator = sel.indicator_get(user=request.user, pk=pk)
    return _indicator_page(request, indicator, None, 200)


def _indicator_page(
    request: HttpRequest, indicator: Indicator, form: forms.ManualValueForm | None, status: int
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
    return render(
        request,
        "web/indicator.html",
        {
            "scorecard": scorecard,
            "indicator": indicator,
            "node": node,
            "ev": ev,
            "chart": charts.indicator_history(node.indicator, history, forecast),
            "history": history,
            "forecast": forecast,
            "by": by,
            "breakdown": breakdown,
            "breakdown_error": breakdown_error,
            "dimensions": DIMENSIONS,
            "can_edit": sel.can_edit(user=request.user, scorecard=scorecard),
            "form": form or forms.ManualValueForm(initial={"period": ev.period}),
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
    page=_indicator_page,
)
