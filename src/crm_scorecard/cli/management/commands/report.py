"""`crm-scorecard report SCORECARD --department D --period YYYY-MM --format pdf|xlsx|csv -o FILE`:
a stored scorecard as a PDF board pack, an Excel workbook or one table as CSV (`--table`),
as its pages show it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db.models import QuerySet

from crm_scorecard.accounts.models import Department, User
from crm_scorecard.accounts.scope import departments_for
from crm_scorecard.cli.base import ProductCommand
from crm_scorecard.metrics.api import DIMENSIONS
from crm_scorecard.reports.exports import Format, report_render
from crm_scorecard.reports.tables import Table
from crm_scorecard.scorecards import files, scoring
from crm_scorecard.scorecards.models import Scorecard
from crm_scorecard.scorecards.selectors import scorecards_visible


def _period(text: str) -> str:
    try:
        return files.parse_period(text)
    except ValueError as exc:
        # argparse names the option and prints the usage (a CommandError here would be a
        # traceback: it is raised while the arguments are parsed)
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(ProductCommand):
    help = (
        "Export a stored scorecard for a period as a PDF board pack, an Excel workbook or "
        "one of its tables as CSV. "
        "With --as, only what that user may see."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scorecard", help="the scorecard's name")
        parser.add_argument("--department", help="the scorecard's department (when names repeat)")
        parser.add_argument(
            "--period", type=_period, help="YYYY-MM (default: the latest complete month)"
        )
        parser.add_argument("--format", choices=[f.value for f in Format], required=True)
        parser.add_argument(
            "--table",
            choices=[t.value for t in Table],
            default=Table.TREE.value,
            help="with --format csv: which table (default: tree)",
        )
        parser.add_argument(
            "-o", "--output", type=Path, help="file to write (default: a name in this folder)"
        )
        parser.add_argument("--as", dest="as_user", help="export as this user sees it")
        parser.add_argument(
            "--by",
            action="append",
            choices=DIMENSIONS,
            default=[],
            help="add each metric indicator broken down by this dimension (repeatable)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user: User | None = None
        if options["as_user"]:
            user = User.objects.filter(username=options["as_user"]).first()
            if user is None:
                raise CommandError(f"--as: no user named {options['as_user']!r}")
        scorecard = _find(options["scorecard"], options["department"], user)
        try:
            export = report_render(
                scorecard=scorecard,
                user=user,
                fmt=options["format"],
                period=options["period"],
                breakdowns=options["by"],
                table=options["table"],
            )
        except scoring.DefinitionError as exc:
            raise CommandError(f"Scorecard {scorecard.name!r} cannot be scored: {exc}") from None
        output: Path = options["output"] or Path(export.filename)
        try:
            output.write_bytes(export.content)
        except OSError as exc:
            raise CommandError(f"-o: cannot write {output}: {exc.strerror}") from None
        self.stdout.write(f"written {output} ({len(export.content):,} bytes)")


def _find(name: str, department: str | None, user: User | None) -> Scorecard:
    """The one scorecard of that name (in that department) that `user` may see; without
    --as, any stored scorecard (the operator's view)."""
    visible: QuerySet[Scorecard] = (
        Scorecard.objects.select_related("department")
        if user is None
        else scorecards_visible(user=user)
    )
    whose = "" if user is None else f" that {user.username} may see"
    if department:
        departments = Department.objects.all() if user is None else departments_for(user=user)
        if not departments.filter(name__iexact=department).exists():
            names = ", ".join(departments.values_list("name", flat=True)) or "none"
            raise CommandError(
                f"--department: no department named {department!r}{whose}. Known: {names}."
            )
        visible = visible.filter(department__name__iexact=department)
    found = list(visible.filter(name__iexact=name))
    where = f" in {department}" if department else ""
    if not found:
        raise CommandError(
            f"No scorecard named {name!r}{where}{whose}; see `crm-scorecard scorecard list`."
        )
    if len(found) > 1:
        names = ", ".join(s.department.name for s in found)
        raise CommandError(
            f"{len(found)} departments have a scorecard named {name!r} ({names}); add --department."
        )
    return found[0]
