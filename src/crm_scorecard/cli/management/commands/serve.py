from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandParser

from crm_scorecard.cli.base import ProductCommand


class Command(ProductCommand):
    help = "Serve the web app (default http://127.0.0.1:8000). For production, run crm_scorecard.wsgi under gunicorn or uwsgi."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        address = f"{options['host']}:{options['port']}"
        if ":" in options["host"]:
            address = f"[{options['host']}]:{options['port']}"
        call_command("runserver", address, use_reloader=False, skip_checks=True)
