"""Scorecard pages: home, the dashboard, diamond chart, strategy map, a goal, the file export.
Thin: parse the request, call the scorecards selectors, lay charts out (`web.charts`),
render."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.cache import cache
from django.db.models import Max, Min
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from crm_scorecard.accounts.models import Level
from crm_scorecard.accounts.scope import departments_for
from crm_scorecard.errors import NotFound
from crm_scorecard.metrics.api import DIMENSIONS, Grain, KpiValue
from crm_scorecard.periods import month_first, shift_months
from crm_scorecard.reports.exports import report_export
from crm_scorecard.reports.tables import Table
from crm_scorecard.scorecards import files, scoring
from crm_scorecard.scorecards import history as audit
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards.models import Goal, Scorecard

from .. import charts, forms
from .shared import attachment, file_stem, goal_in_scorecard, period_asked, unscorable


def home(request: HttpRequest) -> HttpResponse:
    cards = []
    version = sel.kpi_version()
    for scorecard in sel.scorecards_visible(user=request.user):
        try:
            ev = sel.evaluation(scorecard=scorecard, version=version)  # the dashboard's entry
        except scoring.DefinitionError as exc:
            # One broken scorecard says so on its own card; the rest of the page stands.
            cards.append({"scorecard": scorecard, "error": str(exc)})
            continue
        cards.append(
            {"scorecard": scorecard, "result": ev.result, "change": ev.change, "period": ev.period}
        )
    return render(
        request,
        "web/home.html",
        {
            "cards": cards,
            "departments": departments_for(user=request.user).select_related("parent"),
            "is_manager": getattr(request.user, "level", None) == Level.MANAGER,
        },
    )


def scorecard_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The dashboard. Its body depends only on the evaluation (whose key names the
    scorecard's last change, the KPI values and the day) and on whether the user may edit,
    so it is rendered once per such key and served from the cache after that, without
    loading the evaluation."""
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    scored, period, version = sel.evaluation_key(scorecard=scorecard, period=period_asked(request))
    can_edit = sel.can_edit(user=request.user, scorecard=scorecard)
    shown = f"{scored}:{can_edit}:{scorecard.department.name}"
    key = f"scorecard-body:{hashlib.sha256(shown.encode()).hexdigest()}"
    body = cache.get(key)
    if body is None:
        try:
            ev = sel.evaluation(scorecard=scorecard, period=period, version=version)
        except scoring.DefinitionError as exc:
            return unscorable(request, scorecard, exc)
        body = render_to_string(
            "web/_scorecard_body.html", _scorecard_body(scorecard, ev, can_edit), request
        )
        cache.set(key, body, timeout=sel.CACHE_SECONDS)
    return render(
        request,
        "web/scorecard.html",
        {"scorecard": scorecard, "body": mark_safe(body)},  # rendered, and escaped, above
    )


def scorecard_changes(request: HttpRequest, pk: int) -> HttpResponse:
    """The scorecard's own changes (thresholds, perspectives, goals added or removed), as
    the part the scorecard page loads when its "Changes" is opened (kept out of the cached
    page, which stays a handful of queries)."""
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    changes = audit.scorecard_changes(scorecard=scorecard)
    return render(request, "web/_changes.html", {"changes": changes})


def _scorecard_body(scorecard: Scorecard, ev: sel.Evaluation, can_edit: bool) -> dict[str, Any]:
    initiatives = {
        str(g.pk): list(g.initiatives.all())
        for g in Goal.objects.filter(perspective__scorecard=scorecard).prefetch_related(
            "initiatives"
        )
    }
    latest = sel.latest_period(version=ev.version)
    rows = charts.tree_rows(ev)
    for row in rows:
        if row["node"].kind == "goal":
            row["initiatives"] = initiatives.get(row["node"].key, [])
    return {
        "scorecard": scorecard,
        "ev": ev,
        "rows": rows,
        "fix_first": sel.fix_first(ev),
        "periods": [shift_months(latest, -i) for i in range(0, 24)],
        "previous_period": shift_months(ev.period, -1),
        "can_edit": can_edit,
        "radar_nodes": charts.radar_nodes(ev.result),
        "computed": _kpis_computed(ev),
        # The workbook's breakdowns split metric indicators; a scorecard of only manual
        # values has none to offer.
        "breakdown_dimensions": DIMENSIONS
        if any(n.indicator and n.indicator.metric for n in ev.result.walk())
        else [],
    }


