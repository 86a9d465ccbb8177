"""The board pack's charts as SVG (vector at any print size): the overall gauge, the diamond
chart, the strategy map and an indicator's history. They draw what the pages' ECharts draw,
from the same evaluation. Every text that comes from people (names) is escaped here."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from html import escape

from crm_scorecard.metrics.api import format_score
from crm_scorecard.scorecards import scoring

COLOURS = {"green": "#16a34a", "yellow": "#eab308", "red": "#dc2626", "grey": "#9ca3af"}
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
BLUE = "#2563eb"
VIOLET = "#7c3aed"  # comments, as on the pages' charts
FONT = 'font-family="DejaVu Sans, sans-serif"'


def _t(text: str) -> str:
    return escape(text, quote=True)


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" '
        f'width="{width:g}" height="{height:g}" role="img" aria-label="{_t(label)}" {FONT}>'
        + "".join(body)
        + "</svg>"
    )


def _lines(text: str, width: int, most: int = 3) -> list[str]:
    """`text` wrapped to `width` characters, at most `most` lines (the last one cut with …)."""
    lines = textwrap.wrap(text, width) or [""]
    if len(lines) > most:
        lines = lines[:most]
        lines[-1] = lines[-1][: max(1, width - 1)].rstrip() + "…"
    return lines


def _text_block(
    x: float,
    y: float,
    lines: list[str],
    *,
    size: float,
    anchor: str = "middle",
    fill: str = INK,
    weight: str = "normal",
) -> str:
    """Lines centred vertically on y."""
    step = size * 1.2
    top = y - step * (len(lines) - 1) / 2
    return "".join(
        f'<text x="{x:.1f}" y="{top + i * step:.1f}" font-size="{size:g}" '
        f'text-anchor="{anchor}" dominant-baseline="central" fill="{fill}" '
        f'font-weight="{weight}">{_t(line)}</text>'
        for i, line in enumerate(lines)
    )


# ---- gauge ---------------------------------------------------------------------------------


def _polar(cx: float, cy: float, r: float, share: float) -> tuple[float, float]:
    """A point on the upper half circle: share 0 is the left end, 1 the right end."""
    angle = math.pi * (1 - share)
    return cx + r * math.cos(angle), cy - r * math.sin(angle)


def _arc(cx: float, cy: float, r: float, start: float, end: float, colour: str, w: float) -> str:
    x1, y1 = _polar(cx, cy, r, start)
    x2, y2 = _polar(cx, cy, r, end)
    return (
        f'<path d="M {x1:.2f} {y1:.2f} A {r} {r} 0 0 1 {x2:.2f} {y2:.2f}" fill="none" '
        f'stroke="{colour}" stroke-width="{w}"/>'
    )


def gauge(score: float | None, *, green: float, yellow: float) -> str:
    """The overall score on a half dial banded red / yellow / green at the thresholds."""
    width, height, cx, cy, r = 340.0, 210.0, 170.0, 152.0, 115.0
    body = [
        _arc(cx, cy, r, 0, yellow, COLOURS["red"], 22),
        _arc(cx, cy, r, yellow, green, COLOURS["yellow"], 22),
        _arc(cx, cy, r, green, 1, COLOURS["green"], 22),
    ]
    for share in (0, 0.25, 0.5, 0.75, 1):
        x, y = _polar(cx, cy, r + 28, share)
        body.append(_text_block(x, y, [f"{round(share * 100)}%"], size=9, fill=MUTED))
    if score is not None:
        x, y = _polar(cx, cy, r - 22, max(0.0, min(1.0, score)))
        body.append(
            f'<line x1="{cx}" y1="{cy}" x2="{x:.2f}" y2="{y:.2f}" stroke="{INK}" '
            'stroke-width="4" stroke-linecap="round"/>'
        )
        body.append(f'<circle cx="{cx}" cy="{cy}" r="7" fill="{INK}"/>')
    body.append(_text_block(cx, cy + 20, [format_score(score)], size=20, weight="bold", fill=INK))
    return _svg(width, height, body, f"overall score {format_score(score)}")


# ---- diamond (radar) -----------------------------------------------------------------------


def diamond(
    names: Sequence[str], current: Sequence[float | None], previous: Sequence[float | None]
) -> str:
    """Current scores against the target (100% on every axis) and the previous period."""
    width, height, cx, cy, r = 520.0, 450.0, 260.0, 205.0, 130.0
    n = len(names)

    def point(i: int, share: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / n
        return cx + r * share * math.cos(angle), cy + r * share * math.sin(angle)

    def polygon(shares: Sequence[float | None], style: str) -> str:
        """Through the axes that have a score; an axis with none is left out, never 0."""
        known = [(i, v) for i, v in enumerate(shares) if v is not None]
        points = " ".join(
            "{:.1f},{:.1f}".format(*point(i, max(0.0, min(1.0, v)))) for i, v in known
        )
        tag = "polygon" if len(known) >= 3 else "polyline"
        return f'<{tag} points="{points}" {style}/>' if known else ""

    body = []
    rings = (0.25, 0.5, 0.75, 1.0)
    for ring in rings:
        body.append(polygon([ring] * n, f'fill="none" stroke="{GRID}" stroke-width="1"'))
    for i in range(n):
        x, y = point(i, 1.0)
        body.append(f'<line x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
    body.append(
        polygon([1.0] * n, f'fill="none" stroke="{COLOURS["green"]}" stroke-dasharray="5 4"')
    )
    if any(p is not None for p in previous):
        body.append(
            polygon(
                previous, f'fill="none" stroke="{MUTED}" stroke-width="1.5" stroke-dasharray="2 3"'
            )
        )
    body.append(
        polygon(current, f'fill="{BLUE}" fill-opacity="0.18" stroke="{BLUE}" stroke-width="2"')
    )
    # The rings' labels go over the polygons, each on a white patch, so no line crosses one.
    for ring in rings:
        label, y = f"{round(ring * 100)}%", cy - r * ring
        body.append(
            f'<rect x="{cx + 2:.1f}" y="{y - 5:.1f}" width="{len(label) * 5 + 2}" height="10" '
            'fill="white" fill-opacity="0.85"/>'
        )
        body.append(_text_block(cx + 3, y, [label], size=8, anchor="start"))
    for i, (name, score) in enumerate(zip(names, current, strict=True)):
        x, y = point(i, 1.0)
        lx, ly = point(i, 1.28)
        if score is not None:
            body.append(
                f'<circle cx="{point(i, max(0.0, min(1.0, score)))[0]:.1f}" '
                f'cy="{point(i, max(0.0, min(1.0, score)))[1]:.1f}" r="3" fill="{BLUE}"/>'
            )
        anchor = "middle" if abs(lx - cx) < 20 else "start" if lx > cx else "end"
        body.append(_text_block(lx, ly, _lines(name, 22, 2), size=10, anchor=anchor))
        body.append(
            _text_block(
                lx,
                ly + (16 if ly >= cy else -20),
                [format_score(score)],
                size=9,
                anchor=anchor,
                fill=MUTED,
                weight="bold",
            )
        )
    legend = [
        ("current", BLUE, ""),
        ("previous period", MUTED, "2 3"),
        ("target", COLOURS["green"], "5 4"),
    ]
    for i, (label, colour, dash) in enumerate(legend):
        x = 20 + i * 150
        body.append(
            f'<line x1="{x}" y1="{height - 12}" x2="{x + 24}" y2="{height - 12}" stroke="{colour}" '
            f'stroke-width="2" stroke-dasharray="{dash or "none"}"/>'
        )
        body.append(_text_block(x + 30, height - 12, [label], size=9, anchor="start"))
    return _svg(width, height, body, "diamond chart")


# ---- strategy map --------------------------------------------------------------------------


def strategy_map(result: scoring.Result, links: Sequence[tuple[str, str]]) -> str:
    """Perspectives as bands, goals as boxes coloured by stop-light, cause → effect arrows
    (`links`: (cause key, effect key), as `scoring.Scorecard.goal_links`)."""
    width, band, left, box_h = 720.0, 150.0, 120.0, 60.0
    bands = result.children
    height = max(1, len(bands)) * band
    boxes: dict[str, tuple[float, float, float]] = {}  # goal key: centre x, centre y, width
    body: list[str] = []
    for row, perspective in enumerate(bands):
        top = row * band
        shade = "#f9fafb" if row % 2 == 0 else "#f3f4f6"
        body.append(f'<rect x="0" y="{top}" width="{width}" height="{band}" fill="{shade}"/>')
        body.append(
            _text_block(
                left / 2, top + band / 2, _lines(perspective.name, 14, 3), size=10, weight="bold"
            )
        )
        goals = [g for g in perspective.walk() if g.kind == "goal"]
        span = (width - left) / max(1, len(goals))
        for col, goal in enumerate(goals):
            boxes[goal.key] = (left + span * (col + 0.5), top + band / 2, min(130.0, span - 12))
    for cause, effect in links:
        if cause in boxes and effect in boxes:
            others = [b for name, b in boxes.items() if name not in (cause, effect)]
            body.append(_arrow(boxes[cause], boxes[effect], box_h, others, width))
    for perspective in bands:
        for goal in (g for g in perspective.walk() if g.kind == "goal"):
            x, y, w = boxes[goal.key]
            colour = COLOURS[goal.status.value]
            body.append(
                f'<rect x="{x - w / 2:.1f}" y="{y - box_h / 2:.1f}" width="{w:.1f}" '
                f'height="{box_h}" rx="6" fill="#ffffff" stroke="{colour}" stroke-width="3"/>'
            )
            body.append(
                f'<rect x="{x - w / 2:.1f}" y="{y - box_h / 2:.1f}" width="8" height="{box_h}" '
                f'fill="{colour}"/>'
            )
            chars = max(6, int((w - 14) / 5.8))
            body.append(_text_block(x + 3, y - 8, _lines(goal.name, chars, 2), size=10))
            body.append(
                _text_block(
                    x + 3,
                    y + 19,
                    [f"{format_score(goal.score)} · {goal.status.value}"],
                    size=8,
                    fill=MUTED,
                )
            )
    return _svg(width, height, body, "strategy map")


def _crosses(
    a: tuple[float, float], b: tuple[float, float], box: tuple[float, float, float], h: float
) -> bool:
    """Whether the segment a-b passes through the box (centre x, centre y, width)."""
    x, y, w = box
    for step in range(1, 40):
        t = step / 40
        px, py = a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
        if abs(px - x) <= w / 2 + 4 and abs(py - y) <= h / 2 + 4:
            return True
    return False


def _head(ex: float, ey: float, ux: float, uy: float) -> str:
    """An arrowhead with its tip at (ex, ey) pointing along the unit vector (ux, uy)."""
    size = 9.0
    bx, by = ex - ux * size, ey - uy * size
    px, py = -uy * size * 0.5, ux * size * 0.5
    return (
        f'<path d="M {ex:.1f} {ey:.1f} L {bx + px:.1f} {by + py:.1f} L {bx - px:.1f} '
        f'{by - py:.1f} Z" fill="{INK}"/>'
    )


def _arrow(
    a: tuple[float, float, float],
    b: tuple[float, float, float],
    box_h: float,
    others: Sequence[tuple[float, float, float]],
    width: float,
) -> str:
    """An arrow from the edge of box a to the edge of box b: straight when nothing is in the
    way, otherwise a curve out of the right (or left) sides around the boxes between."""
    (x1, y1, w1), (x2, y2, w2) = a, b
    blocked = any(_crosses((x1, y1), (x2, y2), o, box_h) for o in others)
    if blocked and abs(y1 - y2) < 1:
        # Within one band: under the boxes between, in the gap below them.
        sy = y1 + box_h / 2
        dip = sy + 36
        return (
            f'<path d="M {x1:.1f} {sy:.1f} C {x1:.1f} {dip:.1f} {x2:.1f} {dip:.1f} '
            f'{x2:.1f} {sy + 9:.1f}" fill="none" stroke="{INK}" stroke-width="1.5"/>'
            + _head(x2, sy, 0.0, -1.0)
        )
    if blocked:
        side = 1.0 if max(x1, x2) + 120 < width else -1.0
        sx, ex = x1 + side * w1 / 2, x2 + side * w2 / 2
        bend = (max(sx, ex) if side > 0 else min(sx, ex)) + side * 55
        return (
            f'<path d="M {sx:.1f} {y1:.1f} C {bend:.1f} {y1:.1f} {bend:.1f} {y2:.1f} '
            f'{ex + side * 9:.1f} {y2:.1f}" fill="none" stroke="{INK}" stroke-width="1.5"/>'
            + _head(ex, y2, -side, 0.0)
        )
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length

    def edge(w: float) -> float:
        """How far from a box's centre its edge is, along the arrow."""
        tx = (w / 2) / abs(ux) if ux else math.inf
        ty = (box_h / 2) / abs(uy) if uy else math.inf
        return min(tx, ty) + 2

    sx, sy = x1 + ux * edge(w1), y1 + uy * edge(w1)
    ex, ey = x2 - ux * edge(w2), y2 - uy * edge(w2)
    return (
        f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{ex - ux * 9:.1f}" y2="{ey - uy * 9:.1f}" '
        f'stroke="{INK}" stroke-width="1.5"/>' + _head(ex, ey, ux, uy)
    )


