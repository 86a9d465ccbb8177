from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crm_scorecard.cli.base import ProductCommand, progress_bar
from crm_scorecard.crm.seed import CrmDataExists, SeedPlan, crm_data_clear, crm_seed


def parse_month(text: str) -> date:
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise CommandError(f"--end must be a month like 2026-10, not {text!r}") from None


class Command(ProductCommand):
    help = "Fill the database with a synthetic company (deterministic for a given --seed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=5000)
        parser.add_argument("--months", type=int, default=24)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--end",
            type=parse_month,
            default=None,
            help="last month, YYYY-MM (default: this month)",
        )
        parser.add_argument("--replace", action="store_true", help="delete existing CRM data first")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["customers"] < 1 or options["months"] < 1:
            raise CommandError("--customers and --months must be at least 1")
        plan = SeedPlan(
            customers=options["customers"], months=options["months"], seed=options["seed"]
        )
        if options["end"]:
            plan.end = options["end"]
        if options["replace"]:
            crm_data_clear()
        began = time.perf_counter()
        try:
            with progress_bar(
                "customers", plan.customers, enabled=not options["no_progress"]
            ) as advance:
                result = crm_seed(plan=plan, progress=advance)
        except CrmDataExists as exc:
            raise CommandError(str(exc)) from None
        seconds = time.perf_counter() - began
        for table, count in result.rows.items():
            self.stdout.write(f"{table:>16}: {count:>10,}")
        self.stdout.write(
            f"seeded {result.total:,} rows in {seconds:.1f} s ({result.total / seconds:,.0f} rows/s)"
        )
