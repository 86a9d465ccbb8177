"""One scorecard in three shapes, converted here from one declaration of its fields: the
stored models (`models`), the scoring model (`scoring`) and the scorecard file (`files`).

An indicator's definition is the model's columns in `DEFINITION`. A file holds the same
fields under the same names (`SHARED`), except three it writes for people: `metric` is
left out rather than "", `filter` is one `{dimension: value}`, and `thresholds` holds
green and yellow. Scoring takes the fields in `SCORED` by name. A new definition field is
added to the model, to the file schema and to one list here.

Goals are joined by key: a stored goal's id, a file goal's name (files name goals for the
people who write them; names are unique within a scorecard)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_scorecard.periods import Period, month_of

from . import files, scoring
from .models import Goal, Indicator, Scorecard

# The definition fields with the same name and meaning on the model and in a file.
SHARED = (
    "name",
    "scope",
    "unit",
    "owner",
    "optimization",
    "baseline",
    "target",
    "min",
    "max",
    "tolerance",
    "weight",
    "update_interval",
    "kind",
)
# The model's definition columns: the shared ones and those a file writes differently.
DEFINITION = (*SHARED, "metric", "filter_dimension", "filter_value", "green", "yellow")
# The definition fields `scoring.Indicator` takes under the same name.
SCORED = (
    "name",
    "unit",
    "baseline",
    "target",
    "min",
    "max",
    "tolerance",
    "weight",
    "update_interval",
)

Definition = dict[str, Any]  # DEFINITION's columns and their values
Series = dict[Period, float | None]
ValuesFor = Callable[[str, dict[str, str] | None], Series]


# ---- one indicator ------------------------------------------------------------------------------


def definition_of(indicator: Indicator) -> Definition:
    """A stored indicator's definition (what a cascaded copy repeats)."""
    return {f: getattr(indicator, f) for f in DEFINITION}


def definition_from_file(indicator: files.IndicatorIn) -> Definition:
    """A file's indicator as the model's definition columns."""
    dimension, value = next(iter((indicator.filter or {}).items()), ("", ""))
    thresholds = indicator.thresholds
    return {
        **{f: getattr(indicator, f) for f in SHARED},
        "metric": indicator.metric or "",
        "filter_dimension": dimension,
        "filter_value": value,
        "green": thresholds.green if thresholds else None,
        "yellow": thresholds.yellow if thresholds else None,
    }


def _has_thresholds(definition: Definition) -> bool:
    return definition["green"] is not None and definition["yellow"] is not None


def file_indicator(
    definition: Definition, *, targets: dict[Period, float], values: Series
) -> files.IndicatorIn:
    """A definition as a file writes it; a manual indicator carries its entered values."""
    return files.IndicatorIn(
        **{f: definition[f] for f in SHARED},
        metric=definition["metric"] or None,
        filter=(
            {definition["filter_dimension"]: definition["filter_value"]}
            if definition["filter_dimension"]
            else None
        ),
        thresholds=(
            files.ThresholdsIn(green=definition["green"], yellow=definition["yellow"])
            if _has_thresholds(definition)
            else None
        ),
        targets=targets,
        values=(values or None) if not definition["metric"] else None,
    )


def scoring_indicator(
    definition: Definition,
    *,
    values: Series,
    targets: dict[Period, float],
    value: float | None = None,
    key: str = "",
    scope: str = "",
) -> scoring.Indicator:
    """A definition with its values, as scoring reads it."""
    return scoring.Indicator(
        **{f: definition[f] for f in SCORED},
        optimization=scoring.Optimization(definition["optimization"]),
        metric=definition["metric"] or None,
        thresholds=(
            scoring.Thresholds(definition["green"], definition["yellow"])
            if _has_thresholds(definition)
            else None
        ),
        value=value,
        values=values,
        targets=targets,
        key=key,
        scope=scope,
    )


def stored_targets(indicator: Indicator) -> dict[Period, float]:
    """A stored indicator's changes of target, by month (prefetched `target_points`)."""
    return {month_of(t.period_start): t.target for t in indicator.target_points.all()}


