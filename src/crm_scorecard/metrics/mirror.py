"""A columnar mirror of the CRM tables: one Parquet file per table, kept in step with the
app database, that DuckDB reads for the metrics (the default engine).

Copying ten million events out of SQLite or PostgreSQL takes longer than computing the
whole catalogue on them, so the copy is kept between runs and each table is copied again
only when it changed: when its write count (`crm.TableVersion`, bumped by imports, seed,
admin and every ORM save or delete) or its highest id differs from what was copied.
Files are replaced atomically, so readers in other processes never see half a table.
Writes that bypass the product (SQL run by another system) are caught when they add rows;
for anything else run `crm-scorecard compute --refresh`."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from crm_scorecard.crm.changes import table_versions

from .sources import TABLES, naive_utc_select

MANIFEST = "mirror.json"


def mirror_folder() -> Path:
    """METRICS_MIRROR, or a folder named after the app database next to the data."""
    configured = os.environ.get("METRICS_MIRROR") or getattr(settings, "METRICS_MIRROR", "")
    if configured:
        return Path(configured)
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return Path(f"{db['NAME']}.columnar")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{db.get('HOST') or 'local'}-{db['NAME']}")
    return Path(settings.DATA_DIR) / f"columnar-{label}"


def table_stamps() -> dict[str, list[str | int | None]]:
    """Per table: its write count (with the database's token for it) and highest id, now."""
    versions = table_versions(list(TABLES))
    stamps: dict[str, list[str | int | None]] = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT MAX(id) FROM {connection.ops.quote_name(table)}")
            stamps[table] = [versions[table], cursor.fetchone()[0]]
    return stamps


def _manifest(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError):
        return {}


def mirror_stale(folder: Path | None = None) -> list[str]:
    """The tables whose copy is missing or out of date."""
    folder = folder or mirror_folder()
    manifest, stamps = _manifest(folder), table_stamps()
    return [
        t for t in TABLES if manifest.get(t) != stamps[t] or not (folder / f"{t}.parquet").exists()
    ]


def mirror_sync(
    folder: Path | None = None,
    *,
    refresh: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[str]:
    """Bring the mirror up to date (`refresh`: copy every table); returns the tables copied."""
    from .connect import connect  # connect() builds on this module

    folder = folder or mirror_folder()
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    manifest = _manifest(folder)
    stamps = table_stamps()  # before copying: a change during the copy is caught next time
    stale = [
        t
        for t in TABLES
        if refresh or manifest.get(t) != stamps[t] or not (folder / f"{t}.parquet").exists()
    ]
    if not stale:
        return []
    conn = connect("duckdb-direct")
    try:
        for table in stale:
            partial = folder / f".{table}.{uuid.uuid4().hex}.parquet"
            select = naive_utc_select(conn.backend, f'{conn.database}."{table}"')
            target = str(partial).replace("'", "''")
            conn.backend.raw_sql(f"COPY ({select}) TO '{target}' (FORMAT parquet)")
            os.replace(partial, folder / f"{table}.parquet")
            manifest[table] = stamps[table]
            if progress:
                progress(table)
    finally:
        conn.close()
    partial_manifest = folder / f".{MANIFEST}.{uuid.uuid4().hex}"
    partial_manifest.write_text(json.dumps(manifest, indent=1))
    os.replace(partial_manifest, manifest_path)
    return stale
