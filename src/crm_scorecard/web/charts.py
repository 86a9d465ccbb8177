"""The numbers the pages' charts draw, laid out for `static/web/charts.js` (ECharts) and for
the small SVG trend lines and bars drawn in the templates. Pure functions of an evaluation
(or a theme's counts): no queries, no HTML.

Every label the charts show is worded here or in `charts.js`, never taken from the page."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone

from crm_scorecard.metrics.api import currency_symbol, format_score
from crm_scorecard.scorecards import analysis, scoring
from crm_scorecard.scorecards import comments as cm
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards.models import IndicatorComment, Scorecard

from .templatetags.numbers import value_text

STOP_LIGHT_COLOURS = {"green": "#16a34a", "yellow": "#eab308", "red": "#dc2626", "grey": "#9ca3af"}
TREND_MONTHS = 12
BAR_W, BAR_GAP, BAR_H = 8, 2, 28


def tree_rows(ev: sel.Evaluation) -> list[dict[str, Any]]:
    """The scorecard's tree flattened for the dashboard's table: each node with its depth,
    its trend against the previous period, its sparkline and (indicators) its forecast."""
    rows: list[dict[str, Any]] = []

    def visit(node: scoring.Result, depth: int) -> None:
        if node.kind != "scorecard":
            before = ev.previous_scores.get(f"{node.kind}:{node.key}")
            history = ev.history.get(node.key, []) if node.kind == "indicator" else []
            rows.append(
                {
                    "node": node,
                    "depth": depth,
                    "trend": _trend(node.score, before),
                    "previous": before,
                    "spark": sparkline([v for _, v in history]),
                    "forecast": analysis.forecast(node.indicator, end=ev.period)
                    if node.indicator
                    else None,
                }
            )
        for child in node.children:
            visit(child, depth + 1)

    visit(ev.result, 0)
    return rows


def _trend(score: float | None, before: float | None) -> str | None:
    if score is None or before is None:
        return None
    if score > before + 1e-9:
        return "up"
    return "down" if score < before - 1e-9 else "flat"


def sparkline(values: list[float | None], width: int = 90, height: int = 22) -> str:
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


def radar_nodes(result: scoring.Result) -> list[scoring.Result]:
    """The parts of a scorecard a diamond chart can be drawn for: three or more children."""
    return [
        n
        for n in result.walk()
        if n.kind in ("scorecard", "perspective", "goal") and len(n.children) >= 3
    ]


def diamond(ev: sel.Evaluation, node: scoring.Result) -> dict[str, Any] | None:
    """Radar chart of a node's children: current against target (1.0) and the previous
    period. None for a node with fewer than three children (no diamond to draw)."""
    if len(node.children) < 3:
        return None
    previous = [ev.previous_scores.get(f"{c.kind}:{c.key}") for c in node.children]
    return {
        "indicators": [{"name": c.name, "max": 1} for c in node.children],
        "current": [None if c.score is None else round(c.score, 4) for c in node.children],
        "previous": previous,
        "target": [1 for _ in node.children],
        # Scores read as percentages on the axes and in the tooltips.
        "currentLabels": [format_score(c.score) for c in node.children],
        "previousLabels": [format_score(v) for v in previous],
    }


def strategy_map(scorecard: Scorecard, ev: sel.Evaluation) -> dict[str, Any]:
    """Perspectives as bands, goals as boxes coloured by stop-light, cause → effect arrows."""
    bands = list(ev.result.children)
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
                    "itemStyle": {"color": STOP_LIGHT_COLOURS[goal.status.value]},
                    "url": f"/scorecards/{scorecard.pk}/goals/{goal.key}/",
                }
            )
    # ECharts joins cartesian graph edges by index; links join goals by key, not name.
    index = {n["id"]: i for i, n in enumerate(nodes)}
    # charts.js routes each link between the bands and boxes; the arrowhead is on its end.
    links = [
        {
            "source": index[a],
            "target": index[b],
            "cause": nodes[index[a]]["name"],
            "effect": nodes[index[b]]["name"],
            "edgeSymbol": ["none", "arrow"],
        }
        for a, b in ev.card.goal_links
        if a in index and b in index
    ]
    return {"nodes": nodes, "links": links, "bands": [p.name for p in bands]}


def indicator_history(
    indicator: scoring.Indicator,
    history: list[tuple[str, float | None]],
    forecast: Any,
) -> dict[str, Any]:
    """An indicator's values month by month against its target and baseline, with the
    forecast, on a time axis."""
    unit = indicator.unit
    targets = [indicator.target_at(p) for p, _ in history]
    return {
        "periods": [p for p, _ in history],
        "values": [v for _, v in history],
        "target": targets,
        "baseline": indicator.baseline,
        "forecast": forecast,
        # Charts format by unit in charts.js (its formatter mirrors metrics.units); the
        # labels here are the page's own wording for the same numbers.
        "unit": unit,
        "currency": currency_symbol(),
        "valueLabels": [value_text(v, unit) for _, v in history],
        "targetLabels": [value_text(t, unit) for t in targets],
        "baselineLabel": value_text(indicator.baseline, unit),
    }


def theme_trend(months: dict[date, int]) -> list[dict[str, Any]]:
    """Bars for the last months of a theme (SVG attributes: the CSP refuses inline styles)."""
    if not months:
        return []
    last = max(months)
    keys: list[date] = []
    year, month = last.year, last.month
    for _ in range(TREND_MONTHS):
        keys.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    keys.reverse()
    top = max(months.get(k, 0) for k in keys) or 1
    bars = []
    for i, k in enumerate(keys):
        n = months.get(k, 0)
        h = max(1, round(n / top * BAR_H)) if n else 0
        bars.append(
            {"x": i * (BAR_W + BAR_GAP), "y": BAR_H - h, "h": h, "n": n, "month": f"{k:%b %Y}"}
        )
    return bars


def chart_marks(comments: list[IndicatorComment], periods: list[str]) -> list[dict[str, Any]]:
    """The comments the history chart marks: one mark per month on the chart, each with its
    comments' lines (the text, its author and when). Text only: charts.js puts it in the
    tooltip with textContent."""
    shown = set(periods)
    marks: dict[str, list[str]] = {}
    for c in comments:
        period = f"{c.period_start:%Y-%m}"
        if period in shown:
            when = f"{timezone.localtime(c.created_at):%d %b %Y}".lstrip("0")
            marks.setdefault(period, []).append(f"{c.text} — {cm.author_name(c)}, {when}")
    return [{"period": p, "lines": lines} for p, lines in sorted(marks.items())]
