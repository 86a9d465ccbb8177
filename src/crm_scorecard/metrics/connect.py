"""Which engine computes the metrics, and how it reaches the CRM tables.

`METRICS_ENGINE` (environment or settings):
- `auto` (default): DuckDB over the columnar mirror of the app database (`mirror.py`: Parquet
  files kept in step, copied again only when a table changes). Measured here, DuckDB runs
  the catalogue several times faster than PostgreSQL and far faster than SQLite, and the
  mirror saves copying the event tables out of the app database on every run;
- `app`: Ibis on the app database (SQLite or PostgreSQL);
- `duckdb`: DuckDB over the app database, each table copied once per run: attached to
  PostgreSQL; from SQLite, copied to Parquet by a process of its own (`columnar_copy.py`:
  DuckDB never opens the SQLite file in a process that uses it through Python's sqlite3);
- `parquet:DIR`: DuckDB over the Parquet files written by `crm-scorecard export-parquet DIR`;
- `spark:DIR`: Spark (local mode, or the cluster named by `SPARK_MASTER`) over the same Parquet
  files. Needs `pip install 'crm-scorecard[spark]'` and Java 17+."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
from django.conf import settings
from django.db import connection as django_connection

from .columnar_copy import extension_path, sqlite_to_parquet
from .mirror import MirrorPin, mirror_folder, mirror_pin, mirror_ready, mirror_sync
from .sources import TABLES, Connection


def engine_setting() -> str:
    return str(os.environ.get("METRICS_ENGINE") or getattr(settings, "METRICS_ENGINE", "auto"))


@dataclass
class ParquetConnection(Connection):
    """DuckDB over Parquet files that last as long as the connection: a pinned version of
    the mirror (released on close), or a copy of the SQLite tables (deleted on close)."""

    pin: MirrorPin | None = None
    scratch: Path | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.pin is not None:
                self.pin.release()
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)


def connect(choice: str | None = None, *, sync: bool = True) -> Connection:
    """An Ibis connection to where the CRM tables live, per METRICS_ENGINE. With `sync`
    False (what a page or an API request reads through), the default engine reads the
    columnar mirror as it stands, never copying a table: `compute`, imports and an explicit
    refresh bring it up to date; with no mirror yet, it reads the app database itself."""
    choice = choice or engine_setting()
    db = django_connection.settings_dict
    vendor = django_connection.vendor
    if choice.startswith(("parquet:", "spark:")):
        kind, _, path = choice.partition(":")
        folder = Path(path)
        if not folder.is_dir():
            raise ValueError(
                f"METRICS_ENGINE={choice}: no folder {folder}; run `crm-scorecard export-parquet {folder}`"
            )
        if kind == "spark":
            return Connection(ibis.pyspark.connect(spark_session()), parquet=folder, shared=True)
        return Connection(_duckdb(), parquet=folder)
    if choice == "auto":
        folder = mirror_folder()
        if sync:
            mirror_sync(folder)
        elif not mirror_ready(folder):
            return connect("app")
        pin = mirror_pin(folder)
        return ParquetConnection(_duckdb(), parquet=pin.path, pin=pin)
    if choice == "app":
        if vendor == "sqlite":
            return Connection(ibis.sqlite.connect(str(db["NAME"])))
        backend = ibis.postgres.connect(**_pg_args(db))
        # The metrics sort and hash millions of rows at once (the repeat-contact window,
        # distinct customers); PostgreSQL's default 4 MB per operation spills them to disk.
        backend.raw_sql(
            f"SET work_mem = '{os.environ.get('METRICS_PG_WORK_MEM', '256MB')}'"
        ).close()
        # PostgreSQL cannot estimate how many periods a computed period index has, guesses
        # one per row, and so never splits an aggregate over its parallel workers; with
        # the cost of moving rows between workers set to nothing it does (a month's
        # aggregates over 10M contacts: 4.5 s -> 3.2 s on 2 cores).
        backend.raw_sql("SET parallel_tuple_cost = 0").close()
        backend.raw_sql("SET parallel_setup_cost = 0").close()
        return Connection(backend)
    if choice in ("duckdb", "duckdb-direct"):  # direct: read through the scanner, no copy
        if vendor == "sqlite":
            scratch = Path(tempfile.mkdtemp(prefix="crm-scorecard-duckdb-"))
            try:
                files = {t: scratch / f"{t}.parquet" for t in TABLES}
                sqlite_to_parquet(database=str(db["NAME"]), targets=files)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            return ParquetConnection(_duckdb(), parquet=scratch, scratch=scratch)
        backend = _duckdb()
        backend.raw_sql(f"LOAD '{extension_path('duckdb_extension_postgres_scanner')}'")
        args = _pg_args(db)
        args["dbname"] = args.pop("database")
        dsn = " ".join(f"{k}={v}" for k, v in args.items() if v)
        backend.raw_sql(f"ATTACH '{dsn}' AS app (TYPE postgres, READ_ONLY)")
        return Connection(backend, database="app", copy=choice == "duckdb")
    raise ValueError(f"METRICS_ENGINE={choice!r}: use auto, app, duckdb, parquet:DIR or spark:DIR")


def spark_session() -> Any:
    """The process's Spark session (started once; a JVM takes seconds to start), in UTC."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ValueError(
            "METRICS_ENGINE=spark:DIR needs PySpark: pip install 'crm-scorecard[spark]' (and Java 17+)"
        ) from None
    # Spark's Python workers must run the same Python as this process.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
        .appName("crm-scorecard")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"))
        .getOrCreate()
    )


def _duckdb() -> Any:
    """An in-memory DuckDB that works in UTC, as the metrics' periods are UTC."""
    backend = ibis.duckdb.connect()
    backend.raw_sql("SET TimeZone = 'UTC'")
    return backend


def _pg_args(db: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": db.get("HOST") or "localhost",
        "port": int(db.get("PORT") or 5432),
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "database": db["NAME"],
    }
