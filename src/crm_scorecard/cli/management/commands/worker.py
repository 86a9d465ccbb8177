"""`crm-scorecard worker [--once | --burst] [--no-schedule] [--interval S]`: the background
worker, which keeps the schedule (nightly compute, scheduled report emails) and runs the
queued jobs (reports pages asked for) in one process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crm_scorecard.cli.base import ProductCommand
from crm_scorecard.jobs.worker import Runner, worker_name


class Command(ProductCommand):
    help = (
        "Run the background worker: queue what the schedule says is due (the nightly "
        "compute, scheduled report emails) and run every queued job, round after round. "
        "--once: one round, then exit (for cron); --burst: run the queued jobs, then exit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        how = parser.add_mutually_exclusive_group()
        how.add_argument(
            "--once",
            action="store_true",
            help="queue what is due now, run every queued job, then exit (a cron line's way)",
        )
        how.add_argument(
            "--burst",
            action="store_true",
            help="run the jobs already queued, then exit (no schedule)",
        )
        parser.add_argument(
            "--no-schedule",
            action="store_true",
            help="only run queued jobs; leave the schedule to another worker",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=5.0,
            help="seconds between rounds (default 5): how soon a page's job starts",
        )
        parser.add_argument("--name", default=None, help="this worker's name in the queue")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] <= 0:
            raise CommandError("--interval: give a number of seconds above 0")
        name = (options["name"] or worker_name())[:64]
        runner = Runner(
            name=name,
            schedule=not (options["burst"] or options["no_schedule"]),
            say=self._say if options["verbosity"] > 0 else lambda _text: None,
        )
        if options["once"] or options["burst"]:
            done = runner.round()
            self.stdout.write(f"queued {done.queued} scheduled run(s), ran {done.ran} job(s)")
            return
        runner.forever(interval=options["interval"])

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()
