"""The metrics layer's public face: what the pages, the JSON API and the commands may use.

Everything else in `crm_scorecard.metrics` is internal to the layer (an import-linter
contract in CI holds the faces to this module)."""

from __future__ import annotations

from pathlib import Path

from .connect import connect, engine_setting
from .definitions import registry
from .engine import GRAINS, Engine, MetricError
from .mirror import mirror_stale, mirror_sync
from .models import FillRun, Grain, KpiValue
from .services import Point, engine_for, kpi_compute, metric_series
from .sources import DIMENSIONS, TABLES, UnknownColumn
from .units import Unit, currency_symbol, format_score, format_value

__all__ = [
    "DIMENSIONS",
    "GRAINS",
    "TABLES",
    "Engine",
    "FillRun",
    "Grain",
    "KpiValue",
    "MetricError",
    "Point",
    "Unit",
    "UnknownColumn",
    "currency_symbol",
    "engine_for",
    "engine_setting",
    "export_parquet",
    "format_score",
    "format_value",
    "kpi_compute",
    "metric_series",
    "mirror_stale",
    "mirror_sync",
    "refresh_mirror",
    "registry",
]


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
