"""Rating sheets from the command line: a campaign's links as a CSV file."""

from __future__ import annotations

import csv
from contextlib import ExitStack
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

from django.core.management.base import CommandError, CommandParser, OutputWrapper
from django.utils import timezone

from crm_scorecard.cli.base import ProductCommand, progress_bar
from crm_scorecard.cli.management.commands.compute import parse_date
from crm_scorecard.crm.imports import FORMULA_STARTS
from crm_scorecard.surveys import selectors, services
from crm_scorecard.surveys.models import SheetLanguage

PROGRESS_FROM = 200  # customers; fewer are done before a bar would be worth drawing
HEADER = ["customer_id", "name", "email", "link", "expires"]


def inert(value: object) -> str:
    """A cell a spreadsheet will show as text: one that starts like a formula gets a '."""
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class Command(ProductCommand):
    help = "Rating sheets: issue a campaign's links and write them as CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        links = sub.add_parser(
            "links",
            help="one new link per customer with an order or contact since DATE, as CSV "
            "(customer id, name, email, link, expires)",
        )
        links.add_argument(
            "--since", type=parse_date, help="YYYY-MM-DD or YYYY-MM (default: 30 days ago)"
        )
        links.add_argument(
            "--after",
            choices=selectors.AFTER_CHOICES,
            help="only customers with an order (orders) or a contact (contacts) since then; "
            "each link is about the latest one (default: either, links about nothing in particular)",
        )
        links.add_argument("--language", choices=SheetLanguage.values, default="")
        links.add_argument("--days", type=int, help="days each link stays open (RATING_LINK_DAYS)")
        links.add_argument("-o", "--output", type=Path, help="CSV file (default: standard output)")
        links.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] is not None and options["days"] < 1:
            raise CommandError("--days must be 1 or more")
        now = timezone.now()
        since = (
            datetime.combine(options["since"], time.min, tzinfo=timezone.get_current_timezone())
            if options["since"]
            else now - timedelta(days=30)
        )
        customers = selectors.campaign_customers(since=since, after=options["after"])
        total = customers.count()
        with ExitStack() as stack:
            out: IO[str] | OutputWrapper = (
                stack.enter_context(options["output"].open("w", encoding="utf-8", newline=""))
                if options["output"]
                else self.stdout
            )
            advance = stack.enter_context(
                progress_bar(
                    "links", total, enabled=total >= PROGRESS_FROM and not options["no_progress"]
                )
            )
            writer = csv.writer(out)
            writer.writerow(HEADER)
            issued = services.rating_links_issue(
                recipients=selectors.campaign_recipients(customers=customers),
                language=options["language"],
                days=options["days"],
                now=now,
                progress=advance,
            )
            written = 0
            for item in issued:
                c = item.link.customer
                cells = [
                    c.external_id,
                    c.full_name,
                    c.email,
                    item.url,
                    item.link.expires_at.isoformat(),
                ]
                writer.writerow([inert(cell) for cell in cells])
                written += 1
        where = f" to {options['output']}" if options["output"] else ""
        self.stderr.write(f"{written} links written{where}, since {since:%Y-%m-%d}.")
