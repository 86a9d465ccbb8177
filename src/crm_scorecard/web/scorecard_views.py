"""Scorecard pages: dashboard, diamond chart, strategy map, indicator, and editing.
Thin: parse the request, call selectors and services, render."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe

from crm_scorecard.accounts.models import Level
from crm_scorecard.accounts.scope import departments_for
from crm_scorecard.metrics.api import (
    DIMENSIONS,
    MetricError,
    UnknownColumn,
    currency_symbol,
    format_score,
    metric_series,
)
from crm_scorecard.scorecards import analysis, files, scoring
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards import services as svc
from crm_scorecard.scorecards.models import Goal, Indicator, Scorecard
from crm_scorecard.scorecards.templates import template_install, template_load, template_names

from . import forms
from .templatetags.numbers import value_text


def _period(request: HttpRequest) -> str | None:
    raw = request.GET.get("period", "")
    try:
        return files.parse_period(raw) if raw else None
    except ValueError:
        return None


def _unscorable(
    request: HttpRequest, scorecard: Scorecard, exc: scoring.DefinitionError
) -> HttpResponse:
    """A scorecard an edit left unscorable: say why and where to fix it, break nothing."""
    return render(
        request,
        "web/unscorable.html",
        {
            "scorecard": scorecard,
            "reason": str(exc),
            "can_edit": sel.can_edit(user=request.user, scorecard=scorecard),
        },
    )


def _require_edit(request: HttpRequest, scorecard: Scorecard) -> None:
    if not sel.can_edit(user=request.user, scorecard=scorecard):
        raise PermissionDenied("Only a manager of this department may change its scorecard.")


def _node_rows(ev: sel.Evaluation) -> list[dict[str, Any]]:
    """The tree flattened for the table, with depth, trend and sparkline points."""
    rows: list[dict[str, Any]] = []

    def visit(node: scoring.Result, depth: int) -> None:
        if node.kind != "scorecard":
            before = ev.previous_scores.get(f"{node.kind}:{node.key}")
            trend = None
            if node.score is not None and before is not None:
                trend = (
                    "up"
                    if node.score > before + 1e-9
                    else "down"
                    if node.score < before - 1e-9
                    else "flat"
                )
            history = ev.history.get(node.key, []) if node.kind == "indicator" else []
            rows.append(
                {
                    "node": node,
                    "depth": depth,
                    "trend": trend,
                    "previous": before,
                    "spark": _sparkline([v for _, v in history]),
                    "forecast": analysis.forecast(node.indicator, end=ev.period)
                    if node.indicator
                    else None,
                }
            )
        for child in node.children:
            visit(child, depth + 1)

    visit(ev.result, 0)
    return rows


def _sparkline(values: list[float | None], width: int = 90, height: int = 22) -> str:
    """SVG polyline points for a small trend line; gaps where there is no data."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = width / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (v - low) / span * height:.1f}"
        for i, v in enumerate(values)
        if v is not None
    )


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
    scored, period, version = sel.evaluation_key(scorecard=scorecard, period=_period(request))
    can_edit = sel.can_edit(user=request.user, scorecard=scorecard)
    shown = f"{scored}:{can_edit}:{scorecard.department.name}"
    key = f"scorecard-body:{hashlib.sha256(shown.encode()).hexdigest()}"
    body = cache.get(key)
    if body is None:
        try:
            ev = sel.evaluation(scorecard=scorecard, period=period, version=version)
        except scoring.DefinitionError as exc:
            return _unscorable(request, scorecard, exc)
        body = render_to_string(
            "web/_scorecard_body.html", _scorecard_body(scorecard, ev, can_edit), request
        )
        cache.set(key, body, timeout=sel.CACHE_SECONDS)
    return render(
        request,
        "web/scorecard.html",
        {"scorecard": scorecard, "body": mark_safe(body)},  # rendered, and escaped, above
    )


