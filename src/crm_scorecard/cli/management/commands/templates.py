from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm_scorecard.accounts.models import Department
from crm_scorecard.cli.base import require_current_schema
from crm_scorecard.scorecards.services import ScorecardExists
from crm_scorecard.scorecards.templates import (
    UnknownTemplate,
    template_install,
    template_load,
    template_names,
)


class Command(BaseCommand):
    help = "Ready-made scorecards: list them, or install one for a department."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="list the templates")
        install = sub.add_parser("install", help="install a template as a department's scorecard")
        install.add_argument("name", help="template name, or 'all'")
        install.add_argument("--department", required=True)
        install.add_argument("--replace", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for name in template_names():
                card = template_load(name)
                self.stdout.write(f"{name:<14} {card.name:<40} {card.mission}")
            return
        require_current_schema()
        department = Department.objects.filter(name__iexact=options["department"]).first()
        if department is None:
            known = ", ".join(Department.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No department named {options['department']!r}. Known: {known}.")
        names = template_names() if options["name"] == "all" else [options["name"]]
        for name in names:
            try:
                scorecard = template_install(
                    name=name, department=department, replace=options["replace"]
                )
            except (UnknownTemplate, ScorecardExists) as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"installed {scorecard.name!r} for {department.name}")
