from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from crm_scorecard.cli.base import ProductCommand, progress_bar
from crm_scorecard.metrics.api import TABLES, export_parquet


class Command(ProductCommand):
    help = "Write the CRM tables as Parquet files, for METRICS_ENGINE=parquet:DIR or a warehouse."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["folder"]
        with progress_bar("tables", len(TABLES), enabled=not options["no_progress"]) as advance:
            export_parquet(folder, progress=advance)
        self.stdout.write(
            f"wrote {len(TABLES)} tables to {folder}; compute on them with METRICS_ENGINE=parquet:{folder}"
        )
