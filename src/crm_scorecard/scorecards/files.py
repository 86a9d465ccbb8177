"""Scorecards as YAML files: written, versioned and reviewed like code, then imported,
exported or evaluated. The schema is checked on load and every problem names its place
in the file (`perspectives[0].goals[1].indicators[0].weight: ...`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import scoring

DEFAULT_PERSPECTIVES = ["Financial", "Customer", "Internal process", "Learning & growth"]


class FileError(ValueError):
    """A scorecard file that cannot be read, with every problem and where it is."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ThresholdsIn(_Strict):
    green: float = 0.8
    yellow: float = 0.5


def parse_period(text: str) -> str:
    """A month as "YYYY-MM", from "2026-1" or "2026-01"; ValueError otherwise."""
    parts = str(text).split("-")
    if len(parts) != 2 or not (
        parts[0].isdigit() and parts[1].isdigit() and 1 <= int(parts[1]) <= 12
    ):
        raise ValueError(f"period {text!r} must look like 2026-01")
    return f"{int(parts[0]):04d}-{int(parts[1]):02d}"


class IndicatorIn(_Strict):
    name: str
    metric: str | None = None
    filter: dict[str, str] | None = None
    value: float | None = None
    values: dict[str, float | None] | None = None
    optimization: scoring.Optimization = scoring.Optimization.MAXIMIZE
    baseline: float
    target: float
    targets: dict[str, float] = Field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    tolerance: float = 0.0
    weight: float = 1.0
    thresholds: ThresholdsIn | None = None
    unit: str = ""
    owner: str = ""
    update_interval: Literal["month", "quarter", "year"] = "month"
    kind: Literal["leading", "lagging"] = "lagging"

    @field_validator("values", "targets", mode="before")
    @classmethod
    def _periods(cls, given: Any) -> Any:
        if isinstance(given, dict):
            return {parse_period(k): v for k, v in given.items()}
        return given

    @model_validator(mode="after")
    def _one_source(self) -> IndicatorIn:
        given = [k for k in ("metric", "value", "values") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of metric, value or values, not {' and '.join(given)}")
        if self.filter and not self.metric:
            raise ValueError("filter applies to a metric; this indicator has none")
        return self


class GoalIn(_Strict):
    name: str
    weight: float = 1.0
    indicators: list[IndicatorIn] = Field(default_factory=list)
    goals: list[GoalIn] = Field(default_factory=list)


class PerspectiveIn(_Strict):
    name: str
    weight: float = 1.0
    goals: list[GoalIn] = Field(default_factory=list)


class LinkIn(_Strict):
    cause: str = Field(alias="from")
    effect: str = Field(alias="to")


class ScorecardFile(_Strict):
    name: str
    mission: str = ""
    thresholds: ThresholdsIn | None = None
    perspectives: list[PerspectiveIn] = Field(
        default_factory=lambda: [PerspectiveIn(name=n) for n in DEFAULT_PERSPECTIVES]
    )
    links: list[LinkIn] = Field(default_factory=list)


def _where(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse(data: Any, *, source: str = "scorecard") -> ScorecardFile:
    try:
        return ScorecardFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{_where(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        ]
        raise FileError(f"{source}: " + "; ".join(problems)) from None


def load(path: Path) -> ScorecardFile:
    """Read and check a scorecard file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileError(f"{path}: no such file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FileError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise FileError(f"{path}: expected a mapping with name, mission and perspectives")
    return parse(data, source=str(path))


def dump(card: ScorecardFile) -> str:
    data = card.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


ValuesFor = Callable[[str, dict[str, str] | None], dict[str, float | None]]


def to_scoring(card: ScorecardFile, *, values_for: ValuesFor | None = None) -> scoring.Scorecard:
    """Turn a checked file into the scoring model. Metric-bound indicators take their
    history from `values_for(metric, filter)`; without it they have no data."""

    def indicator(i: IndicatorIn) -> scoring.Indicator:
        values = dict(i.values or {})
        if i.metric and values_for is not None:
            values = values_for(i.metric, i.filter)
        return scoring.Indicator(
            name=i.name,
            baseline=i.baseline,
            target=i.target,
            optimization=i.optimization,
            min=i.min,
            max=i.max,
            tolerance=i.tolerance,
            weight=i.weight,
            thresholds=scoring.Thresholds(**i.thresholds.model_dump()) if i.thresholds else None,
            value=i.value,
            values=values,
            targets=dict(i.targets),
            metric=i.metric,
            update_interval=i.update_interval,
            unit=i.unit,
        )

    def goal(g: GoalIn) -> scoring.Goal:
        return scoring.Goal(
            name=g.name,
            weight=g.weight,
            indicators=[indicator(i) for i in g.indicators],
            goals=[goal(s) for s in g.goals],
        )

    return scoring.Scorecard(
        name=card.name,
        mission=card.mission,
        thresholds=scoring.Thresholds(**card.thresholds.model_dump())
        if card.thresholds
        else scoring.Thresholds(),
        perspectives=[
            scoring.Perspective(name=p.name, weight=p.weight, goals=[goal(g) for g in p.goals])
            for p in card.perspectives
        ],
        links=[(link.cause, link.effect) for link in card.links],
    )
