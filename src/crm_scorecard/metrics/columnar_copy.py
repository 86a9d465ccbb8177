"""Copy tables of the app's SQLite file to Parquet files with DuckDB, in a process of its own
(`python -m crm_scorecard.metrics.columnar_copy`); imports no Django and no Ibis.

Why a process of its own: DuckDB's SQLite scanner carries its own SQLite library, and
SQLite's file locks are POSIX locks, which belong to a process. Two SQLite libraries in one
process do not see each other's locks (and closing one's file drops the other's): the
scanner takes the WAL index for unused, resets it under the app's open transactions, and
acknowledged writes are lost ("disk I/O error", "database disk image is malformed", reads
of half-written pages). Found under load with the web app, `compute` and imports in one
go; `tests/test_security_concurrency.py` reproduces it. In a process of its own the
scanner's locks meet the app's as SQLite means them to. So no process that uses the app's
SQLite file through Python's sqlite3 (Django, Ibis's SQLite backend) opens it with DuckDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ATTEMPTS = 3  # a reader may meet SQLITE_BUSY while another connection recovers the WAL

# How DuckDB writes every Parquet file of the mirror: in Parquet's second format (sorted
# timestamps and ids stored as differences), compressed with LZ4. Against its default
# (the first format, Snappy), for the ten million contacts of 1,000,000 customers: 313 ->
# 230 MB, written in 2.6 s rather than 3.5, the whole catalogue's two scans of them
# 436-441 -> 374-389 ms, a month of them 11.1 -> 8.0 ms (in DuckDB alone, load ~1).
PARQUET = "FORMAT parquet, PARQUET_VERSION V2, COMPRESSION lz4_raw, ROW_GROUP_SIZE 122880"


def extension_path(package: str) -> Path:
    """The DuckDB extension file shipped in a Python package (no download at run time)."""
    module = __import__(package)
    return next(Path(str(module.__file__)).parent.rglob("*.duckdb_extension"))


def _quote(text: str) -> str:
    return text.replace("'", "''")


def copy_tables(
    *, database: str, extension: str, targets: dict[str, str], order: dict[str, str]
) -> Iterator[str]:
    """Write each table of the SQLite file to its Parquet file (table -> path), the rows of
    those in `order` (table -> column) in order of that column; yields each table once
    written. Run only in a process that does not use the file otherwise."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"LOAD '{_quote(extension)}'")
        con.execute(f"ATTACH '{_quote(database)}' AS app (TYPE sqlite, READ_ONLY)")
        for table, target in targets.items():
            # SQLite has no zoned timestamps (the scanner reads Django's `datetime` columns
            # as plain UTC ones), so every column is copied as it is.
            ordered = f' ORDER BY "{order[table]}"' if table in order else ""
            con.execute(
                f"COPY (SELECT * FROM app.\"{table}\"{ordered}) TO '{_quote(target)}' ({PARQUET})"
            )
            yield table
        con.execute("DETACH app")
    finally:
        con.close()


def sqlite_to_parquet(
    *,
    database: str,
    targets: dict[str, Path],
    order: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Copy SQLite tables to Parquet files (table -> path) in a child process, the rows of
    those in `order` in order of its column; `progress` is called with each table as it is
    written. Raises RuntimeError with the child's message."""
    job = {
        "database": database,
        "extension": str(extension_path("duckdb_extension_sqlite_scanner")),
        "targets": {table: str(path) for table, path in targets.items()},
        "order": order or {},
    }
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    reported: set[str] = set()
    for attempt in range(1, ATTEMPTS + 1):
        with tempfile.TemporaryFile("w+") as errors:
            child = subprocess.Popen(
                [sys.executable, "-m", __name__, json.dumps(job)],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=env,
            )
            assert child.stdout is not None
            for line in child.stdout:
                table = line.strip()
                if progress and table in targets and table not in reported:
                    reported.add(table)
                    progress(table)
            if child.wait() == 0:
                return
            errors.seek(0)
            error = errors.read()
        if attempt == ATTEMPTS:
            raise RuntimeError(
                f"copying {', '.join(targets)} out of {database} failed: {error.strip()}"
            )
        time.sleep(0.2 * attempt)


def main(argv: list[str]) -> int:
    job = json.loads(argv[0])
    for table in copy_tables(
        database=job["database"],
        extension=job["extension"],
        targets=job["targets"],
        order=job["order"],
    ):
        print(table, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
