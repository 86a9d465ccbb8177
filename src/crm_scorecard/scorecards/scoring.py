"""Balanced-scorecard scoring: how well each indicator, goal, perspective and scorecard does.

Pure functions over plain data, no database: the web pages, the API, the CLI and the
file evaluator all score through here, so a number means the same everywhere.

For an indicator with value v:
- maximize: performance = (v - min) / (max - min)
- minimize: performance = (max - v) / (max - min)
- band: 1 when |v - target| <= tolerance, falling linearly to 0 at min (below) and max (above)
- binary: 1 when v meets the target (>= when the target is above the baseline, <= when below)
- progress = (v - baseline) / (target - baseline)
min defaults to baseline and max to target (minimize: min = target, max = baseline).
Both are clamped to [0, 1]; the score is the performance. A container scores the weighted
mean of its children that have a score; children with no data are left out and listed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from crm_scorecard.errors import Invalid
from crm_scorecard.periods import Period, month_index


class Optimization(StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"
    BAND = "band"
    BINARY = "binary"


class Status(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    GREY = "grey"


EPSILON = 1e-9
INTERVAL_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}


class DefinitionError(Invalid):
    """A scorecard definition that cannot be scored, with the path of the offending item."""


@dataclass(frozen=True)
class Thresholds:
    """Score at or above `green` is green, at or above `yellow` is yellow, else red."""

    green: float = 0.8
    yellow: float = 0.5

    def check(self, where: str) -> None:
        if not (0 <= self.yellow <= self.green <= 1):
            raise DefinitionError(
                f"{where}: thresholds must satisfy 0 <= yellow <= green <= 1 "
                f"(got green {self.green}, yellow {self.yellow})"
            )

    def status(self, score: float | None) -> Status:
        if score is None:
            return Status.GREY
        # A score on a threshold takes the better colour, also when floating-point
        # arithmetic lands it a hair below (0.93 - 0.85) / 0.1 = 0.79999...
        if score >= self.green - EPSILON:
            return Status.GREEN
        if score >= self.yellow - EPSILON:
            return Status.YELLOW
        return Status.RED


def latest_at(
    series: Mapping[Period, float | None], period: Period | None
) -> tuple[Period, float | None] | None:
    """The latest entry at or before `period` (any, when period is None)."""
    keys = sorted(series, key=month_index)
    if period is not None:
        keys = [k for k in keys if month_index(k) <= month_index(period)]
    return (keys[-1], series[keys[-1]]) if keys else None


@dataclass
class Indicator:
    """A weighted measure with a target. `values` maps periods to values; `value` is a
    single current value for definitions without history."""

    name: str
    baseline: float
    target: float
    optimization: Optimization = Optimization.MAXIMIZE
    min: float | None = None
    max: float | None = None
    tolerance: float = 0.0
    weight: float = 1.0
    thresholds: Thresholds | None = None
    value: float | None = None
    values: dict[Period, float | None] = field(default_factory=dict)
    targets: dict[Period, float] = field(default_factory=dict)
    metric: str | None = None
    update_interval: str = "month"
    unit: str = ""
    key: str = ""
    # Whose numbers a metric indicator shows: "department" (the scorecard's department and
    # its sub-departments), "company", or "cascaded from <department>".
    scope: str = ""

    def bounds(self, target: float) -> tuple[float, float]:
        if self.optimization == Optimization.MINIMIZE:
            low = target if self.min is None else self.min
            high = self.baseline if self.max is None else self.max
        else:
            low = self.baseline if self.min is None else self.min
            high = target if self.max is None else self.max
        return low, high

    def target_at(self, period: Period | None) -> float:
        found = latest_at(self.targets, period) if self.targets else None
        return self.target if found is None else float(found[1])  # type: ignore[arg-type]

    def check(self, where: str) -> None:
        here = f"{where} > {self.name}"
        if self.weight < 0:
            raise DefinitionError(f"{here}: weight must not be negative (got {self.weight})")
        if self.thresholds:
            self.thresholds.check(here)
        for period, target in [(None, self.target), *self.targets.items()]:
            at = f" (target for {period})" if period else ""
            if self.baseline == target:
                raise DefinitionError(
                    f"{here}: baseline and target are both {target}{at}; they must differ"
                )
            if self.optimization == Optimization.BAND:
                if self.min is None or self.max is None:
                    raise DefinitionError(f"{here}: a band indicator needs min and max")
                if self.tolerance < 0:
                    raise DefinitionError(f"{here}: tolerance must not be negative")
                if not (
                    self.min <= target - self.tolerance and target + self.tolerance <= self.max
                ):
                    raise DefinitionError(
                        f"{here}: the band target ± tolerance must lie between min and max{at}"
                    )
            if self.optimization == Optimization.BINARY:
                continue  # meets the target or not: min and max play no part
            low, high = self.bounds(target)
            if low == high:
                raise DefinitionError(f"{here}: max and min are both {low}{at}; they must differ")
            if low > high:
                if (
                    self.optimization == Optimization.MINIMIZE
                    and self.min is None
                    and self.max is None
                ):
                    raise DefinitionError(
                        f"{here}: to minimize, the target must be below the baseline{at}"
                    )
                if (
                    self.optimization == Optimization.MAXIMIZE
                    and self.min is None
                    and self.max is None
                ):
                    raise DefinitionError(
                        f"{here}: to maximize, the target must be above the baseline{at}"
                    )
                raise DefinitionError(f"{here}: min ({low}) must be below max ({high}){at}")


def clamp(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def performance(ind: Indicator, v: float, target: float | None = None) -> float:
    """How well value v does, from 0 (at or worse than the worst bound) to 1."""
    target = ind.target if target is None else target
    low, high = ind.bounds(target)
    match ind.optimization:
        case Optimization.MAXIMIZE:
            return clamp((v - low) / (high - low))
        case Optimization.MINIMIZE:
            return clamp((high - v) / (high - low))
        case Optimization.BAND:
            assert ind.min is not None and ind.max is not None
            if abs(v - target) <= ind.tolerance:
                return 1.0
            if v < target:
                edge = target - ind.tolerance
                return clamp((v - ind.min) / (edge - ind.min)) if edge > ind.min else 0.0
            edge = target + ind.tolerance
            return clamp((ind.max - v) / (ind.max - edge)) if ind.max > edge else 0.0
        case Optimization.BINARY:
            meets = v >= target if target >= ind.baseline else v <= target
            return 1.0 if meets else 0.0
    raise DefinitionError(f"unknown optimization {ind.optimization!r}")


def progress(ind: Indicator, v: float, target: float | None = None) -> float:
    """How far from the baseline to the target the value has come, clamped to [0, 1]."""
    target = ind.target if target is None else target
    return clamp((v - ind.baseline) / (target - ind.baseline))


@dataclass
class Goal:
    """An objective; `key` identifies it within its scorecard (links name it): a stored
    goal's id, or its name when none is given (a file's goals)."""

    name: str
    weight: float = 1.0
    indicators: list[Indicator] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    key: str = ""

    def __post_init__(self) -> None:
        self.key = self.key or self.name


@dataclass
class Perspective:
    name: str
    weight: float = 1.0
    goals: list[Goal] = field(default_factory=list)
    key: str = ""


@dataclass
class Scorecard:
    name: str
    mission: str = ""
    thresholds: Thresholds = field(default_factory=Thresholds)
    perspectives: list[Perspective] = field(default_factory=list)
    # Cause and effect between goals, as (cause key, effect key): a goal's id survives
    # renaming it.
    goal_links: list[tuple[str, str]] = field(default_factory=list)

    def goals(self) -> Iterator[Goal]:
        """Every goal, sub-goals included, perspective by perspective."""
        for perspective in self.perspectives:
            for goal in perspective.goals:
                for _, g in _walk_goals("", goal):
                    yield g

    def check(self) -> None:
        """Refuse definitions that cannot be scored, naming the item and the reason."""
        self.thresholds.check(self.name)
        _check_weights(self.name, "perspectives", [p.weight for p in self.perspectives])
        goal_names: set[str] = set()
        goal_keys: set[str] = set()
        for perspective in self.perspectives:
            where = f"{self.name} > {perspective.name}"
            _check_weights(where, "goals", [g.weight for g in perspective.goals])
            for goal in perspective.goals:
                for path, g in _walk_goals(where, goal):
                    if g.name in goal_names:
                        raise DefinitionError(
                            f"{path}: another goal has this name; goal names must be unique "
                            "within a scorecard"
                        )
                    goal_names.add(g.name)
                    goal_keys.add(g.key)
                    for ind in g.indicators:
                        ind.check(path)
                    children = [i.weight for i in g.indicators] + [s.weight for s in g.goals]
                    _check_weights(path, "indicators and sub-goals", children)
        for cause, effect in self.goal_links:
            for key in (cause, effect):
                if key not in goal_keys:
                    raise DefinitionError(
                        f"{self.name}: link names goal {key!r}, which is not in the scorecard"
                    )


def _walk_goals(where: str, goal: Goal) -> Iterator[tuple[str, Goal]]:
    path = f"{where} > {goal.name}"
    yield path, goal
    for sub in goal.goals:
        yield from _walk_goals(path, sub)


def _check_weights(where: str, what: str, weights: list[float]) -> None:
    for w in weights:
        if w < 0:
            raise DefinitionError(f"{where}: weights of {what} must not be negative (got {w})")
    if weights and sum(weights) == 0:
        raise DefinitionError(f"{where}: the weights of its {what} are all zero")


# ---- evaluation -------------------------------------------------------------------------------


@dataclass
class Result:
    """The evaluated tree: what is shown on pages and printed by `scorecard evaluate`."""

    kind: str  # scorecard, perspective, goal, indicator
    name: str
    score: float | None
    status: Status
    weight: float
    absolute_weight: float
    children: list[Result] = field(default_factory=list)
    no_data: list[str] = field(default_factory=list)
    value: float | None = None
    performance: float | None = None
    progress: float | None = None
    target: float | None = None
    value_period: Period | None = None
    stale: bool = False
    indicator: Indicator | None = None
    key: str = ""

    def walk(self) -> Iterator[Result]:
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "name": self.name,
            "score": self.score,
            "status": self.status.value,
            "weight": self.weight,
            "absolute_weight": self.absolute_weight,
        }
        if self.kind == "indicator":
            ind = self.indicator
            data.update(
                metric=ind.metric if ind else None,
                scope=(ind.scope or None) if ind and ind.metric else None,
                unit=ind.unit if ind else "",
                value=self.value,
                performance=self.performance,
                progress=self.progress,
                target=self.target,
                period=self.value_period,
                stale=self.stale,
            )
            return data
        if self.no_data:
            data["no_data"] = self.no_data
        if self.kind == "scorecard":
            data["perspectives"] = [c.to_dict() for c in self.children]
        else:
            data["goals"] = [c.to_dict() for c in self.children if c.kind == "goal"]
            data["indicators"] = [c.to_dict() for c in self.children if c.kind == "indicator"]
        return data


def weighted_mean(children: list[Result]) -> float | None:
    scored = [c for c in children if c.score is not None]
    total = sum(c.weight for c in scored)
    if not scored or total == 0:
        return None
    return sum(c.weight * c.score for c in scored if c.score is not None) / total


def evaluate(card: Scorecard, *, period: Period | None = None) -> Result:
    """Score the whole scorecard for a period ("YYYY-MM"; None means the latest values)."""
    card.check()
    root = Result(
        kind="scorecard",
        name=card.name,
        score=None,
        status=Status.GREY,
        weight=1.0,
        absolute_weight=1.0,
        children=[_perspective(p, period, card.thresholds) for p in card.perspectives],
    )
    _finish(root, 1.0, card.thresholds)
    return root


def _share(weight: float, siblings: list[float]) -> float:
    total = sum(siblings)
    return weight / total if total else 0.0


def _perspective(p: Perspective, period: Period | None, thresholds: Thresholds) -> Result:
    return Result(
        kind="perspective",
        name=p.name,
        score=None,
        status=Status.GREY,
        weight=p.weight,
        absolute_weight=0.0,
        key=p.key,
        children=[_goal(g, period, thresholds) for g in p.goals],
    )


def _goal(g: Goal, period: Period | None, thresholds: Thresholds) -> Result:
    children = [_indicator(i, period, thresholds) for i in g.indicators]
    children += [_goal(s, period, thresholds) for s in g.goals]
    return Result(
        kind="goal",
        name=g.name,
        score=None,
        status=Status.GREY,
        weight=g.weight,
        absolute_weight=0.0,
        children=children,
        key=g.key,
    )


def _indicator(ind: Indicator, period: Period | None, thresholds: Thresholds) -> Result:
    colours = ind.thresholds or thresholds
    value: float | None
    stale = False
    found_period: Period | None = None
    if ind.values:
        found = latest_at(ind.values, period)
        value = None if found is None else found[1]
        if found is not None:
            found_period = found[0]
            if period is not None:
                age = month_index(period) - month_index(found_period)
                stale = age >= INTERVAL_MONTHS.get(ind.update_interval, 1)
    else:
        value = ind.value
    target = ind.target_at(period)
    result = Result(
        kind="indicator",
        name=ind.name,
        score=None,
        status=Status.GREY,
        weight=ind.weight,
        absolute_weight=0.0,
        value=value,
        target=target,
        value_period=found_period,
        stale=stale,
        indicator=ind,
        key=ind.key,
    )
    if value is not None:
        result.performance = performance(ind, value, target)
        result.progress = progress(ind, value, target)
        if not stale:
            result.score = result.performance
    result.status = colours.status(result.score)
    return result


def _finish(node: Result, absolute: float, thresholds: Thresholds) -> None:
    """Fill containers' scores bottom-up and absolute weights top-down."""
    node.absolute_weight = absolute
    weights = [c.weight for c in node.children]
    for child in node.children:
        _finish(child, absolute * _share(child.weight, weights), thresholds)
    if node.kind != "indicator":
        node.score = weighted_mean(node.children)
        node.status = thresholds.status(node.score)
        node.no_data = [c.name for c in node.children if c.score is None]
