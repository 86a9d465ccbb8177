from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crm_scorecard.cli.base import ProductCommand, progress_bar
from crm_scorecard.metrics.api import (
    DIMENSIONS,
    GRAINS,
    TABLES,
    MetricError,
    UnknownColumn,
    engine_for,
    engine_setting,
    kpi_compute,
    mirror_stale,
    mirror_sync,
)
from crm_scorecard.scorecards.selectors import indicator_slices


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
        try:
            if (options["engine"] or engine_setting()) == "auto":
                # The default engine reads the columnar mirror: bring it up to date first,
                # with a progress bar (the first copy of a big database takes a while).
                stale = TABLES if options["refresh"] else mirror_stale()
                with progress_bar(
                    "columnar copy", len(stale), enabled=not options["no_progress"] and bool(stale)
                ) as copied:
                    mirror_sync(refresh=options["refresh"], progress=lambda _table: copied(1))
            with engine_for(engine=options["engine"], materialise=True) as engine:
                keys = options["metrics"] or [m.key for m in engine.registry if m.kind != "manual"]
                # Every department's own numbers are always stored (its scorecards read
                # them), and the breakdowns stored scorecards' indicators filter on; --by
                # adds company-wide breakdowns.
                company, within = indicator_slices()
                extra = [*(options["by"] or []), *sorted(company)]
                by = [None, "department", *dict.fromkeys(d for d in extra if d != "department")]
                with progress_bar(
                    "metrics", len(keys), enabled=not options["no_progress"]
                ) as advance:
                    run = kpi_compute(
                        grain=options["grain"],
                        since=options["since"],
                        until=options["until"],
                        metrics=keys,
                        by=by,
                        slices=within,
                        engine=engine,
                        progress=lambda _key: advance(1),
                    )
        except (MetricError, UnknownColumn, ValueError) as exc:
            raise CommandError(str(exc)) from None
        seconds = time.perf_counter() - began
        self.stdout.write(
            f"computed {len(keys)} metrics ({options['grain']}) on {run.engine}: "
            f"{run.rows_written:,} values stored in {seconds:.1f} s"
        )
