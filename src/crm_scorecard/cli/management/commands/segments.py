"""`crm-scorecard segments ...`: score RFM segments, show cohorts, save and export
segments of customers. Thin: parse, call the segments services and selectors, print."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from crm_scorecard.accounts.models import Department
from crm_scorecard.cli.base import ProductCommand
from crm_scorecard.cli.management.commands.compute import parse_date
from crm_scorecard.cli.management.commands.metrics import parse_filter
from crm_scorecard.metrics.api import refresh_mirror
from crm_scorecard.reports.tables import csv_bytes
from crm_scorecard.segments import selectors, services


class Command(ProductCommand):
    help = (
        "Customer segments: RFM scores and named segments at a date (stored, with the moves "
        "since the date before), cohorts, and saved segments exported as CSV."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rfm = sub.add_parser("rfm", help="score every customer at a date and show the segments")
        rfm.add_argument("--as-of", type=parse_date, help="YYYY-MM-DD (default: today)")
        rfm.add_argument("--json", action="store_true")
        cohorts = sub.add_parser(
            "cohorts",
            help="retention and revenue per customer by cohort, as last computed "
            "(--refresh: compute and store them now, as the nightly worker does)",
        )
        cohorts.add_argument(
            "--refresh",
            action="store_true",
            help="compute every department's cohorts and store them",
        )
        cohorts.add_argument("--json", action="store_true")
        sub.add_parser("list", help="list the saved segments")
        save = sub.add_parser("save", help="save a segment: a name and FIELD=VALUE filters")
        save.add_argument("name")
        save.add_argument(
            "--filter", action="append", type=parse_filter, default=[], help="FIELD=VALUE"
        )
        save.add_argument("--department", required=True, help="the department it belongs to")
        export = sub.add_parser("export", help="write a saved segment's customers as CSV")
        export.add_argument("name")
        export.add_argument("-o", "--output", required=True, type=Path, help="the CSV file")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    def do_rfm(self, options: dict[str, Any]) -> None:
        as_of: date = options["as_of"] or timezone.localdate()
        count = services.rfm_refresh(as_of=as_of)
        refresh_mirror()  # so `metrics show --filter rfm=...` reads the new scores
        summary = selectors.rfm_summary(user=None, as_of=as_of)
        if options["json"]:
            self.stdout.write(json.dumps(summary.as_dict(), indent=2))
            return
        self.stdout.write(f"scored {count:,} customers on {as_of.isoformat()}")
        for s in summary.segments:
            self.stdout.write(f"  {s.label:<22} {s.customers:>10,} {s.revenue:>16,.2f}")
        if summary.previous is None:
            self.stdout.write("no earlier scores: no moves to show")
            return
        self.stdout.write(f"moves since {summary.previous.isoformat()}:")
        for m in summary.changed:
            self.stdout.write(f"  {m.before_label} -> {m.after_label}: {m.customers:,}")
        self.stdout.write(f"  stayed: {summary.stayed:,}")

    def do_cohorts(self, options: dict[str, Any]) -> None:
        if options["refresh"]:
            services.cohorts_refresh()
        result = selectors.cohorts(user=None)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
            return
        if not result.computed:
            self.stdout.write(
                "Cohorts not computed yet: run `crm-scorecard segments cohorts --refresh` "
                "(the worker computes them nightly)."
            )
            return
        self.stdout.write(f"cohorts as of {result.computed_at:%Y-%m-%d %H:%M %Z}")
        for c in result.cohorts:
            cells = " ".join("   ." if v is None else f"{v * 100:3.0f}%" for v in c.retention)
            self.stdout.write(f"{c.month} {c.customers:>8,}  {cells}")

    def do_list(self, options: dict[str, Any]) -> None:
        for s in selectors.saved_segments_visible(user=None):
            conditions = ", ".join(f"{k}={v}" for k, v in s.filters.items())
            self.stdout.write(f"{s.name}  [{s.department.name}]  {conditions}")

    def do_save(self, options: dict[str, Any]) -> None:
        department = Department.objects.filter(name=options["department"]).first()
        if department is None:
            raise CommandError(f"no department named {options['department']!r}")
        saved = services.saved_segment_create(
            user=None, name=options["name"], filters=dict(options["filter"]), department=department
        )
        self.stdout.write(f"saved segment {saved.name!r}: {saved.filters}")

    def do_export(self, options: dict[str, Any]) -> None:
        segment = selectors.saved_segment_get(user=None, name=options["name"])
        rows = selectors.saved_segment_rows(user=None, segment=segment)
        options["output"].write_bytes(csv_bytes(selectors.EXPORT_HEADER, rows))
        self.stdout.write(f"wrote {len(rows):,} customers to {options['output']}")
