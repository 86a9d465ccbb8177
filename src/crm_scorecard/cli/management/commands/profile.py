from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crm_scorecard.accounts.models import User
from crm_scorecard.cli.base import ProductCommand
from crm_scorecard.errors import Invalid
from crm_scorecard.metrics.api import (
    PROFILE_MEASURES,
    customer_profile,
    engine_for,
    format_value,
    profile_check,
)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def parse_filter(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise CommandError(f"--filter takes DIMENSION=VALUE, not {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


class Command(ProductCommand):
    help = (
        "The customer profile: customers, active customers, revenue and orders by one or two "
        "dimensions (see README, 'Customer profile')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--by",
            action="append",
            default=[],
            metavar="DIMENSION",
            help="break down by this dimension (once or twice: rows, then columns)",
        )
        parser.add_argument(
            "--measure",
            default="customers",
            help=f"sort by, and share of: {', '.join(PROFILE_MEASURES)} (default customers)",
        )
        parser.add_argument(
            "--filter", action="append", type=parse_filter, default=[], help="DIMENSION=VALUE"
        )
        parser.add_argument("--from", dest="since", type=parse_day, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="until", type=parse_day, help="last day, YYYY-MM-DD")
        parser.add_argument(
            "--share", action="store_true", help="add each row's share of its heat-map row"
        )
        parser.add_argument("--as", dest="as_user", help="apply this user's department scope")
        parser.add_argument("--engine", help="auto, app, duckdb or parquet:DIR")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        user = None
        if options["as_user"]:
            user = User.objects.filter(username=options["as_user"]).first()
            if user is None:
                raise CommandError(f"no user named {options['as_user']!r}")
        by, measure = options["by"], options["measure"]
        if not by:
            raise CommandError("give one or two --by DIMENSION (see --help)")
        try:
            profile_check(
                by=by,
                filters=options["filter"],
                since=options["since"],
                until=options["until"],
                measure=measure,
            )
        except Invalid as exc:
            raise CommandError(str(exc)) from None
        # A command reads the mirror as it stands, like a page; `compute` brings it up to date.
        with engine_for(user=user, engine=options["engine"], sync=False) as engine:
            found = customer_profile(
                engine=engine,
                by=by,
                filters=options["filter"],
                since=options["since"],
                until=options["until"],
            )
        data = found.as_dict(measure, share=options["share"])
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        if not data["rows"]:
            self.stdout.write("no data: no customers match")
            return
        header = [*by, *(m.name for m in PROFILE_MEASURES.values())]
        if options["share"]:
            header.append(f"share of {PROFILE_MEASURES[measure].name.lower()}")
        lines = [header]
        for row in data["rows"]:
            cells = [*row["values"]]
            cells += [format_value(row[key], m.unit) for key, m in PROFILE_MEASURES.items()]
            if options["share"]:
                cells.append(format_value(row["share"], "percent"))
            lines.append(cells)
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
        for line in lines:
            text = [
                str(c).ljust(w) if i < len(by) else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            ]
            self.stdout.write("  ".join(text).rstrip())
