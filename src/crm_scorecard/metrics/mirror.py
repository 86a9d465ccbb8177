"""A columnar mirror of the CRM tables: one Parquet file per table, kept in step with the
app database, that DuckDB reads for the metrics (the default engine).

Copying ten million events out of SQLite or PostgreSQL takes longer than computing the
whole catalogue on them, so the copy is kept between runs and each table is copied again
only when it changed: when its write count (`crm.TableVersion`, bumped by imports, seed,
admin, every ORM save or delete, and database triggers on the CRM tables for SQL run by
other systems) or its highest id differs from what was copied. Tables without triggers
(the voice-of-the-customer themes, written by the product alone) follow the product's own
writes; `crm-scorecard compute --refresh` copies everything again.

Readers never see a half-written or replaced file: a sync that copies anything writes a
new version folder (`v-…/`) whose files never change afterwards (unchanged tables are hard
links to the previous version's files), then names it in `mirror.json`, replaced
atomically. A reader pins the version it starts on (`mirror_pin`: a shared lock on the
version's lock file) and reads only that folder, however long it runs; a sync deletes old
versions that no reader pins. Syncs take turns (an exclusive lock on the folder's lock
file), so two never interleave their copies and manifests. (Files replaced in place under
readers failed 5 of 2,932 requests under load: a DuckDB query opens a file more than once.)

On SQLite the tables are read by DuckDB in a process of its own (`columnar_copy.py` says
why: never two SQLite libraries on one file in one process)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connection

from crm_scorecard.crm.changes import table_versions

from .backends import (
    ParquetConnection,
    connect_duckdb,
    duckdb_in_utc,
    naive_utc_select,
    write_parquet,
)
from .columnar_copy import PARQUET, sqlite_to_parquet
from .profile_cube import derive
from .semantic import MODEL, Sources, event_order
from .sources import TABLES

MANIFEST = "mirror.json"
SYNC_LOCK = ".sync.lock"
PIN_LOCK = ".pin.lock"


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
    """{"version": folder name, "tables": {table: stamp}}; empty when there is no usable
    mirror (none yet, or one written before versions)."""
    try:
        manifest = dict(json.loads((folder / MANIFEST).read_text()))
    except (OSError, ValueError):
        return {}
    version = manifest.get("version")
    if not isinstance(version, str) or not (folder / version).is_dir():
        return {}
    return manifest


def _stale(folder: Path, manifest: dict[str, Any], stamps: dict[str, Any]) -> list[str]:
    copied = manifest.get("tables", {})
    current = folder / str(manifest.get("version", "-"))
    return [
        t for t in TABLES if copied.get(t) != stamps[t] or not (current / f"{t}.parquet").exists()
    ]


def mirror_version(folder: Path | None = None) -> Path | None:
    """The folder of the mirror's current version (None: no usable mirror). A version's
    files never change, so what is worked out from them holds until this changes."""
    folder = folder or mirror_folder()
    version = _manifest(folder).get("version")
    return None if version is None else folder / str(version)


def mirror_ready(folder: Path | None = None) -> bool:
    """Whether the mirror holds a complete version to read (however old)."""
    return bool(_manifest(folder or mirror_folder()))


def mirror_stale(folder: Path | None = None) -> list[str]:
    """The tables whose copy is missing or out of date."""
    folder = folder or mirror_folder()
    return _stale(folder, _manifest(folder), table_stamps())


def _lock(path: Path, mode: int, *, create: bool = False) -> IO[str] | None:
    """The open lock file, locked (`flock`: held per open file, so threads of one process
    exclude each other too); None when it cannot be had without waiting (LOCK_NB) or the
    file is gone (never created again here, but for `create`)."""
    try:
        handle = path.open("a" if create else "r")
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(handle, mode)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def mirror_sync(
    folder: Path | None = None,
    *,
    refresh: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[str]:
    """Bring the mirror up to date (`refresh`: copy every table); returns the tables copied."""
    folder = folder or mirror_folder()
    if not refresh and not mirror_stale(folder):
        return []  # the usual case: nothing to copy, no need to wait for another sync
    folder.mkdir(parents=True, exist_ok=True)
    turn = _lock(folder / SYNC_LOCK, fcntl.LOCK_EX, create=True)
    assert turn is not None
    try:
        manifest = _manifest(folder)
        stamps = table_stamps()  # before copying: a change during the copy is caught next time
        stale = list(TABLES) if refresh else _stale(folder, manifest, stamps)
        if not stale:
            return []  # another sync copied them while this one waited
        version = f"v-{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        target = folder / version
        target.mkdir()
        (target / PIN_LOCK).touch()
        previous = folder / str(manifest.get("version", "-"))
        for table in TABLES:
            if table not in stale:
                _link(previous / f"{table}.parquet", target / f"{table}.parquet")
        _copy(stale, target, progress)
        derive(target, previous=previous, copied=stale)  # the profile's cube (profile_cube.py)
        derive_sources(target, previous=previous, copied=stale)
        tables = dict(manifest.get("tables", {}))
        tables.update({t: stamps[t] for t in stale})
        partial = folder / f".{MANIFEST}.{uuid.uuid4().hex}"
        partial.write_text(json.dumps({"version": version, "tables": tables}, indent=1))
        os.replace(partial, folder / MANIFEST)
        _remove_unpinned(folder, keep=version)
        return stale
    finally:
        turn.close()


def derive_sources(
    folder: Path, *, previous: Path | None = None, copied: list[str] | None = None
) -> None:
    """Write into the mirror version in `folder` the sources' cores it holds worked out
    for the whole company (`Source.derived`: the contacts, each knowing whether the
    customer came back within 7 days), in time order, so a month's rows are one stretch of
    the file; linked from the `previous` version when none of the tables a core reads was
    `copied`. Worked out once here, where the version is made, rather than by every run and
    request that reads the version company-wide (a department's are its own: worked out
    within its scope, see Sources._derived)."""
    conn = ParquetConnection(duckdb_in_utc(), parquet=folder)
    try:
        conn.backend.raw_sql("SET enable_progress_bar = false")
        sources = Sources(conn, model=MODEL, derived=False)
        for source in MODEL.sources.values():
            if source.derived is None:
                continue
            target = folder / f"{source.derived}.parquet"
            core = sources.get(source.name)
            old = previous / target.name if previous is not None else None
            unchanged = copied is not None and not set(copied) & set(conn.opened())
            if unchanged and old is not None and old.exists():
                _link(old, target)
                continue
            write_parquet(conn, core.order_by("ts"), target)
    finally:
        conn.close()


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)


def _copy(tables: list[str], target: Path, progress: Callable[[str], None] | None) -> None:
    files = {t: target / f"{t}.parquet" for t in tables}
    order = {t: column for t, column in event_order().items() if t in files}
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        sqlite_to_parquet(database=name, targets=files, order=order, progress=progress)
        return
    conn = connect_duckdb(TABLES, copy=False)
    try:
        for table, path in files.items():
            select = naive_utc_select(conn.backend, f'{conn.database}."{table}"')
            if table in order:
                select = f'SELECT * FROM ({select}) ORDER BY "{order[table]}"'
            quoted = str(path).replace("'", "''")
            conn.backend.raw_sql(f"COPY ({select}) TO '{quoted}' ({PARQUET})")
            if progress:
                progress(table)
    finally:
        conn.close()


def _remove_unpinned(folder: Path, *, keep: str) -> None:
    """Delete the versions other than `keep` that no reader pins, and the flat files of a
    mirror written before versions."""
    for old in folder.glob("v-*"):
        if old.name == keep or not old.is_dir():
            continue
        pin = _lock(old / PIN_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if pin is None and (old / PIN_LOCK).exists():
            continue  # a reader still reads it; a later sync deletes it
        try:
            (old / PIN_LOCK).unlink(missing_ok=True)  # a reader about to pin it looks again
            shutil.rmtree(old, ignore_errors=True)
        finally:
            if pin is not None:
                pin.close()
    for flat in folder.glob("*.parquet"):
        flat.unlink(missing_ok=True)


@dataclass
class MirrorPin:
    """A version of the mirror held for one reader: its folder stays until released."""

    path: Path
    _handle: IO[str] | None

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def mirror_pin(folder: Path | None = None) -> MirrorPin:
    """Pin the current version of the mirror (sync it first) for one reader."""
    folder = folder or mirror_folder()
    for _ in range(100):
        version = _manifest(folder).get("version")
        if version is None:
            break
        lock_path = folder / str(version) / PIN_LOCK
        handle = _lock(lock_path, fcntl.LOCK_SH)
        if handle is None:
            continue  # deleted since the manifest was read: a newer version is current
        try:
            same = os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return MirrorPin(folder / str(version), handle)
        handle.close()
    raise RuntimeError(f"no columnar mirror in {folder}: run `crm-scorecard compute --refresh`")
