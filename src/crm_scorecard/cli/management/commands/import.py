from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from crm_scorecard.cli.base import ProductCommand
from crm_scorecard.crm.imports import (
    SPECS,
    ImportFileError,
    ImportReport,
    records_import,
    rejects_write,
)
from crm_scorecard.metrics.api import refresh_mirror

SHOWN_ERRORS = 50


class Command(ProductCommand):
    help = (
        "Import records from a CSV or .xlsx file. The last line printed is always "
        "`imported N, updated M, rejected K`. Exit status: 0 all rows imported, "
        "1 some rows rejected, 2 the file is unusable or the import stopped part-way."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("entity", choices=list(SPECS))
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--rejects",
            type=Path,
            help="where to write rejected rows (default: beside the input; "
            "on a dry run, only when given)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="validate only; write nothing (the errors are printed, not written to a file)",
        )
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
        report: ImportReport | None = None
        code = 0
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
            if options["traceback"] and exc.__cause__ is not None:
                self.stderr.write("".join(traceback.format_exception(exc.__cause__)))
            report, code = exc.report, 2
        if report is not None:
            self._problems(report, path, options)
            if report.dry_run:
                self.stdout.write("dry run: nothing was written")
            elif report.imported or report.updated:
                # Pages read the columnar mirror as it stands: bring it up to date now.
                copied = refresh_mirror()
                if copied:
                    self.stdout.write(f"columnar mirror updated: {', '.join(copied)}")
        # Always the last line, however the run ended: what is in the database now.
        self.stdout.write(report.summary() if report else "imported 0, updated 0, rejected 0")
        code = code or (1 if report and report.rejected else 0)
        if code:
            sys.exit(code)

    def _problems(self, report: ImportReport, path: Path, options: dict[str, Any]) -> None:
        """Say what was ignored and rejected; write the rejects file (not on a dry run unless
        --rejects names one: then every error is printed instead)."""
        if report.ignored_columns:
            self.stderr.write(
                f"note: ignored unknown column(s): {', '.join(report.ignored_columns)}"
            )
        to_file = report.rejected and (options["rejects"] or not report.dry_run)
        shown = report.errors[:SHOWN_ERRORS] if to_file else report.errors
        for error in shown:
            self.stderr.write(f"rejected {error}")
        if len(report.errors) > len(shown):
            self.stderr.write(f"... and {len(report.errors) - len(shown)} more problems")
        if not to_file:
            return
        rejects = options["rejects"] or path.with_name(f"{path.stem}.rejects.csv")
        try:
            rejects_write(report=report, header=report.header, path=rejects)
        except OSError as exc:
            self.stderr.write(f"error: cannot write the rejected rows to {rejects}: {exc}")
            return
        self.stderr.write(f"rejected rows written to {rejects}")
