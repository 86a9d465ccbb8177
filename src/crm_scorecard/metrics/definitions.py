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
    dimensions:                    # added to one source each; then usable in --by and filters
      - name: basket
        source: order_lines
        expression: "'large' if amount >= 200 else 'small'"
        meaning: Order lines of 200 or more are large.

A dimension's expression reads the source's columns (and its built-in dimensions but
department) with 'text', numbers, None, + - * /, comparisons, `in [...]`, `is None`,
and/or/not, `A if CONDITION else B` and lower/upper/year/month/hour/coalesce; its value is
text.

Checked on load: unknown kinds, sources, columns, dimensions and metrics, cycles between
derived metrics and unreadable dimension expressions, each reported with the metric's key
or the dimension's place in the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .catalogue import CATALOGUE
from .engine import Registry
from .kinds import (
    AGGREGATIONS,
    Aggregate,
    Conversion,
    Derived,
    Manual,
    Metric,
    Ratio,
    Retention,
)
from .semantic import MODEL, MetricError, Model, expression_dimension
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


DIMENSION_FIELDS = {"name", "source", "expression", "meaning"}


def _require_column(model: Model, key: str, source: str, column: str) -> None:
    if source not in model.sources:
        raise MetricError(
            f"{key}: unknown source {source!r}; sources are {', '.join(model.sources)}"
        )
    offers = model.sources[source].offers
    if column not in offers:
        raise MetricError(
            f"{key}: source {source} has no column {column!r}; it has {', '.join(offers)}"
        )


def _filter(model: Model, key: str, source: str, given: dict[str, Any]) -> Any:
    for dim in given:
        if dim not in model.dimensions:
            raise MetricError(
                f"{key}: unknown dimension {dim!r} in filter; dimensions are {', '.join(model.dimensions)}"
            )
        _require_column(model, key, source, dim)
    pairs = [(dim, str(value)) for dim, value in given.items()]

    def where(t: Any) -> Any:
        condition = None
        for dim, value in pairs:
            clause = t[dim] == value
            condition = clause if condition is None else condition & clause
        return condition

    return where


def metric_from(data: dict[str, Any], model: Model = MODEL) -> Metric:
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
                _require_column(model, key, source, column)
            where = _filter(model, key, source, data["filter"]) if data.get("filter") else None
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
                **common,
                source=source,
                agg=agg,
                column=column,
                where=where,
                reads=tuple(data.get("filter") or ()),
                quantile=quantile,
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
                _require_column(model, key, source, column)
            return Conversion(
                **common,
                source=source,
                start=data.get("start", "ts"),
                end=data.get("end", "converted_ts"),
                window_days=int(data.get("window_days", 30)),
            )
        if kind == "retention":
            source = data["source"]
            _require_column(model, key, source, data.get("entity", "customer"))
            return Retention(**common, source=source, entity=data.get("entity", "customer"))
        return Manual(**common)
    except KeyError as exc:
        raise MetricError(f"{key}: a {kind} metric needs {exc.args[0]!r}") from None


def model_with(items: list[Any], model: Model = MODEL) -> Model:
    """`model` with the dimensions declared under `dimensions:` in a metrics file."""
    for number, data in enumerate(items, start=1):
        place = f"dimensions entry {number}"
        if not isinstance(data, dict):
            raise MetricError(f"{place}: expected name, source and expression, got {data!r}")
        place += f" ({data['name']})" if isinstance(data.get("name"), str) else ""
        unknown = set(data) - DIMENSION_FIELDS
        if unknown:
            raise MetricError(
                f"{place}: unknown field(s) {', '.join(sorted(unknown))}; a dimension has "
                f"{', '.join(sorted(DIMENSION_FIELDS))}"
            )
        missing = [f for f in ("name", "source", "expression") if not data.get(f)]
        if missing:
            raise MetricError(f"{place}: needs {', '.join(missing)}")
        if data["source"] not in model.sources:
            raise MetricError(
                f"{place}: unknown source {data['source']!r}; sources are {', '.join(model.sources)}"
            )
        try:
            dimension = expression_dimension(
                model.sources[data["source"]],
                data["name"],
                str(data["expression"]),
                str(data.get("meaning") or ""),
            )
            model = model.with_dimension(data["source"], dimension)
        except MetricError as exc:
            raise MetricError(f"{place}: {exc}") from None
    return model


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetricError(f"{path}: no such metrics file") from None
    except yaml.YAMLError as exc:
        raise MetricError(f"{path}: not valid YAML ({exc})") from None
    if (
        not isinstance(data, dict)
        or not set(data) <= {"metrics", "dimensions"}
        or not all(isinstance(data[k], list) for k in data)
        or not data
    ):
        raise MetricError(
            f"{path}: expected a mapping with a list under 'metrics' (and, if any, one under 'dimensions')"
        )
    return data


def load_file(path: Path, model: Model = MODEL) -> tuple[Model, list[Metric]]:
    """The model with the file's dimensions, and the file's metrics (read against it)."""
    data = _read(path)
    model = model_with(data.get("dimensions", []), model)
    return model, [metric_from(item, model) for item in data.get("metrics", [])]


def metrics_file() -> Path | None:
    return Path(os.environ["METRICS_FILE"]) if os.environ.get("METRICS_FILE") else None


def registry(extra_file: Path | None = None) -> Registry:
    """The built-in catalogue plus the metrics and dimensions in `extra_file` (or
    $METRICS_FILE), checked."""
    path = extra_file or metrics_file()
    model, extra = load_file(path) if path is not None else (MODEL, [])
    reg = Registry(CATALOGUE, model=model)
    for metric in extra:
        reg.add(metric)
    reg.check()
    return reg


def dimensions(extra_file: Path | None = None) -> tuple[str, ...]:
    """Every dimension metrics can be broken down by: the built-in ones, then those the
    metrics file (`extra_file` or $METRICS_FILE) adds."""
    path = extra_file or metrics_file()
    return (load_file(path)[0] if path is not None else MODEL).dimensions
