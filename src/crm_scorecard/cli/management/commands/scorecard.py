from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from django.core.management.base import CommandError, CommandParser
from rich.console import Console
from rich.tree import Tree

from crm_scorecard.accounts.models import Department
from crm_scorecard.cli.base import DomainCommand, require_current_schema
from crm_scorecard.scorecards import analysis, files, mapping, scoring
from crm_scorecard.scorecards.models import Scorecard
from crm_scorecard.scorecards.selectors import (
    kpi_history,
    latest_period,
    scorecard_export,
    scorecard_scoring,
)
from crm_scorecard.scorecards.services import scorecard_import

COLOURS = {"green": "green", "yellow": "yellow", "red": "red", "grey": "bright_black"}


def _period(text: str) -> str:
    try:
        return files.parse_period(text)
    except ValueError as exc:
        raise CommandError(f"--period: {exc}") from None


def fmt(x: float | None, digits: int = 3) -> str:
    return "no data" if x is None else f"{x:.{digits}f}"


def render(result: scoring.Result, console: Console) -> None:
    """A readable, coloured tree."""

    def label(node: scoring.Result) -> str:
        dot = f"[{COLOURS[node.status.value]}]●[/]"
        text = f"{dot} [bold]{node.name}[/bold]  score {fmt(node.score)}  weight {node.weight:g} (abs {node.absolute_weight:.3f})"
        if node.kind == "indicator":
            text += f"  value {fmt(node.value, 4)} target {fmt(node.target, 4)} progress {fmt(node.progress)}"
            if node.stale:
                text += f"  [bright_black]stale: latest value {node.value_period}[/]"
        elif node.no_data:
            text += f"  [bright_black]no data: {', '.join(node.no_data)}[/]"
        return text

    def add(tree: Tree, node: scoring.Result) -> None:
        for child in node.children:
            add(tree.add(label(child)), child)

    root = Tree(label(result))
    add(root, result)
    console.print(root)
    priorities = analysis.fix_first(result, limit=5)
    if priorities:
        console.print("\n[bold]What to fix first[/bold] (absolute weight × (1 − score))")
        for p in priorities:
            console.print(
                f"  {p.impact:.3f}  {p.name}  (score {p.score:.3f}, weight {p.absolute_weight:.3f})"
            )


