"""User-declared metrics in a YAML file, using the same kinds as the built-in catalogue.

    metrics:
      - key: premium_revenue
        name: Premium revenue
        kind: aggregate            # aggregate | ratio | derived | conversion | retention | manual
        source: order_lines
        agg: sum                   # count | count_distinct | sum | mean | median | percentile (with quantile: 0.9) | min | max
        column: amount
        filter: {product_tier: premium}
        unit: currency
        direction: higher          # higher | lower
        meaning: Revenue from premium-tier products.

Checked on load: unknown kinds, sources, columns, dimensions and metrics, and cycles
between derived metrics, each reported with the metric's key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .catalogue import CATALOGUE
from .engine import (
    AGGREGATIONS,
    Aggregate,
    Conversion,
    Derived,
    Manual,
    Metric,
    MetricError,
    Ratio,
    Registry,
    Retention,
)
from .sources import DIMENSIONS, SOURCE_COLUMNS
from .units import Unit

COMMON = {"key", "name", "kind", "unit", "direction", "meaning"}
FIELDS = {
    "aggregate": {"source", "agg", "column", "filter", "quantile"},
    "ratio": {"numerator", "denominator", "scale"},
    "derived": {"expression"},
    "conversion": {"source", "start", "end", "window_days"},
    "retention": {"source", "entity"},
    "manual": set(),
}


def _require_column(key: str, source: str, column: str) -> None:
    if source not in SOURCE_COLUMNS:
        raise MetricError(
            f"{key}: unknown source {source!r}; sources are {', '.join(SOURCE_COLUMNS)}"
        )
    if column not in SOURCE_COLUMNS[source]:
        raise MetricError(
            f"{key}: source {source} has no column {column!r}; it has {', '.join(SOURCE_COLUMNS[source])}"
        )


def _filter(key: str, source: str, given: dict[str, Any]) -> Any:
    for dim in given:
        if dim not in DIMENSIONS:
            raise MetricError(
                f"{key}: unknown dimension {dim!r} in filter; dimensions are {', '.join(DIMENSIONS)}"
            )
        _require_column(key, source, dim)
    pairs = [(dim, str(value)) for dim, value in given.items()]

    def where(t: Any) -> Any:
        condition = None
        for dim, value in pairs:
            clause = t[dim] == value
            condition = clause if condition is None else condition & clause
        return condition

    return where


def metric_from(data: dict[str, Any]) -> Metric:
    key = str(data.get("key") or "")
    if not key:
        raise MetricError(f"a metric needs a key: {data!r}")
    kind = data.get("kind")
    if kind not in FIELDS:
        raise MetricError(f"{key}: unknown kind {kind!r}; kinds are {', '.join(FIELDS)}")
    unknown = set(data) - COMMON - FIELDS[kind]
    if unknown:
        raise MetricError(
            f"{key}: unknown field(s) {', '.join(sorted(unknown))} for a {kind} metric"
        )
    if data.get("direction", "higher") not in ("higher", "lower"):
        raise MetricError(f"{key}: direction must be higher or lower")
    if data.get("unit") and data["unit"] not in Unit.values:
        raise MetricError(
            f"{key}: unknown unit {data['unit']!r}; units are {', '.join(Unit.values)}"
        )
    common = {
        "key": key,
        "name": str(data.get("name") or key),
        "meaning": str(data.get("meaning") or ""),
        "unit": str(data.get("unit") or ""),
        "direction": data.get("direction", "higher"),
    }
    try:
        if kind == "aggregate":
            source, agg, column = data["source"], data["agg"], data.get("column")
            if agg not in AGGREGATIONS:
                raise MetricError(
                    f"{key}: unknown aggregation {agg!r}; use {', '.join(AGGREGATIONS)}"
                )
            if column is None and agg != "count":
                raise MetricError(f"{key}: {agg} needs a column")
            if column is not None:
                _require_column(key, source, column)
            where = _filter(key, source, data["filter"]) if data.get("filter") else None
            quantile = data.get("quantile")
            if agg == "percentile":
                if not isinstance(quantile, int | float) or not 0 <= quantile <= 1:
                    raise MetricError(
                        f"{key}: percentile needs a quantile between 0 and 1 (0.9 for the 90th), got {quantile!r}"
                    )
                quantile = float(quantile)
            elif quantile is not None:
                raise MetricError(f"{key}: quantile is only for agg: percentile")
            return Aggregate(
                **common, source=source, agg=agg, column=column, where=where, quantile=quantile
            )
        if kind == "ratio":
            return Ratio(
                **common,
                numerator=data["numerator"],
                denominator=data["denominator"],
                scale=float(data.get("scale", 1.0)),
            )
        if kind == "derived":
            metric = Derived(**common, expression=str(data["expression"]))
            metric.inputs()  # parse now, so a bad expression is reported on load
            return metric
        if kind == "conversion":
            source = data["source"]
            for column in (data.get("start", "ts"), data.get("end", "converted_ts")):
                _require_column(key, source, column)
            return Conversion(
                **common,
                source=source,
                start=data.get("start", "ts"),
                end=data.get("end", "converted_ts"),
                window_days=int(data.get("window_days", 30)),
            )
        if kind == "retention":
            source = data["source"]
            _require_column(key, source, data.get("entity", "customer"))
            return Retention(**common, source=source, entity=data.get("entity", "customer"))
        return Manual(**common)
    except KeyError as exc:
        raise MetricError(f"{key}: a {kind} metric needs {exc.args[0]!r}") from None


def load_file(path: Path) -> list[Metric]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetricError(f"{path}: no such metrics file") from None
    except yaml.YAMLError as exc:
        raise MetricError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
        raise MetricError(f"{path}: expected a mapping with a list under 'metrics'")
    return [metric_from(item) for item in data["metrics"]]


def registry(extra_file: Path | None = None) -> Registry:
    """The built-in catalogue plus the metrics in `extra_file` (or $METRICS_FILE), checked."""
    reg = Registry(CATALOGUE)
    path = extra_file or (
        Path(os.environ["METRICS_FILE"]) if os.environ.get("METRICS_FILE") else None
    )
    if path is not None:
        for metric in load_file(path):
            reg.add(metric)
    reg.check()
    return reg