def _scorecard_body(scorecard: Scorecard, ev: sel.Evaluation, can_edit: bool) -> dict[str, Any]:
    initiatives = {
        str(g.pk): list(g.initiatives.all())
        for g in Goal.objects.filter(perspective__scorecard=scorecard).prefetch_related(
            "initiatives"
        )
    }
    latest = sel.latest_period(version=ev.version)
    rows = _node_rows(ev)
    for row in rows:
        if row["node"].kind == "goal":
            row["initiatives"] = initiatives.get(row["node"].key, [])
    return {
        "scorecard": scorecard,
        "ev": ev,
        "rows": rows,
        "fix_first": sel.fix_first(ev),
        "periods": [sel.shift(latest, -i) for i in range(0, 24)],
        "previous_period": sel.shift(ev.period, -1),
        "can_edit": can_edit,
        "radar_nodes": [
            n
            for n in ev.result.walk()
            if n.kind in ("scorecard", "perspective", "goal") and len(n.children) >= 3
        ],
    }


def _find(result: scoring.Result, node: str) -> scoring.Result | None:
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
        ev = sel.evaluation(scorecard=scorecard, period=_period(request))
    except scoring.DefinitionError as exc:
        return _unscorable(request, scorecard, exc)
    node = _find(ev.result, request.GET.get("node", "scorecard:"))
    if node is None:
        raise Http404("No such part of this scorecard.")
    chart = None
    if len(node.children) >= 3:
        previous = [ev.previous_scores.get(f"{c.kind}:{c.key}") for c in node.children]
        chart = {
            "indicators": [{"name": c.name, "max": 1} for c in node.children],
            "current": [None if c.score is None else round(c.score, 4) for c in node.children],
            "previous": previous,
            "target": [1 for _ in node.children],
            # Scores read as percentages on the axes and in the tooltips.
            "currentLabels": [format_score(c.score) for c in node.children],
            "previousLabels": [format_score(v) for v in previous],
        }
    return render(
        request,
        "web/diamond.html",
        {
            "scorecard": scorecard,
            "ev": ev,
            "node": node,
            "chart": chart,
            "choices": [
                n for n in ev.result.walk() if n.kind != "indicator" and len(n.children) >= 3
            ],
        },
    )