class Command(DomainCommand):
    help = "Balanced scorecards as files: evaluate, import, export, list."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ev = sub.add_parser("evaluate", help="score a scorecard file")
        ev.add_argument("file", type=Path)
        ev.add_argument("--period", type=_period, help="YYYY-MM (default: latest values)")
        ev.add_argument("--json", action="store_true")
        ev.add_argument(
            "--department",
            help="read metric indicators' values for this department's subtree (default: company)",
        )
        sh = sub.add_parser("show", help="score a stored scorecard, as its pages and API do")
        sh.add_argument("name")
        sh.add_argument("--department")
        sh.add_argument(
            "--period", type=_period, help="YYYY-MM (default: the latest complete month)"
        )
        sh.add_argument("--json", action="store_true")
        im = sub.add_parser("import", help="store a scorecard file for a department")
        im.add_argument("file", type=Path)
        im.add_argument("--department", required=True)
        im.add_argument(
            "--replace", action="store_true", help="replace the department's scorecard of that name"
        )
        ex = sub.add_parser("export", help="print a stored scorecard as YAML")
        ex.add_argument("name")
        ex.add_argument("--department")
        ex.add_argument("--output", "-o", type=Path)
        ls = sub.add_parser("list", help="list stored scorecards")
        ls.add_argument(
            "--period", type=_period, help="YYYY-MM (default: the latest complete month)"
        )
        ls.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    def do_evaluate(self, options: dict[str, Any]) -> None:
        card = files.load(options["file"])
        uses_metrics = any(
            i.metric for p in card.perspectives for g in _goals(p.goals) for i in g.indicators
        )
        if uses_metrics:
            require_current_schema()
        department = _department(options["department"]) if options["department"] else None

        def values_for(metric: str, filter_: dict[str, str] | None) -> dict[str, float | None]:
            return kpi_history(metric, filter_, department=department)

        result = scoring.evaluate(
            mapping.file_to_scoring(card, values_for=values_for if uses_metrics else None),
            period=options["period"],
        )
        self._print(result, options["json"])

    def _print(self, result: scoring.Result, as_json: bool, period: str | None = None) -> None:
        if as_json:
            data = result.to_dict()
            if period:
                data["period"] = period
            data["fix_first"] = [p.__dict__ for p in analysis.fix_first(result)]
            self.stdout.write(json.dumps(data, indent=2))
        else:
            render(result, Console(file=cast(Any, self.stdout), highlight=False))

    def do_show(self, options: dict[str, Any]) -> None:
        require_current_schema()
        found = _find(options["name"], options["department"])
        period = options["period"] or latest_period()
        result = scoring.evaluate(scorecard_scoring(found), period=period)
        self._print(result, options["json"], period)

    def do_import(self, options: dict[str, Any]) -> None:
        require_current_schema()
        card = files.load(options["file"])
        department = _department(options["department"])
        scorecard = scorecard_import(card=card, department=department, replace=options["replace"])
        self.stdout.write(f"imported scorecard {scorecard.name!r} for {department.name}")

    def do_export(self, options: dict[str, Any]) -> None:
        require_current_schema()
        text = files.dump(scorecard_export(_find(options["name"], options["department"])))
        if options["output"]:
            options["output"].write_text(text, encoding="utf-8")
            self.stdout.write(f"written to {options['output']}")
        else:
            self.stdout.write(text)

    def do_list(self, options: dict[str, Any]) -> None:
        require_current_schema()
        rows = list(Scorecard.objects.select_related("department"))
        period = options["period"] or latest_period()
        listed: list[dict[str, Any]] = []
        for sc in rows:
            try:
                result = scoring.evaluate(scorecard_scoring(sc), period=period)
                score, status, error = result.score, result.status.value, None
            except scoring.DefinitionError as exc:
                score, status, error = None, "unscorable", str(exc)
            listed.append(
                {
                    "department": sc.department.name,
                    "name": sc.name,
                    "score": score,
                    "status": status,
                    **({"error": error} if error else {}),
                }
            )
        if options["json"]:
            self.stdout.write(json.dumps(listed, indent=2))
            return
        if not rows:
            self.stdout.write(
                "no scorecards yet: `crm-scorecard templates install NAME --department D` adds one"
            )
        for row in listed:
            shown = "cannot be scored" if row["status"] == "unscorable" else fmt(row["score"])
            self.stdout.write(
                f"{row['department']:<20} {row['name']:<40} {shown:>8}  {row['status']}"
                + (f"  {row['error']}" if "error" in row else "")
            )


def _department(name: str) -> Department:
    department = Department.objects.filter(name__iexact=name).first()
    if department is None:
        known = ", ".join(Department.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No department named {name!r}. Known: {known}.")
    return department


def _find(name: str, department: str | None) -> Scorecard:
    """The one stored scorecard of that name (in that department)."""
    matches = Scorecard.objects.filter(name__iexact=name)
    if department:
        matches = matches.filter(department__name__iexact=department)
    found = list(matches.select_related("department"))
    if not found:
        raise CommandError(f"No scorecard named {name!r}; see `crm-scorecard scorecard list`.")
    if len(found) > 1:
        names = ", ".join(s.department.name for s in found)
        raise CommandError(
            f"{len(found)} departments have a scorecard named {name!r} ({names}); add --department."
        )
    return found[0]


def _goals(goals: list[files.GoalIn]) -> list[files.GoalIn]:
    out: list[files.GoalIn] = []
    for g in goals:
        out.append(g)
        out.extend(_goals(g.goals))
    return out
