from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crm_scorecard.cli.base import ProductCommand, progress_bar
from crm_scorecard.jobs.compute import kpis_compute
from crm_scorecard.metrics.api import DIMENSIONS, GRAINS, MetricError, UnknownColumn


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text if len(text) > 7 else f"{text}-01")
    except ValueError:
        raise CommandError(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM") from None


class Command(ProductCommand):
    help = "Compute KPIs and store them (idempotent: a recomputed range replaces its values)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grain", choices=GRAINS, default="month")
        parser.add_argument("--since", type=parse_date)
        parser.add_argument("--until", type=parse_date)
        parser.add_argument(
            "--metric", action="append", dest="metrics", help="metric key; repeat for several"
        )
        parser.add_argument(
            "--by",
            action="append",
            choices=DIMENSIONS,
            help="also store a company-wide breakdown by this dimension (each department's own numbers are always stored)",
        )
        parser.add_argument(
            "--engine",
            help="auto, app, duckdb, parquet:DIR or spark:DIR (default: METRICS_ENGINE or auto)",
        )
        parser.add_argument(
            "--refresh",
            action="store_true",
            help="copy every table into the columnar mirror again (after changes made outside the product)",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        began = time.perf_counter()
        shown = not options["no_progress"]
        with ExitStack() as bars:
            # The default engine's columnar copy comes first (the first copy of a big
            # database takes a while), then the metrics: a progress bar for each.
            def bar(label: str) -> Callable[[int], Callable[[str], None]]:
                def start(total: int) -> Callable[[str], None]:
                    advance = bars.enter_context(progress_bar(label, total, enabled=shown))
                    return lambda _name: advance(1)

                return start

            try:
                done = kpis_compute(
                    grain=options["grain"],
                    since=options["since"],
                    until=options["until"],
                    metrics=options["metrics"],
                    by=options["by"] or [],
                    engine=options["engine"],
                    refresh=options["refresh"],
                    copying=bar("columnar copy"),
                    computing=bar("metrics"),
                )
            except (MetricError, UnknownColumn, ValueError) as exc:
                raise CommandError(str(exc)) from None
        seconds = time.perf_counter() - began
        self.stdout.write(
            f"computed {done.metrics} metrics ({options['grain']}) on {done.run.engine}: "
            f"{done.run.rows_written:,} values stored in {seconds:.1f} s"
        )
