from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from crm_scorecard.cli.base import ProductCommand
from crm_scorecard.crm.imports import SPECS, ImportFileError, records_import, rejects_write

SHOWN_ERRORS = 50


class Command(ProductCommand):
    help = (
        "Import records from a CSV or .xlsx file. Exit status: 0 all rows imported, "
        "1 some rows rejected, 2 the file is unusable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("entity", choices=list(SPECS))
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--rejects", type=Path, help="where to write rejected rows (default: beside the input)"
        )
        parser.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        show_progress = not options["no_progress"] and sys.stderr.isatty()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not show_progress,
        )
        task = progress.add_task(f"{options['entity']} from {path.name}", total=None)
        try:
            with progress:
                report = records_import(
                    entity=options["entity"],
                    path=path,
                    dry_run=options["dry_run"],
                    progress=lambda n: progress.advance(task, n),
                    on_total=lambda total: progress.update(task, total=total),
                )
        except ImportFileError as exc:
            self.stderr.write(f"error: {exc}")
            self.stdout.write("imported 0, updated 0, rejected 0")
            sys.exit(2)
        if report.ignored_columns:
            self.stderr.write(
                f"note: ignored unknown column(s): {', '.join(report.ignored_columns)}"
            )
        for error in report.errors[:SHOWN_ERRORS]:
            self.stderr.write(f"rejected {error}")
        if len(report.errors) > SHOWN_ERRORS:
            self.stderr.write(f"... and {len(report.errors) - SHOWN_ERRORS} more problems")
        if report.rejected:
            rejects = options["rejects"] or path.with_name(f"{path.stem}.rejects.csv")
            rejects_write(report=report, header=report.header, path=rejects)
            self.stderr.write(f"rejected rows written to {rejects}")
        if report.dry_run:
            self.stdout.write("dry run: nothing was written")
        self.stdout.write(report.summary())
        if report.rejected:
            sys.exit(1)