# ---- an indicator's history ----------------------------------------------------------------


# Steps that read well on a clock: 1, 2, 5, 10, 15, 30 s; 1, 2, 5, 10, 15, 30 min; hours.
DURATION_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200)


def _nice_step(span: float, ticks: int = 4, steps: Sequence[float] = ()) -> float:
    raw = span / ticks
    for step in steps:
        if raw <= step:
            return step
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def history(
    points: Sequence[tuple[str, float | None]],
    targets: Sequence[float],
    *,
    baseline: float,
    label: Callable[[float], str],
    steps: Sequence[float] = (),
    marks: Sequence[tuple[str, str]] = (),
) -> str:
    """Monthly values as a line (gaps where there is no data) against the target (dashed)
    and the baseline (dotted), the y axis labelled in the indicator's unit (`steps`: the
    tick steps that read well in it, such as DURATION_STEPS; default 1, 2, 2.5, 5 × 10ⁿ).
    `marks`: (month, its number) for the months people commented on: a dotted line at the
    month with the number in a circle at the top, which the list under the chart repeats."""
    width, height = 500.0, 170.0
    left, right, top, bottom = 64.0, 24.0, 12.0, 30.0
    values = [v for _, v in points if v is not None]
    everything = [*values, *targets, baseline]
    low, high = min(everything), max(everything)
    if high == low:
        high, low = high + 1, low - 1
    step = _nice_step(high - low, steps=steps)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    n = len(points)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / max(1, n - 1))

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - low) / (high - low))

    body: list[str] = []
    tick = low
    while tick <= high + step / 2:
        body.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" '
            f'stroke="{GRID}"/>'
        )
        body.append(_text_block(left - 5, y(tick), [label(tick)], size=8, anchor="end", fill=MUTED))
        tick += step
    for i, (period, _) in enumerate(points):
        if n <= 12 or i % 2 == 0:
            body.append(_text_block(x(i), height - 12, [period], size=7.5, fill=MUTED))
    body.append(
        f'<line x1="{left}" y1="{y(baseline):.1f}" x2="{width - right}" y2="{y(baseline):.1f}" '
        f'stroke="{MUTED}" stroke-dasharray="1 3"/>'
    )
    target_path = " ".join(
        f"{'M' if i == 0 else 'L'} {x(i):.1f} {y(t):.1f}" for i, t in enumerate(targets)
    )
    body.append(
        f'<path d="{target_path}" fill="none" stroke="{COLOURS["green"]}" stroke-width="1.5" '
        'stroke-dasharray="5 4"/>'
    )
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_, v) in enumerate(points):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        body.append(
            f'<polyline points="{" ".join(seg)}" fill="none" stroke="{BLUE}" stroke-width="2"/>'
        )
    for i, (_, v) in enumerate(points):
        if v is not None:
            body.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{BLUE}"/>')
    if not values:
        body.append(
            _text_block(
                width / 2, height / 2 - 10, ["no data in these months"], size=11, fill=MUTED
            )
        )
    where = {period: i for i, (period, _) in enumerate(points)}
    for period, number in marks:
        if period not in where:
            continue
        mx = x(where[period])
        body.append(
            f'<line x1="{mx:.1f}" y1="{top + 8:.1f}" x2="{mx:.1f}" y2="{height - bottom:.1f}" '
            f'stroke="{VIOLET}" stroke-dasharray="2 2"/>'
            f'<circle cx="{mx:.1f}" cy="{top + 1:.1f}" r="6" fill="{VIOLET}"/>'
        )
        body.append(_text_block(mx, top + 1, [number], size=7.5, fill="#fff", weight="bold"))
    return _svg(width, height, body, "history")