def _kpis_computed(ev: sel.Evaluation) -> dict[str, Any] | None:
    """When the stored KPI values this scorecard's metric indicators show for the month were
    computed (the oldest and the newest), or None when it has no metric indicator. Pages
    read what is stored and never compute it; this says how fresh that is."""
    metrics = {n.indicator.metric for n in ev.result.walk() if n.indicator and n.indicator.metric}
    if not metrics:
        return None
    return KpiValue.objects.filter(
        metric__in=metrics, grain=Grain.MONTH, period_start=month_first(ev.period)
    ).aggregate(oldest=Min("computed_at"), newest=Max("computed_at"))


def find_node(result: scoring.Result, node: str) -> scoring.Result | None:
    """The part of a scored scorecard named `kind:key` ("scorecard:" for the whole)."""
    kind, _, key = node.partition(":")
    for n in result.walk():
        if n.kind == kind and (n.key == key or kind == "scorecard"):
            return n
    return None


def diamond(request: HttpRequest, pk: int) -> HttpResponse:
    """Radar chart of current against target (1.0) and the previous period, for a node
    with three or more children."""
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    try:
        ev = sel.evaluation(scorecard=scorecard, period=period_asked(request))
    except scoring.DefinitionError as exc:
        return unscorable(request, scorecard, exc)
    node = find_node(ev.result, request.GET.get("node", "scorecard:"))
    if node is None:
        raise NotFound("No such part of this scorecard.")
    return render(
        request,
        "web/diamond.html",
        {
            "scorecard": scorecard,
            "ev": ev,
            "node": node,
            "chart": charts.diamond(ev, node),
            "choices": charts.radar_nodes(ev.result),
        },
    )


def strategy_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Perspectives as bands, goals as boxes coloured by stop-light, cause → effect arrows."""
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    try:
        ev = sel.evaluation(scorecard=scorecard, period=period_asked(request))
    except scoring.DefinitionError as exc:
        return unscorable(request, scorecard, exc)
    return render(
        request,
        "web/strategy_map.html",
        {"scorecard": scorecard, "ev": ev, "chart": charts.strategy_map(scorecard, ev)},
    )


def goal_detail(request: HttpRequest, pk: int, goal_pk: int) -> HttpResponse:
    goal = goal_in_scorecard(request, pk=pk, goal_pk=goal_pk)
    try:
        ev = sel.evaluation(scorecard=goal.perspective.scorecard, period=period_asked(request))
    except scoring.DefinitionError as exc:
        return unscorable(request, goal.perspective.scorecard, exc)
    return render(
        request,
        "web/goal.html",
        {
            "scorecard": goal.perspective.scorecard,
            "goal": goal,
            "node": find_node(ev.result, f"goal:{goal.pk}"),
            "ev": ev,
            "initiatives": goal.initiatives.all(),
            "causes": goal.causes.select_related("cause"),
            "effects": goal.effects.select_related("effect"),
            "can_edit": sel.can_edit(user=request.user, scorecard=goal.perspective.scorecard),
            "initiative_form": forms.InitiativeForm(),
            "changes": audit.goal_changes(goal=goal),
        },
    )


def scorecard_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The scorecard's definition as a file that `scorecard import` reads back."""
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    return attachment(
        filename=f"{file_stem(scorecard.name) or 'scorecard'}.yaml",
        content_type="application/yaml",
        content=files.dump(sel.scorecard_export(scorecard)).encode(),
    )


def scorecard_report(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The page's download buttons: the scorecard for `?period=` as a PDF board pack
    (`report.pdf`), an Excel workbook (`report.xlsx`, with `?by=DIMENSION` breakdowns) or
    one table as CSV (`report.csv?table=tree|history|fix-first|breakdowns`). Outside the
    user's departments it answers 404 like any page; a bad format, table, period or
    dimension 400 with the reason; a scorecard that cannot be scored 409 with why."""
    try:
        export = report_export(
            user=request.user,
            pk=pk,
            fmt=fmt,
            period=request.GET.get("period") or None,
            breakdowns=[d for d in request.GET.getlist("by") if d],
            table=request.GET.get("table") or Table.TREE,
        )
    except scoring.DefinitionError as exc:
        scorecard = sel.scorecard_get(user=request.user, pk=pk)
        return unscorable(request, scorecard, exc, status=409)
    return attachment(
        filename=export.filename, content_type=export.content_type, content=export.content
    )
