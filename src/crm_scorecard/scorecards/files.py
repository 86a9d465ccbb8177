"""Scorecards as YAML files: written, versioned and reviewed like code, then imported,
exported or evaluated (`mapping` turns a file into the models or the scoring model). The
schema is checked on load and every problem names its place in the file
(`perspectives[0].goals[1].indicators[0].weight: ...`).

Files come from people (the web import, the CLI), so a file is refused before it can cost
much: over `MAX_BYTES`, nested deeper than `MAX_DEPTH`, using YAML anchors or aliases (one
543-byte file of nested aliases expands to hundreds of thousands of goals), or holding more
perspectives, goals, indicators or links, or longer names, than the limits below."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from crm_scorecard.errors import Invalid

from . import scoring

DEFAULT_PERSPECTIVES = ["Financial", "Customer", "Internal process", "Learning & growth"]

# What one scorecard file may hold. A real scorecard is a few kilobytes with a handful of
# perspectives and tens of goals; these leave room for ten times that and no more.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 20  # nested mappings and lists; a goal nested in a goal costs two
MAX_PERSPECTIVES = 20
MAX_GOALS = 500  # in the whole scorecard, nested goals included
MAX_INDICATORS = 2000
MAX_LINKS = 2000
MAX_NAME = 200  # characters, as the database stores them

Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]


class FileError(Invalid):
    """A scorecard file that cannot be read, with every problem and where it is."""


class _Refused(yaml.YAMLError):
    """A YAML construct refused while reading, before it is built."""


class _LimitedLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors and aliases and nesting deeper than `MAX_DEPTH`
    as the events arrive: before an alias could be expanded, and before the (recursive)
    composer could recurse deeper than the limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def get_event(self) -> Any:
        event = super().get_event()
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                f"line {line}: YAML anchors and aliases (&name, *name) are not allowed "
                "in a scorecard file; write each part out"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    f"line {line}: nested more than {MAX_DEPTH} levels deep "
                    f"(the limit is {MAX_DEPTH})"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            self._depth -= 1
        return event


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
    name: Name
    metric: str | None = None
    # Whose numbers: the scorecard's department with its sub-departments, or the whole
    # company (shown as such; only an executive may publish a company-wide number).
    scope: Literal["department", "company"] = "department"
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
        if self.filter and len(self.filter) > 1:
            raise ValueError("filter takes one dimension: {dimension: value}")
        if self.scope == "company" and not self.metric:
            raise ValueError("scope applies to a metric; this indicator has none")
        return self


class GoalIn(_Strict):
    name: Name
    weight: float = 1.0
    indicators: list[IndicatorIn] = Field(default_factory=list)
    goals: list[GoalIn] = Field(default_factory=list)


class PerspectiveIn(_Strict):
    name: Name
    weight: float = 1.0
    goals: list[GoalIn] = Field(default_factory=list)


class LinkIn(_Strict):
    cause: str = Field(alias="from")
    effect: str = Field(alias="to")


class ScorecardFile(_Strict):
    name: Name
    mission: str = ""
    thresholds: ThresholdsIn | None = None
    perspectives: list[PerspectiveIn] = Field(
        default_factory=lambda: [PerspectiveIn(name=n) for n in DEFAULT_PERSPECTIVES]
    )
    links: list[LinkIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _within_limits(self) -> ScorecardFile:
        goals = [g for p in self.perspectives for g in _walk(p.goals)]
        counts = {
            "perspectives": (len(self.perspectives), MAX_PERSPECTIVES),
            "goals": (len(goals), MAX_GOALS),
            "indicators": (sum(len(g.indicators) for g in goals), MAX_INDICATORS),
            "links": (len(self.links), MAX_LINKS),
        }
        over = [
            f"{count:,} {what} (the limit is {limit:,})"
            for what, (count, limit) in counts.items()
            if count > limit
        ]
        if over:
            raise ValueError(f"too big: {'; '.join(over)}")
        return self


def _walk(goals: list[GoalIn]) -> list[GoalIn]:
    """Every goal, nested ones included, without recursing (nesting depth is the file's)."""
    found: list[GoalIn] = []
    pending = list(goals)
    while pending:
        goal = pending.pop()
        found.append(goal)
        pending.extend(goal.goals)
    return found


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


def loads(content: bytes | str, *, source: str = "scorecard") -> ScorecardFile:
    """Read and check a scorecard file's content, refusing one over the limits above
    (size first, then anchors, aliases and depth as it is read, then the counts)."""
    size = len(content.encode("utf-8") if isinstance(content, str) else content)
    if size > MAX_BYTES:
        raise FileError(
            f"{source}: the file is too big (the limit is {MAX_BYTES // 1024 // 1024} MiB, "
            f"{MAX_BYTES:,} bytes)"
        )
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
    except UnicodeDecodeError as exc:
        raise FileError(f"{source}: not UTF-8 text ({exc})") from None
    loader = _LimitedLoader(text)
    try:
        data = loader.get_single_data()
    except _Refused as exc:
        raise FileError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise FileError(f"{source}: not valid YAML ({exc})") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise FileError(f"{source}: expected a mapping with name, mission and perspectives")
    return parse(data, source=source)


def load(path: Path) -> ScorecardFile:
    """Read and check a scorecard file."""
    try:
        with path.open("rb") as f:
            content = f.read(MAX_BYTES + 1)  # enough to tell it is too big
    except FileNotFoundError:
        raise FileError(f"{path}: no such file") from None
    return loads(content, source=str(path))


def dump(card: ScorecardFile) -> str:
    data = card.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