# ---- a whole scorecard --------------------------------------------------------------------------


def file_to_scoring(
    card: files.ScorecardFile, *, values_for: ValuesFor | None = None
) -> scoring.Scorecard:
    """A checked file as the scoring model. Metric-bound indicators take their history
    from `values_for(metric, filter)`; without it they have no data."""

    def indicator(i: files.IndicatorIn) -> scoring.Indicator:
        values = dict(i.values or {})
        if i.metric and values_for is not None:
            values = values_for(i.metric, i.filter)
        return scoring_indicator(
            definition_from_file(i), values=values, targets=dict(i.targets), value=i.value
        )

    def goal(g: files.GoalIn) -> scoring.Goal:
        return scoring.Goal(
            name=g.name,
            weight=g.weight,
            indicators=[indicator(i) for i in g.indicators],
            goals=[goal(s) for s in g.goals],
        )

    thresholds = card.thresholds or files.ThresholdsIn()
    return scoring.Scorecard(
        name=card.name,
        mission=card.mission,
        thresholds=scoring.Thresholds(thresholds.green, thresholds.yellow),
        perspectives=[
            scoring.Perspective(name=p.name, weight=p.weight, goals=[goal(g) for g in p.goals])
            for p in card.perspectives
        ],
        goal_links=[(link.cause, link.effect) for link in card.links],  # a file goal's key
    )


def stored_to_scoring(
    card: Scorecard, *, indicator: Callable[[Indicator], scoring.Indicator]
) -> scoring.Scorecard:
    """A stored scorecard (loaded by `selectors.scorecard_tree`) as the scoring model, each
    indicator built by `indicator` (which knows where its values come from)."""

    def goal(g: Goal, all_goals: list[Goal]) -> scoring.Goal:
        return scoring.Goal(
            name=g.name,
            weight=g.weight,
            key=str(g.pk),
            indicators=[indicator(i) for i in g.indicators.all()],
            goals=[goal(s, all_goals) for s in all_goals if s.parent_id == g.pk],
        )

    perspectives = []
    for p in card.perspectives.all():
        all_goals = list(p.goals.all())
        perspectives.append(
            scoring.Perspective(
                name=p.name,
                weight=p.weight,
                key=str(p.pk),
                goals=[goal(g, all_goals) for g in all_goals if g.parent_id is None],
            )
        )
    return scoring.Scorecard(
        name=card.name,
        mission=card.mission,
        thresholds=scoring.Thresholds(card.green, card.yellow),
        perspectives=perspectives,
        goal_links=[(str(link.cause_id), str(link.effect_id)) for link in card.links.all()],
    )


def stored_to_file(card: Scorecard) -> files.ScorecardFile:
    """A stored scorecard (loaded by `selectors.scorecard_tree`) as a file: the shape
    `scorecard import` reads, goals and links by name."""

    def indicator(i: Indicator) -> files.IndicatorIn:
        manual: Series = {month_of(v.period_start): v.value for v in i.manual_values.all()}
        return file_indicator(definition_of(i), targets=stored_targets(i), values=manual)

    def goal(g: Goal, all_goals: list[Goal]) -> files.GoalIn:
        return files.GoalIn(
            name=g.name,
            weight=g.weight,
            indicators=[indicator(i) for i in g.indicators.all()],
            goals=[goal(s, all_goals) for s in all_goals if s.parent_id == g.pk],
        )

    perspectives = []
    for p in card.perspectives.all():
        all_goals = list(p.goals.all())
        perspectives.append(
            files.PerspectiveIn(
                name=p.name,
                weight=p.weight,
                goals=[goal(g, all_goals) for g in all_goals if g.parent_id is None],
            )
        )
    return files.ScorecardFile(
        name=card.name,
        mission=card.mission,
        thresholds=files.ThresholdsIn(green=card.green, yellow=card.yellow),
        perspectives=perspectives,
        links=[
            files.LinkIn.model_validate({"from": link.cause.name, "to": link.effect.name})
            for link in card.links.all()
        ],
    )
