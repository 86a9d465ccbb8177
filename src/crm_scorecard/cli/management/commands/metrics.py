from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from crm_scorecard.accounts.models import User
from crm_scorecard.cli.base import DomainCommand, require_current_schema
from crm_scorecard.cli.management.commands.compute import parse_date
from crm_scorecard.metrics.api import (
    DIMENSIONS,
    GRAINS,
    MetricError,
    UnknownColumn,
    engine_for,
    metric_series,
    registry,
)


def parse_filter(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise CommandError(f"--filter takes DIMENSION=VALUE, not {text!r}")
    dim, value = text.split("=", 1)
    return dim.strip(), value.strip()


class Command(DomainCommand):
    help = "The KPI catalogue: list metrics, or show one metric's values."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list", help="list every metric")
        ls.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="compute and print one metric")
        show.add_argument("key")
        show.add_argument("--grain", choices=GRAINS, default="month")
        show.add_argument("--by", choices=DIMENSIONS)
        show.add_argument(
            "--filter", action="append", type=parse_filter, default=[], help="DIMENSION=VALUE"
        )
        show.add_argument("--since", type=parse_date)
        show.add_argument("--until", type=parse_date)
        show.add_argument("--as", dest="as_user", help="apply this user's department scope")
        show.add_argument("--engine", help="auto, app, duckdb or parquet:DIR")
        show.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "list":
                self.do_list(options)
            else:
                self.do_show(options)
        except (MetricError, UnknownColumn, ValueError) as exc:
            raise CommandError(str(exc)) from None

    def do_list(self, options: dict[str, Any]) -> None:
        metrics = list(registry())
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    [
                        {
                            "key": m.key,
                            "name": m.name,
                            "kind": m.kind,
                            "unit": m.unit,
                            "direction": m.direction,
                            "meaning": m.meaning,
                        }
                        for m in metrics
                    ],
                    indent=2,
                )
            )
            return
        for m in metrics:
            better = "↑" if m.direction == "higher" else "↓"
            self.stdout.write(f"{m.key:<34} {better} {m.kind:<10} {m.unit:<10} {m.meaning}")

    def do_show(self, options: dict[str, Any]) -> None:
        require_current_schema()
        user = None
        if options["as_user"]:
            user = User.objects.filter(username=options["as_user"]).first()
            if user is None:
                raise CommandError(f"no user named {options['as_user']!r}")
        with engine_for(user=user, engine=options["engine"]) as engine:
            points = metric_series(
                key=options["key"],
                grain=options["grain"],
                by=options["by"],
                filters=dict(options["filter"]),
                since=options["since"],
                until=options["until"],
                engine=engine,
            )
        if options["json"]:
            self.stdout.write(json.dumps([p.as_dict() for p in points], indent=2))
            return
        if not points:
            self.stdout.write("no data in this range")
        for p in points:
            label = f"  {p.dimension_value}" if options["by"] else ""
            value = "no data" if p.value is None else f"{p.value:,.4f}".rstrip("0").rstrip(".")
            self.stdout.write(f"{p.period_start.isoformat()}{label:<24} {value:>16}")
