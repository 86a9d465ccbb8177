"""A scorecard as a PDF board pack, rendered by WeasyPrint from an HTML template with the
charts drawn as SVG (see charts): vector at any print size, no browser to run.

Pages: a cover (department, period, generated at); the gauge with each perspective's
score and what to fix first; the scored tree; the strategy map; the diamond chart; one
page per perspective with each indicator's history chart. Page numbers at the foot."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from django.template import Context, Engine
from django.utils.safestring import SafeString, mark_safe

from crm_scorecard.errors import Invalid
from crm_scorecard.metrics.api import Unit, format_score
from crm_scorecard.periods import month_first, shift_months

from . import charts
from .content import Report, Row, value_text

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _engine() -> Engine:
    # The pack's own templates, autoescaped; kept out of the site's template search so a
    # report needs no settings and a page cannot pick them up by accident.
    return Engine(dirs=[str(TEMPLATES)], autoescape=True)


def _share(value: float | None, decimals: int = 1) -> str:
    if value is None:
        return "—"
    text = f"{value * 100:.{decimals}f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _points(change: float | None) -> str:
    if change is None:
        return "no previous score"
    pts = round(change * 100)
    return "±0 pts" if pts == 0 else f"{'+' if pts > 0 else '−'}{abs(pts)} pts"


def _safe(svg: str) -> SafeString:
    return mark_safe(svg)  # built by charts, which escapes every text it draws


def _note(row: Row) -> str:
    node = row.node
    if node.kind == "indicator":
        notes = []
        if node.stale:
            notes.append(f"stale: latest value {node.value_period}")
        scope = node.indicator.scope if node.indicator else ""
        if scope and scope != "department":
            notes.append("company-wide" if scope == "company" else scope)
        return "; ".join(notes)
    return f"no data: {', '.join(node.no_data)}" if node.no_data else ""


def _tree(report: Report) -> list[dict[str, Any]]:
    rows = []
    for row in report.rows:
        node = row.node
        indicator = node.kind == "indicator"
        rows.append(
            {
                "kind": node.kind,
                "depth": row.depth,
                "name": node.name,
                "note": _note(row),
                "value": value_text(node.value, row.unit) if indicator else "",
                "target": value_text(node.target, row.unit) if indicator else "",
                "score": format_score(node.score),
                "status": node.status.value,
                "weight": _share(node.absolute_weight),
            }
        )
    return rows


def _marks(report: Report, row: Row) -> list[tuple[str, str]]:
    """Each commented month and its number on the chart (its comments share the number)."""
    numbers: dict[str, str] = {}
    for note in report.comments(row):
        numbers.setdefault(note.period, str(len(numbers) + 1))
    return list(numbers.items())


def _indicator_chart(report: Report, row: Row) -> SafeString:
    ind = row.node.indicator
    assert ind is not None
    points = report.history(row)
    return _safe(
        charts.history(
            points,
            [ind.target_at(p) for p, _ in points],
            baseline=ind.baseline,
            label=lambda v: value_text(v, row.unit),
            steps=charts.DURATION_STEPS if row.unit == Unit.SECONDS else (),
            marks=_marks(report, row),
        )
    )


def _comments(report: Report, row: Row) -> list[dict[str, str]]:
    """The comments under an indicator's chart, numbered as its marks."""
    numbers = dict(_marks(report, row))
    return [
        {
            "number": numbers[n.period],
            "period": n.period,
            "text": n.text,
            "author": n.author,
            "when": n.when,
        }
        for n in report.comments(row)
    ]


def _perspective_pages(report: Report) -> list[dict[str, Any]]:
    pages = []
    for perspective in report.result.children:
        indicators = [
            r for r in report.indicators if r.perspective == perspective.name and r.node.indicator
        ]
        pages.append(
            {
                "name": perspective.name,
                "score": format_score(perspective.score),
                "status": perspective.status.value,
                "indicators": [
                    {
                        "name": r.node.name,
                        "goal": r.goal,
                        "value": value_text(r.node.value, r.unit),
                        "target": value_text(r.node.target, r.unit),
                        "score": format_score(r.node.score),
                        "status": r.node.status.value,
                        "note": _note(r),
                        "chart": _indicator_chart(report, r),
                        "comments": _comments(report, r),
                    }
                    for r in indicators
                ],
            }
        )
    return pages


def html(report: Report) -> str:
    """The board pack as one HTML document (what WeasyPrint lays out)."""
    ev = report.evaluation
    result = report.result
    scorecard = report.scorecard
    perspectives = result.children
    previous = [ev.previous_scores.get(f"perspective:{p.key}") for p in perspectives]
    diamond = (
        _safe(
            charts.diamond(
                [p.name for p in perspectives], [p.score for p in perspectives], previous
            )
        )
        if len(perspectives) >= 3
        else None
    )
    context = {
        "report": report,
        "css": _safe((TEMPLATES / "reports" / "board_pack.css").read_text(encoding="utf-8")),
        "period_name": month_first(report.period).strftime("%B %Y"),
        "generated_at": report.generated_text,
        "overall": format_score(result.score),
        "change": _points(ev.change),
        "previous_period": shift_months(report.period, -1),
        "gauge": _safe(charts.gauge(result.score, green=scorecard.green, yellow=scorecard.yellow)),
        "perspectives": [
            {
                "name": p.name,
                "score": format_score(p.score),
                "status": p.status.value,
                "weight": _share(p.absolute_weight),
            }
            for p in perspectives
        ],
        "fix_first": [
            {
                "name": p.name,
                "score": format_score(p.score),
                "weight": _share(p.absolute_weight),
                "gain": _points(p.impact).replace("+", "", 1),
            }
            for p in report.fix_first
        ],
        "tree": _tree(report),
        "strategy_map": _safe(charts.strategy_map(result, ev.card.goal_links)),
        "diamond": diamond,
        "perspective_pages": _perspective_pages(report),
        "breakdowns": [
            {
                "indicator": b.indicator,
                "dimension": b.dimension,
                "error": b.error,
                "points": [(label, value_text(v, b.unit)) for label, v in b.points],
            }
            for b in report.breakdowns
        ],
    }
    template = _engine().get_template("reports/board_pack.html")
    return template.render(Context(context))


def document(report: Report) -> bytes:
    """The board pack as PDF bytes."""
    try:
        from weasyprint import HTML  # loads Pango: only when a PDF is asked for
    except OSError as exc:  # the library is installed but Pango, a system library, is not
        raise Invalid(
            "PDF board packs need the Pango library on the server (Debian: apt-get install "
            "libpango-1.0-0 libpangoft2-1.0-0; see README › Reports). The Excel workbook and "
            f"CSV work without it. ({exc})"
        ) from exc

    rendered = html(report)
    pdf = HTML(string=rendered, base_url=str(TEMPLATES)).write_pdf()
    assert pdf is not None
    return bytes(pdf)
