from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandParser
from gunicorn.app.base import BaseApplication

from crm_scorecard.cli.base import ProductCommand


def default_workers() -> int:
    return max(2, (os.cpu_count() or 1) * 2)


class Server(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """Gunicorn serving the app: several worker processes, each with a few threads."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """The app, with every view imported and every page template compiled, once, in the
        process the workers are forked from: no worker makes its first visitor wait for
        that (it took over a second per worker)."""
        from django.apps import apps
        from django.db import connections
        from django.template.loader import get_template
        from django.urls import get_resolver

        from crm_scorecard.wsgi import application

        get_resolver().url_patterns  # noqa: B018  # imports the views
        pages = Path(apps.get_app_config("web").path) / "templates" / "web"
        for path in pages.glob("*.html"):
            get_template(f"web/{path.name}")
        connections.close_all()  # each worker opens its own
        return application


class Command(ProductCommand):
    help = (
        "Serve the web app (default http://127.0.0.1:8000) with gunicorn: worker processes "
        "(--workers, default two per CPU) with threads each. --dev runs Django's development server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=default_workers())
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument(
            "--connections",
            type=int,
            help="open connections a worker takes at most (default: twice its threads)",
        )
        parser.add_argument(
            "--dev", action="store_true", help="Django's single-process development server"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host = f"[{options['host']}]" if ":" in options["host"] else options["host"]
        address = f"{host}:{options['port']}"
        if options["dev"]:
            call_command("runserver", address, use_reloader=False, skip_checks=True)
            return
        self.stdout.write(
            f"Serving on http://{address}/ with {options['workers']} workers × "
            f"{options['threads']} threads (Ctrl-C stops)."
        )
        Server(
            {
                "bind": address,
                "workers": options["workers"],
                "threads": options["threads"],
                # A worker accepts connections while it has room; uncapped, the first one
                # awake takes most of the kept-alive browser connections and runs them on
                # one core. Measured with 20 users on 2 cores: 140 pages/s uncapped, 270
                # capped at twice the threads.
                "worker_connections": options["connections"] or 2 * options["threads"],
                "worker_class": "gthread",
                "preload_app": True,
                "accesslog": "-",
                # The access line ends with the answer's X-Request-ID, the id the
                # application's own log lines for that request carry.
                "access_log_format": (
                    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
                    "%({x-request-id}o)s"
                ),
                "control_socket_disable": True,
                "timeout": 120,  # a first page on a big database may compute for a while
            }
        ).run()
