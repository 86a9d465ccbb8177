"""Copy the CRM tables of a seeded PostgreSQL database into a new SQLite app database, so
`bench/metrics.py` can time SQLite on the same company (seeding a million customers
straight into SQLite takes about 40 minutes; this copy about 5).

Usage:
  .venv/bin/python bench/sqlite_copy.py FILE [--database-url URL]
  .venv/bin/python bench/metrics.py --database-url sqlite:///FILE

FILE is created (migrated) if missing, and its CRM tables are replaced. Values are written
as Django writes them on SQLite: timestamps as naive UTC text, decimals and dates as text,
booleans as 0/1.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

BATCH = 100_000


def value(v: object) -> object:
    if isinstance(v, datetime.datetime):
        return str(v.astimezone(datetime.UTC).replace(tzinfo=None))
    if isinstance(v, datetime.date | decimal.Decimal):
        return str(v)
    if isinstance(v, bool):
        return int(v)
    return v


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/crm_scorecard_bench"
    )
    args = parser.parse_args()
    import dj_database_url
    import psycopg

    from crm_scorecard.metrics.sources import TABLES

    target = args.file.resolve()
    migrate = [str(Path(sys.executable).with_name("crm-scorecard")), "migrate", "--verbosity", "0"]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{target}"}
    subprocess.run(migrate, check=True, env=env)
    cfg = dj_database_url.parse(args.database_url)
    source = psycopg.connect(
        host=cfg["HOST"],
        port=cfg["PORT"] or 5432,
        user=cfg["USER"],
        password=cfg["PASSWORD"],
        dbname=cfg["NAME"],
    )
    source.execute("SET TimeZone = 'UTC'")
    lite = sqlite3.connect(target)
    lite.execute("PRAGMA foreign_keys = OFF")
    lite.execute("PRAGMA synchronous = OFF")
    for table in TABLES:
        began = time.perf_counter()
        columns = [row[1] for row in lite.execute(f'PRAGMA table_info("{table}")')]
        names = ", ".join(f'"{c}"' for c in columns)
        insert = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
        lite.execute(f'DELETE FROM "{table}"')
        copied = 0
        with source.cursor(name=f"copy_{table}") as cursor:
            cursor.execute(f'SELECT {names} FROM "{table}"')
            while rows := cursor.fetchmany(BATCH):
                lite.executemany(insert, [tuple(value(v) for v in row) for row in rows])
                copied += len(rows)
        lite.commit()
        print(f"{table}: {copied:,} rows in {time.perf_counter() - began:.0f} s", flush=True)
    lite.execute("ANALYZE")
    lite.commit()
    lite.close()
    source.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
