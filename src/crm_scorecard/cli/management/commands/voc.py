from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crm_scorecard.cli.base import ProductCommand, progress_bar
from crm_scorecard.voc import grouping, selectors, services

LONG_RUN = 2000  # comments from which a progress bar is shown


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text if len(text) > 7 else f"{text}-01")
    except ValueError:
        raise CommandError(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM") from None


def share(value: float | None) -> str:
    return "no rating" if value is None else f"{value:.0%}"


class Command(ProductCommand):
    help = (
        "Voice of the customer: group what customers wrote (feedback comments, complaint "
        "descriptions) into themes, list the themes, export which comment is in which."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        group = sub.add_parser(
            "group",
            help="group comments into themes; a re-run keeps every theme and every person's "
            "decision, and places new comments into the nearest existing theme",
        )
        group.add_argument("--source", choices=grouping.SOURCES, default="all")
        group.add_argument("--since", type=parse_date, help="comments from this date on")
        group.add_argument(
            "--themes",
            type=int,
            help="how many themes the first grouping draws (default: chosen from the data)",
        )
        group.add_argument(
            "--pipeline",
            choices=["auto", "tfidf", "embeddings"],
            default="auto",
            help="auto: sentence embeddings when the [embeddings] extra is installed, "
            "else TF-IDF + LSA",
        )
        group.add_argument("--no-progress", action="store_true")
        themes = sub.add_parser("themes", help="the themes with their size and negative share")
        themes.add_argument(
            "--json",
            action="store_true",
            help='print [{"id", "label", "department", "count", "negative_share", "months"}]',
        )
        export = sub.add_parser("export", help="every grouped comment with its theme")
        export.add_argument("--json", action="store_true", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    def do_group(self, options: dict[str, Any]) -> None:
        if options["themes"] is not None and options["themes"] < 1:
            raise CommandError("--themes must be 1 or more")
        began = time.perf_counter()
        embeddings = {"auto": None, "tfidf": False, "embeddings": True}[options["pipeline"]]
        count = len(grouping.comments_load(source=options["source"], since=options["since"]))
        show = not options["no_progress"] and count >= LONG_RUN
        with progress_bar("grouping", grouping.STEPS, enabled=show) as advance:
            try:
                result = services.comments_group(
                    source=options["source"],
                    since=options["since"],
                    themes=options["themes"],
                    embeddings=embeddings,
                    progress=advance,
                )
            except RuntimeError as exc:
                raise CommandError(str(exc)) from None
        placed = sum(len(c) for c in result.placed.values())
        self.stdout.write(
            f"{count} comments ({result.pipeline}): {len(result.new_themes)} new themes, "
            f"{placed} new comments placed into existing themes, "
            f"{len(result.relabel)} labels checked, in {time.perf_counter() - began:.1f} s"
        )
        for label, comments in result.new_themes:
            self.stdout.write(f"  {len(comments):6d}  {label}")

    def do_themes(self, options: dict[str, Any]) -> None:
        rows = selectors.themes_summary(user=None)
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        if not rows:
            self.stdout.write("No themes yet: run `crm-scorecard voc group`.")
            return
        for r in rows:
            trend = " ".join(f"{m}:{n}" for m, n in list(r["months"].items())[-6:])
            self.stdout.write(
                f"{r['id']:5d}  {r['count']:6d}  {share(r['negative_share']):>9}  "
                f"{r['label']}  [{r['department'] or 'unassigned'}]  {trend}"
            )

    def do_export(self, options: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(selectors.grouped_comments(user=None), ensure_ascii=False))
