"""Connections for live reads (what a page or an API request computes), kept open per process
for the mirror version they read.

A request used to open DuckDB, pin the mirror's current version, declare a view per table
(each read its Parquet file's schema twice) and close it all again: 50-100 ms of a breakdown
that computes in less. A version's files never change (`mirror.py`), so a connection over
one stays right for as long as that version is current: it is handed back here after the
request and lent to the next one, with the views and what it worked out from the files
(`Connection.snapshot`: each source's periods, the values a breakdown takes, per access
scope). Every request first reads which version is current; connections over an older one
are closed (releasing its pin), so a new version is never answered from the old files. A
connection serves one request at a time (a thread takes it out of the pool).

Only the default engine's mirror is kept so; every other engine (and the app database,
before there is a mirror) is connected and closed per request as before."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .backends import Connection, connect_pinned
from .connect import connect, engine_setting
from .mirror import mirror_folder, mirror_pin, mirror_version

# Idle connections kept per version: a worker's threads each hold one while they compute.
KEEP = 4
# Versions (of any mirror folder) with idle connections kept at once; the oldest go first.
VERSIONS = 4

_lock = threading.Lock()
_idle: dict[Path, list[Connection]] = {}
_pid = os.getpid()


@contextmanager
def live_connection() -> Iterator[Connection]:
    """A connection reading what a request may read without copying anything: the mirror's
    current version (kept open between requests), or what `connect(sync=False)` gives."""
    if engine_setting() != "auto":
        conn = connect(sync=False)
        try:
            yield conn
        finally:
            conn.close()
        return
    folder = mirror_folder()
    version = mirror_version(folder)
    kept = _take(folder, version) if version is not None else None
    conn = kept or (connect(sync=False) if version is None else _open(folder))
    try:
        yield conn
    except BaseException:
        conn.close()  # what a failed query leaves behind is not lent to the next request
        raise
    _give_back(folder, conn)


def live_forget() -> None:
    """Close every idle connection (a version that must not be read any more; tests)."""
    with _lock:
        idle = [c for conns in _idle.values() for c in conns]
        _idle.clear()
    for conn in idle:
        conn.close()


def _open(folder: Path) -> Connection:
    conn = connect_pinned(mirror_pin(folder))
    conn.snapshot = {}
    return conn


def _take(folder: Path, version: Path) -> Connection | None:
    """An idle connection over `version`; closes those over the folder's older versions."""
    global _pid
    stale: list[Connection] = []
    with _lock:
        if os.getpid() != _pid:
            # A forked child does not use its parent's DuckDB connections (nor closes them).
            _idle.clear()
            _pid = os.getpid()
        for path in [p for p in _idle if p.parent == folder and p != version]:
            stale.extend(_idle.pop(path))
        idle = _idle.get(version)
        conn = idle.pop() if idle else None
    for old in stale:
        old.close()
    return conn


def _give_back(folder: Path, conn: Connection) -> None:
    """Keep `conn` for the next request while its version is current, else close it."""
    path = conn.parquet
    if conn.snapshot is None or path is None or path != mirror_version(folder):
        conn.close()
        return
    extra: list[Connection] = []
    with _lock:
        idle = _idle[path] = _idle.pop(path, [])  # the latest used last to go
        if len(idle) < KEEP:
            idle.append(conn)
        else:
            extra.append(conn)
        while len(_idle) > VERSIONS:
            extra.extend(_idle.pop(next(iter(_idle))))
    for other in extra:
        other.close()
