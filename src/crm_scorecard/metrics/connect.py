"""Which engine computes the metrics, and how it reaches the CRM tables.

`METRICS_ENGINE` (environment or settings):
- `auto` (default): DuckDB over the columnar mirror of the app database (`mirror.py`: Parquet
  files kept in step, copied again only when a table changes). Measured here, DuckDB runs
  the catalogue several times faster than PostgreSQL and far faster than SQLite, and the
  mirror saves copying the event tables out of the app database on every run;
- `app`: Ibis on the app database (SQLite or PostgreSQL);
- `duckdb`: DuckDB over the app database, each table copied once per run;
- `parquet:DIR`: DuckDB over the Parquet files written by `crm-scorecard export-parquet DIR`;
- `spark:DIR`: Spark (local mode, or the cluster named by `SPARK_MASTER`) over the same Parquet
  files. Needs `pip install 'crm-scorecard[spark]'` and Java 17+.

The connections themselves, and the dialects' differences, are in `backends.py`."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from .backends import Connection, connect_app, connect_duckdb, connect_parquet, connect_pinned
from .mirror import mirror_folder, mirror_pin, mirror_ready, mirror_sync
from .sources import TABLES


def engine_setting() -> str:
    return str(os.environ.get("METRICS_ENGINE") or getattr(settings, "METRICS_ENGINE", "auto"))


def connect(choice: str | None = None, *, sync: bool = True) -> Connection:
    """An Ibis connection to where the CRM tables live, per METRICS_ENGINE. With `sync`
    False (what a page or an API request reads through), the default engine reads the
    columnar mirror as it stands, never copying a table: `compute`, imports and an explicit
    refresh bring it up to date; with no mirror yet, it reads the app database itself."""
    choice = choice or engine_setting()
    if choice.startswith(("parquet:", "spark:")):
        kind, _, path = choice.partition(":")
        folder = Path(path)
        if not folder.is_dir():
            raise ValueError(
                f"METRICS_ENGINE={choice}: no folder {folder}; run `crm-scorecard export-parquet {folder}`"
            )
        return connect_parquet(folder, spark=kind == "spark")
    if choice == "auto":
        folder = mirror_folder()
        if sync:
            mirror_sync(folder)
        elif not mirror_ready(folder):
            return connect_app()
        return connect_pinned(mirror_pin(folder))
    if choice == "app":
        return connect_app()
    if choice in ("duckdb", "duckdb-direct"):  # direct: read through the scanner, no copy
        return connect_duckdb(TABLES, copy=choice == "duckdb")
    raise ValueError(f"METRICS_ENGINE={choice!r}: use auto, app, duckdb, parquet:DIR or spark:DIR")