def strategy_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Perspectives as bands, goals as boxes coloured by stop-light, cause → effect arrows."""
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    try:
        ev = sel.evaluation(scorecard=scorecard, period=_period(request))
    except scoring.DefinitionError as exc:
        return _unscorable(request, scorecard, exc)
    colours = {"green": "#16a34a", "yellow": "#eab308", "red": "#dc2626", "grey": "#9ca3af"}
    bands = [p for p in ev.result.children]
    nodes = []
    for row, perspective in enumerate(bands):
        goals = [g for g in perspective.walk() if g.kind == "goal"]
        for col, goal in enumerate(goals):
            nodes.append(
                {
                    "name": goal.name,
                    "id": goal.key,
                    "x": (col + 1) * 1000 / (len(goals) + 1),
                    "y": row * 140 + 60,
                    "score": None if goal.score is None else round(goal.score, 3),
                    "scoreLabel": format_score(goal.score),
                    "status": goal.status.value,
                    "row": row,
                    "col": col,
                    "cols": len(goals),
                    "itemStyle": {"color": colours[goal.status.value]},
                    "url": f"/scorecards/{scorecard.pk}/goals/{goal.key}/",
                }
            )
    index = {
        n["name"]: i for i, n in enumerate(nodes)
    }  # ECharts joins cartesian graph edges by index
    # charts.js routes each link between the bands and boxes; the arrowhead is on its end.
    links = [
        {
            "source": index[a],
            "target": index[b],
            "cause": a,
            "effect": b,
            "edgeSymbol": ["none", "arrow"],
        }
        for a, b in ev.card.links
        if a in index and b in index
    ]
    chart = {"nodes": nodes, "links": links, "bands": [p.name for p in bands]}
    return render(
        request, "web/strategy_map.html", {"scorecard": scorecard, "ev": ev, "chart": chart}
    )


def goal_detail(request: HttpRequest, pk: int, goal_pk: int) -> HttpResponse:
    goal = sel.goal_get(user=request.user, pk=goal_pk)
    if goal.perspective.scorecard_id != pk:
        raise Http404("No such goal in this scorecard.")
    try:
        ev = sel.evaluation(scorecard=goal.perspective.scorecard, period=_period(request))
    except scoring.DefinitionError as exc:
        return _unscorable(request, goal.perspective.scorecard, exc)
    node = _find(ev.result, f"goal:{goal.pk}")
    return render(
        request,
        "web/goal.html",
        {
            "scorecard": goal.perspective.scorecard,
            "goal": goal,
            "node": node,
            "ev": ev,
            "initiatives": goal.initiatives.all(),
            "causes": goal.causes.select_related("cause"),
            "effects": goal.effects.select_related("effect"),
            "can_edit": sel.can_edit(user=request.user, scorecard=goal.perspective.scorecard),
            "initiative_form": forms.InitiativeForm(),
        },
    )


def indicator_detail(request: HttpRequest, pk: int) -> HttpResponse:
    indicator = sel.indicator_get(user=request.user, pk=pk)
    scorecard = indicator.goal.perspective.scorecard
    try:
        ev = sel.evaluation(scorecard=scorecard, period=_period(request), months=24)
    except scoring.DefinitionError as exc:
        return _unscorable(request, scorecard, exc)
    node = _find(ev.result, f"indicator:{indicator.pk}")
    assert node is not None and node.indicator is not None
    history = ev.history.get(str(indicator.pk), [])
    forecast = analysis.forecast(node.indicator, end=ev.period)
    unit = node.indicator.unit
    targets = [node.indicator.target_at(p) for p, _ in history]
    chart = {
        "periods": [p for p, _ in history],
        "values": [v for _, v in history],
        "target": targets,
        "baseline": node.indicator.baseline,
        "forecast": forecast,
        # Charts format by unit in charts.js (its formatter mirrors metrics.units); the
        # labels here are the page's own wording for the same numbers.
        "unit": unit,
        "currency": currency_symbol(),
        "valueLabels": [value_text(v, unit) for _, v in history],
        "targetLabels": [value_text(t, unit) for t in targets],
        "baselineLabel": value_text(node.indicator.baseline, unit),
    }
    by = request.GET.get("by", "")
    breakdown: list[Any] = []
    breakdown_error = ""
    if by and indicator.metric:
        if by not in DIMENSIONS:
            breakdown_error = f"Unknown dimension {by!r}."
        else:
            start = svc.period_start(ev.period)
            try:
                breakdown = metric_series(
                    key=indicator.metric,
                    user=request.user,
                    by=by,
                    filters=sel.indicator_filters(indicator=indicator),
                    since=start,
                    until=start,
                )
            except (UnknownColumn, MetricError) as exc:
                breakdown_error = str(exc)
    can_edit = sel.can_edit(user=request.user, scorecard=scorecard)
    form = forms.ManualValueForm(initial={"period": ev.period})
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only a manager of this department may enter values.")
        form = forms.ManualValueForm(request.POST)
        if form.is_valid():
            try:
                svc.manual_value_set(
                    indicator=indicator,
                    period=form.cleaned_data["period"],
                    value=form.cleaned_data["value"],
                    user=request.user,
                )
                messages.success(
                    request,
                    f"Saved {form.cleaned_data['value']} for {form.cleaned_data['period']}.",
                )
                return redirect("indicator-detail", pk=indicator.pk)
            except scoring.DefinitionError as exc:
                form.add_error(None, str(exc))
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
            "can_edit": can_edit,
            "form": form,
        },
    )


# ---- editing ---------------------------------------------------------------------------------


def _save(
    request: HttpRequest, form: Any, save: Any, done: Any, template: str, context: dict[str, Any]
) -> HttpResponse:
    """Validate, save through the service, and show what is wrong in the form if refused."""
    if request.method == "POST" and form.is_valid():
        try:
            save(form)
            messages.success(request, "Saved.")
            return done()
        except scoring.DefinitionError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            form.add_error(None, "; ".join(exc.messages))
    return render(
        request,
        template,
        {**context, "form": form},
        status=400 if request.method == "POST" else 200,
    )


def indicator_edit(request: HttpRequest, pk: int) -> HttpResponse:
    indicator = sel.indicator_get(user=request.user, pk=pk)
    scorecard = indicator.goal.perspective.scorecard
    _require_edit(request, scorecard)
    form = forms.IndicatorForm(request.POST or None, instance=indicator)
    return _save(
        request,
        form,
        lambda f: svc.indicator_save(indicator=f.save(commit=False), actor=request.user),
        lambda: redirect("scorecard-detail", pk=scorecard.pk),
        "web/form.html",
        {"scorecard": scorecard, "title": f"Edit indicator: {indicator.name}"},
    )


def indicator_new(request: HttpRequest, pk: int, goal_pk: int) -> HttpResponse:
    goal = sel.goal_get(user=request.user, pk=goal_pk)
    scorecard = goal.perspective.scorecard
    if scorecard.pk != pk:
        raise Http404("No such goal in this scorecard.")
    _require_edit(request, scorecard)
    form = forms.IndicatorForm(request.POST or None, instance=Indicator(goal=goal))
    return _save(
        request,
        form,
        lambda f: svc.indicator_save(indicator=f.save(commit=False), actor=request.user),
        lambda: redirect("scorecard-detail", pk=scorecard.pk),
        "web/form.html",
        {"scorecard": scorecard, "title": f"New indicator for {goal.name}"},
    )


def goal_new(request: HttpRequest, pk: int) -> HttpResponse:
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    _require_edit(request, scorecard)
    form = forms.GoalForm(request.POST or None, scorecard=scorecard)
    return _save(
        request,
        form,
        lambda f: svc.goal_save(goal=f.save(commit=False)),
        lambda: redirect("scorecard-detail", pk=scorecard.pk),
        "web/form.html",
        {"scorecard": scorecard, "title": "New goal"},
    )


def goal_edit(request: HttpRequest, pk: int, goal_pk: int) -> HttpResponse:
    goal = sel.goal_get(user=request.user, pk=goal_pk)
    scorecard = goal.perspective.scorecard
    if scorecard.pk != pk:
        raise Http404("No such goal in this scorecard.")
    _require_edit(request, scorecard)
    form = forms.GoalForm(request.POST or None, instance=goal, scorecard=scorecard)
    return _save(
        request,
        form,
        lambda f: svc.goal_save(goal=f.save(commit=False)),
        lambda: redirect("scorecard-detail", pk=scorecard.pk),
        "web/form.html",
        {"scorecard": scorecard, "title": f"Edit goal: {goal.name}"},
    )


def scorecard_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    _require_edit(request, scorecard)
    form = forms.ScorecardForm(request.POST or None, instance=scorecard)
    return _save(
        request,
        form,
        lambda f: svc.scorecard_save(scorecard=f.save(commit=False)),
        lambda: redirect("scorecard-detail", pk=scorecard.pk),
        "web/form.html",
        {"scorecard": scorecard, "title": f"Edit scorecard: {scorecard.name}"},
    )


def link_new(request: HttpRequest, pk: int) -> HttpResponse:
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    _require_edit(request, scorecard)
    form = forms.LinkForm(request.POST or None, scorecard=scorecard)
    return _save(
        request,
        form,
        lambda f: svc.link_create(
            scorecard=scorecard, cause=f.cleaned_data["cause"], effect=f.cleaned_data["effect"]
        ),
        lambda: redirect("strategy-map", pk=scorecard.pk),
        "web/form.html",
        {"scorecard": scorecard, "title": "New cause → effect link"},
    )


def initiative_new(request: HttpRequest, pk: int, goal_pk: int) -> HttpResponse:
    goal = sel.goal_get(user=request.user, pk=goal_pk)
    scorecard = goal.perspective.scorecard
    if scorecard.pk != pk:
        raise Http404("No such goal in this scorecard.")
    _require_edit(request, scorecard)
    form = forms.InitiativeForm(request.POST or None)

    def save(f: Any) -> None:
        initiative = f.save(commit=False)
        initiative.goal = goal
        initiative.full_clean()
        initiative.save()

    return _save(
        request,
        form,
        save,
        lambda: redirect("goal-detail", pk=scorecard.pk, goal_pk=goal.pk),
        "web/form.html",
        {"scorecard": scorecard, "title": f"New initiative for {goal.name}"},
    )


def _manager_departments(request: HttpRequest) -> Any:
    if getattr(request.user, "level", None) != Level.MANAGER:
        raise PermissionDenied("Only managers create scorecards.")
    return departments_for(user=request.user)


def scorecard_new(request: HttpRequest) -> HttpResponse:
    departments = _manager_departments(request)
    form = forms.ImportForm(departments=departments)
    template_form = forms.TemplateForm(
        departments=departments, templates=[(n, template_load(n).name) for n in template_names()]
    )
    return render(request, "web/scorecard_new.html", {"form": form, "template_form": template_form})


def scorecard_import(request: HttpRequest) -> HttpResponse:
    departments = _manager_departments(request)
    form = forms.ImportForm(request.POST or None, request.FILES or None, departments=departments)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            # Read one byte past the limit, never the whole upload, to tell it is too big.
            card = files.loads(upload.read(files.MAX_BYTES + 1), source=upload.name)
            scorecard = svc.scorecard_import(
                card=card,
                department=form.cleaned_data["department"],
                replace=form.cleaned_data["replace"],
                actor=request.user,
            )
            messages.success(request, f"Imported {scorecard.name}.")
            return redirect("scorecard-detail", pk=scorecard.pk)
        except (files.FileError, scoring.DefinitionError, svc.ScorecardExists) as exc:
            form.add_error("file", str(exc))
    return render(
        request,
        "web/form.html",
        {"form": form, "title": "Import a scorecard file", "multipart": True},
        status=400 if request.method == "POST" else 200,
    )


def template_install_view(request: HttpRequest) -> HttpResponse:
    departments = _manager_departments(request)
    form = forms.TemplateForm(
        request.POST or None,
        departments=departments,
        templates=[(n, template_load(n).name) for n in template_names()],
    )
    if request.method == "POST" and form.is_valid():
        try:
            scorecard = template_install(
                name=form.cleaned_data["template"],
                department=form.cleaned_data["department"],
                actor=request.user,
            )
            return redirect("scorecard-detail", pk=scorecard.pk)
        except svc.ScorecardExists as exc:
            form.add_error(None, str(exc))
    return render(
        request,
        "web/form.html",
        {"form": form, "title": "Install a template"},
        status=400 if request.method == "POST" else 200,
    )


def scorecard_export(request: HttpRequest, pk: int) -> HttpResponse:
    scorecard = sel.scorecard_get(user=request.user, pk=pk)
    response = HttpResponse(
        files.dump(svc.scorecard_export(scorecard)), content_type="application/yaml"
    )
    # The name is the user's text: no control characters (a line break fails the header)
    # or path separators; quotes and non-ASCII are escaped by the header's own rules.
    stem = "".join(
        " " if unicodedata.category(c).startswith("C") or c in "/\\" else c for c in scorecard.name
    )
    stem = "-".join(stem.lower().split()) or "scorecard"
    response["Content-Disposition"] = content_disposition_header(True, f"{stem}.yaml")
    return response
