"""The cache of a site on one machine: Django's file cache, except that a write counts the
cache's files (to drop some when there are more than MAX_ENTRIES) at most every
`CULL_SECONDS` per process thread, not on every write. With 4,900 files, listing the folder
took 20 of the 27 ms a write took; the folder may now pass MAX_ENTRIES by what is written
in that interval, until the next count culls it."""

from __future__ import annotations

import time
from typing import Any

from django.core.cache.backends.filebased import FileBasedCache

CULL_SECONDS = 30.0


class FileCache(FileBasedCache):
    def __init__(self, dir: str, params: dict[str, Any]) -> None:
        super().__init__(dir, params)
        self._next_cull = 0.0

    def _cull(self) -> None:
        now = time.monotonic()
        if now < self._next_cull:
            return
        self._next_cull = now + CULL_SECONDS
        super()._cull()  # type: ignore[misc]  # private in Django, not in its stubs
