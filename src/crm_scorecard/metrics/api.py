"""The metrics layer's public face: what the pages, the JSON API and the commands may use.

Everything else in `crm_scorecard.metrics` is internal to the layer (an import-linter
contract in CI holds the faces to this module)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

from crm_scorecard.periods import GRAINS

from .connect import connect, engine_setting
from .definitions import dimensions, registry
from .engine import Engine, MetricError
from .mirror import mirror_stale, mirror_sync
from .models import FillRun, Grain, KpiValue
from .profile import MEASURES as PROFILE_MEASURES
from .profile import Grid as ProfileGrid
from .profile import Measure, Profile, ProfileRow, customer_profile, profile_dimensions
from .profile import check_request as profile_check
from .services import Point, engine_for, kpi_compute, metric_series
from .sources import TABLES, UnknownColumn
from .units import Unit, currency_symbol, format_score, format_value

__all__ = [
    "DIMENSIONS",
    "GRAINS",
    "PROFILE_MEASURES",
    "TABLES",
    "Engine",
    "FillRun",
    "Grain",
    "KpiValue",
    "Measure",
    "MetricError",
    "Point",
    "Profile",
    "ProfileGrid",
    "ProfileRow",
    "Unit",
    "UnknownColumn",
    "currency_symbol",
    "customer_profile",
    "dimensions",
    "engine_for",
    "engine_setting",
    "export_parquet",
    "format_score",
    "format_value",
    "kpi_compute",
    "metric_series",
    "mirror_stale",
    "mirror_sync",
    "profile_check",
    "profile_dimensions",
    "refresh_mirror",
    "registry",
]


class _Dimensions(Sequence[str]):
    """Every dimension metrics can be broken down by, read when used: the built-in ones,
    then those the metrics file (METRICS_FILE) declares on its sources."""

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return dimensions()[index]

    def __len__(self) -> int:
        return len(dimensions())

    def __iter__(self) -> Iterator[str]:
        return iter(dimensions())

    def __contains__(self, name: object) -> bool:
        return name in dimensions()

    def __repr__(self) -> str:
        return repr(dimensions())


DIMENSIONS: Sequence[str] = _Dimensions()


def refresh_mirror() -> list[str]:
    """Bring the default engine's columnar mirror up to date with the app database (after
    an import, say); the tables copied. Does nothing unless the default engine is in use."""
    if engine_setting() != "auto":
        return []
    stale = mirror_stale()
    if stale:
        mirror_sync()
    return stale


def export_parquet(folder: Path, *, progress: object = None) -> list[str]:
    """Write every CRM table as `<table>.parquet` in `folder` (METRICS_ENGINE=parquet:DIR)."""
    folder.mkdir(parents=True, exist_ok=True)
    conn = connect("duckdb")
    try:
        for name in TABLES:
            conn.table(name).to_parquet(folder / f"{name}.parquet")
            if callable(progress):
                progress(1)
    finally:
        conn.close()
    return list(TABLES)
