from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from crm_scorecard.cli.base import ProductCommand, progress_bar
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.sources import TABLES


class Command(ProductCommand):
    help = "Write the CRM tables as Parquet files, for METRICS_ENGINE=parquet:DIR or a warehouse."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["folder"]
        folder.mkdir(parents=True, exist_ok=True)
        conn = connect("duckdb")
        try:
            with progress_bar("tables", len(TABLES), enabled=not options["no_progress"]) as advance:
                for name in TABLES:
                    conn.table(name).to_parquet(folder / f"{name}.parquet")
                    advance(1)
        finally:
            conn.close()
        self.stdout.write(
            f"wrote {len(TABLES)} tables to {folder}; compute on them with METRICS_ENGINE=parquet:{folder}"
        )
