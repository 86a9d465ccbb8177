from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from crm_scorecard.cli.base import ProductCommand
from crm_scorecard.crm.import_mapping import (
    ColumnMapping,
    MappingError,
    mapping_from_options,
    mapping_read,
    preset_load,
    presets,
)
from crm_scorecard.crm.imports import (
    SPECS,
    ImportFileError,
    ImportReport,
    records_import,
    rejects_write,
)
from crm_scorecard.metrics.api import refresh_mirror

SHOWN_ERRORS = 50
STDIN = "-"


class Command(ProductCommand):
    help = (
        "Import records from a CSV or .xlsx file (`-`: standard input). The last line "
        "printed is always `imported N, updated M, rejected K` (with --json: one JSON "
        "document). Exit status: 0 all rows imported, 1 some rows rejected, 2 the file is "
        "unusable or the import stopped part-way."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("entity", choices=list(SPECS))
        parser.add_argument("file", help="a .csv or .xlsx file, or - for standard input")
        parser.add_argument(
            "--rejects",
            type=Path,
            help="where to write rejected rows (default: beside the input; "
            "on a dry run or from standard input, only when given)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="validate only; write nothing (the errors are printed, not written to a file)",
        )
        parser.add_argument(
            "--preset",
            choices=list(presets()),
            help="read another CRM's export as it is (its column names and values)",
        )
        parser.add_argument(
            "--mapping", type=Path, help="a YAML mapping file (columns, values, set, date_format)"
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar='"FILE COLUMN=column"',
            help='which column of ours a column of the file fills (repeatable); "A + B=column" '
            "joins two with a space",
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="column=VALUE",
            help="the value for a column a row leaves blank or the file does not have (repeatable)",
        )
        parser.add_argument(
            "--date-format",
            metavar="LAYOUT",
            help="the layout of dates that are not ISO 8601, e.g. %%d/%%m/%%Y or %%m/%%d/%%Y",
        )
        parser.add_argument(
            "--create-departments",
            action="store_true",
            help="make a department a row names that does not exist yet (else a row error)",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="print the summary and every rejected row as one JSON document",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        from_stdin = options["file"] == STDIN
        path = Path("stdin.csv" if from_stdin else options["file"])
        show_progress = not options["no_progress"] and not options["json"] and sys.stderr.isatty()
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
        code, failure = 0, None
        try:
            mapping = self._mapping(options)
            data = sys.stdin.buffer.read() if from_stdin else None
            with progress:
                report = records_import(
                    entity=options["entity"],
                    path=path,
                    data=data,
                    dry_run=options["dry_run"],
                    mapping=mapping,
                    create_departments=options["create_departments"],
                    progress=lambda n: progress.advance(task, n),
                    on_total=lambda total: progress.update(task, total=total),
                )
        except ImportFileError as exc:
            failure = str(exc)
            if not options["json"]:
                self.stderr.write(f"error: {exc}")
            if options["traceback"] and exc.__cause__ is not None:
                self.stderr.write("".join(traceback.format_exception(exc.__cause__)))
            report, code = exc.report, 2
        mirror: list[str] = []
        if report is not None:
            if not options["json"]:
                self._problems(report, path, options, from_stdin)
            elif options["rejects"] and report.rejected:
                self._rejects_file(report, options["rejects"])
            if report.dry_run:
                if not options["json"]:
                    self.stdout.write("dry run: nothing was written")
            elif report.imported or report.updated or report.created_departments:
                # Pages read the columnar mirror as it stands: bring it up to date now.
                mirror = refresh_mirror()
                if mirror and not options["json"]:
                    self.stdout.write(f"columnar mirror updated: {', '.join(mirror)}")
        code = code or (1 if report and report.rejected else 0)
        if options["json"]:
            document = (report or ImportReport(entity=options["entity"])).as_dict()
            document.update(error=failure, exit_status=code, mirror_updated=mirror)
            self.stdout.write(json.dumps(document, ensure_ascii=False, default=str))
        else:
            # Always the last line, however the run ended: what is in the database now.
            self.stdout.write(report.summary() if report else "imported 0, updated 0, rejected 0")
        if code:
            sys.exit(code)

    def _mapping(self, options: dict[str, Any]) -> ColumnMapping:
        """The preset, then the mapping file, then --map/--set/--date-format on top."""
        mapping = ColumnMapping()
        try:
            if options["preset"]:
                mapping.extend(preset_load(options["preset"]))
            if options["mapping"]:
                mapping.extend(mapping_read(options["mapping"]))
            mapping.extend(
                mapping_from_options(
                    maps=options["map"], sets=options["set"], date_format=options["date_format"]
                )
            )
        except MappingError as exc:
            raise ImportFileError(str(exc)) from None
        return mapping

    def _problems(
        self, report: ImportReport, path: Path, options: dict[str, Any], from_stdin: bool
    ) -> None:
        """Say what was ignored, made and rejected; write the rejects file (not on a dry run
        or from standard input unless --rejects names one: then every error is printed)."""
        if report.ignored_columns:
            shown = [
                f'{c} (did you mean {report.suggestions[c]}? --map "{c}={report.suggestions[c]}")'
                if c in report.suggestions
                else c
                for c in report.ignored_columns
            ]
            self.stderr.write(f"note: ignored unknown column(s): {', '.join(shown)}")
        for note in report.notes:
            self.stderr.write(f"note: {note}")
        if report.created_departments:
            verb = "would create" if report.dry_run else "created"
            self.stderr.write(f"{verb} department(s): {', '.join(report.created_departments)}")
        to_file = report.rejected and (options["rejects"] or not (report.dry_run or from_stdin))
        shown_errors = report.errors[:SHOWN_ERRORS] if to_file else report.errors
        for error in shown_errors:
            self.stderr.write(f"rejected {error}")
        if len(report.errors) > len(shown_errors):
            self.stderr.write(f"... and {len(report.errors) - len(shown_errors)} more problems")
        if to_file:
            self._rejects_file(
                report, options["rejects"] or path.with_name(f"{path.stem}.rejects.csv")
            )

    def _rejects_file(self, report: ImportReport, rejects: Path) -> None:
        try:
            rejects_write(report=report, header=report.header, path=rejects)
        except OSError as exc:
            self.stderr.write(f"error: cannot write the rejected rows to {rejects}: {exc}")
            return
        self.stderr.write(f"rejected rows written to {rejects}")
