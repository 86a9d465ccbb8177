"""Connections for live reads (what a page or an API request computes), kept open per process
for the mirror version they read.

A request used to open DuckDB, pin the mirror's current version, declare a view per table
(each read its Parquet file's schema twice), join the whole history of its source and close
it all again. A version's files never change (`mirror.py`), so a connection over one stays
right for as long as that version is current: it is handed back here after the request and
lent to the next one, with the views and what it worked out from the files
(`Connection.snapshot`): the compiled queries, each source's periods and the values a
breakdown takes (per access scope), and the joined sources in tables of its own for every
department (`Sources._resident`: about 125 MB at 200,000 customers). Every request first
reads which version is current; a connection over an older one is closed (releasing its
pin), so a new version is never answered from the old files. The customer profile
(`profile.py`) reads over the same connections: the views of the tables it reads and the
department tree's depth are the connection's own, opened once per version for both.

A connection serves one request at a time. `KEEP` of them per version are kept in a process
(their tables take memory); a request arriving while they are all lent gets a connection of
its own, read as before and closed after it. Only the default engine's mirror is kept so;
every other engine (and the app database, before there is a mirror) is connected and closed
per request."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .backends import Connection, connect_pinned
from .connect import connect, engine_setting
from .mirror import mirror_folder, mirror_pin, mirror_version

# Connections kept per version in a process, lent or idle.
KEEP = 1
# Versions (of any mirror folder) with connections kept at once; the oldest go first.
VERSIONS = 2

_lock = threading.Lock()
_idle: dict[Path, list[Connection]] = {}
_lent: dict[Path, int] = {}
_pid = os.getpid()


@contextmanager
def live_connection() -> Iterator[Connection]:
    """A connection reading what a request may read without copying anything: the mirror's
    current version (kept open between requests: `snapshot` is not None), or what
    `connect(sync=False)` gives."""
    folder = mirror_folder() if engine_setting() == "auto" else None
    version = mirror_version(folder) if folder is not None else None
    if folder is None or version is None:
        conn = connect(sync=False)
        try:
            yield conn
        finally:
            conn.close()
        return
    lent, kept = _lend(folder, version)
    try:
        conn = lent or connect_pinned(mirror_pin(folder))
    except BaseException:
        if kept:
            _give_back(folder, version, None, keep=False)
        raise
    if kept and lent is None:
        conn.snapshot = {}
    try:
        yield conn
    except BaseException:
        # What a failed query left behind is not lent to the next request.
        _give_back(folder, version, conn, keep=False)
        raise
    _give_back(folder, version, conn, keep=True)


def live_forget() -> None:
    """Close every idle connection (a version that must not be read any more; tests)."""
    with _lock:
        idle = [c for conns in _idle.values() for c in conns]
        _idle.clear()
    for conn in idle:
        conn.close()


def _lend(folder: Path, version: Path) -> tuple[Connection | None, bool]:
    """An idle connection over `version` (None: open one), and whether it is one of those
    kept; closes the idle ones over the folder's older versions."""
    global _pid
    stale: list[Connection] = []
    with _lock:
        if os.getpid() != _pid:
            # A forked child does not use its parent's DuckDB connections (nor closes them).
            _idle.clear()
            _lent.clear()
            _pid = os.getpid()
        for path in [p for p in _idle if p.parent == folder and p != version]:
            stale.extend(_idle.pop(path))
        idle = _idle.pop(version, [])
        conn = idle.pop() if idle else None
        if idle:
            _idle[version] = idle
        kept = conn is not None or _lent.get(version, 0) < KEEP
        if kept:
            _lent[version] = _lent.get(version, 0) + 1
    for old in stale:
        old.close()
    return conn, kept


def _give_back(folder: Path, version: Path, conn: Connection | None, *, keep: bool) -> None:
    """Keep `conn` (lent for `version`) for the next request while the version it reads is
    current, else close it (None: none was opened)."""
    if conn is not None and conn.snapshot is None:
        conn.close()  # a connection of the request's own
        return
    extra: list[Connection] = [] if conn is None else [conn]
    path = None if conn is None else conn.parquet
    current = keep and path is not None and path == mirror_version(folder)
    with _lock:
        _lent[version] = _lent.get(version, 0) - 1
        if _lent[version] <= 0:
            del _lent[version]
        if current and conn is not None and path is not None:
            extra.remove(conn)
            _idle[path] = [*_idle.pop(path, []), conn]  # the latest used last to go
            while len(_idle) > VERSIONS:
                extra.extend(_idle.pop(next(iter(_idle))))
    for other in extra:
        other.close()
