"""Writes to scorecards: import a file, edit a part, enter a value, cascade a goal. Each
checks that the scorecard still scores before it is committed. Reads are in `selectors`."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from simple_history.utils import bulk_create_with_history

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.scope import Actor, descendant_ids, visible_department_ids
from crm_scorecard.errors import Invalid
from crm_scorecard.periods import month_first, month_of

from . import files, history, mapping, scoring
from .models import Goal, GoalLink, Indicator, ManualValue, Perspective, Scorecard, TargetPoint
from .selectors import scorecard_scoring
from .signals import scorecards_touch, values_announce


class ScorecardExists(Invalid):
    """A scorecard of that name is already in the department."""


class ScopeError(scoring.DefinitionError):
    """An indicator would show numbers from outside its scorecard's department."""


def indicator_scope_check(
    *, department: Department, definition: mapping.Definition, actor: Actor | None
) -> None:
    """Refuse an indicator (its `definition`) that would read data outside its scorecard's
    department subtree. A company-wide number, or one filtered to a department elsewhere, is
    a publication only an executive (or an operator at the command line, `actor` None) may
    make."""
    name, scope = definition["name"], definition["scope"]
    filter_dimension, filter_value = definition["filter_dimension"], definition["filter_value"]
    if not definition["metric"]:
        return
    publisher = actor is None or visible_department_ids(user=actor) is None
    if scope == Indicator.Scope.COMPANY:
        if not publisher:
            raise ScopeError(
                f"{name}: only an executive can put a company-wide number on a department's "
                "scorecard; use the department's own numbers (scope: department)"
            )
        return
    if filter_dimension == "department":
        inside = Department.objects.filter(
            pk__in=descendant_ids(roots=[department.pk]), name=filter_value
        ).exists()
        if not inside:
            raise ScopeError(
                f"{name}: {filter_value!r} is not {department.name} or one of its "
                f"sub-departments; a scorecard shows its own department's data"
            )


@transaction.atomic
def scorecard_import(
    *,
    card: files.ScorecardFile,
    department: Department,
    replace: bool = False,
    template: str = "",
    actor: Actor | None = None,
) -> Scorecard:
    """Create a department's scorecard from a checked file; with `replace`, swap out the one
    of the same name. The definition is scored once first, and every indicator's scope
    checked against `actor` (None: an operator), so an invalid one is refused before
    anything is written. Every row written is recorded in the audit trail as `actor`'s."""
    with history.acting(actor):
        return _scorecard_import(
            card=card, department=department, replace=replace, template=template, actor=actor
        )


def _scorecard_import(
    *,
    card: files.ScorecardFile,
    department: Department,
    replace: bool,
    template: str,
    actor: Actor | None,
) -> Scorecard:
    scoring.evaluate(mapping.file_to_scoring(card))
    for p in card.perspectives:
        for g in files._walk(p.goals):
            for i in g.indicators:
                indicator_scope_check(
                    department=department,
                    definition=mapping.definition_from_file(i),
                    actor=actor,
                )
    existing = Scorecard.objects.filter(department=department, name=card.name).first()
    if existing and not replace:
        raise ScorecardExists(f"{department.name} already has a scorecard named {card.name!r}")
    if existing:
        existing.delete()
    thresholds = card.thresholds or files.ThresholdsIn()
    scorecard = Scorecard(
        department=department,
        name=card.name,
        mission=card.mission,
        green=thresholds.green,
        yellow=thresholds.yellow,
        template=template,
    )
    scorecard.full_clean()
    scorecard.save()
    goals_by_name: dict[str, Goal] = {}
    targets: list[TargetPoint] = []
    values: list[ManualValue] = []

    def add_goal(
        g: files.GoalIn, perspective: Perspective, parent: Goal | None, position: int
    ) -> None:
        goal = Goal.objects.create(
            perspective=perspective, parent=parent, name=g.name, weight=g.weight, position=position
        )
        goals_by_name[g.name] = goal
        for i_pos, i in enumerate(g.indicators):
            indicator = Indicator.objects.create(
                goal=goal, **mapping.definition_from_file(i), position=i_pos
            )
            targets.extend(
                TargetPoint(indicator=indicator, period_start=month_first(p), target=t)
                for p, t in i.targets.items()
            )
            series = dict(i.values or {})
            if i.value is not None:
                series[month_of(date.today())] = i.value
            values.extend(
                ManualValue(indicator=indicator, period_start=month_first(p), value=v)
                for p, v in series.items()
                if v is not None
            )
        for s_pos, sub in enumerate(g.goals):
            add_goal(sub, perspective, goal, s_pos)

    for p_pos, p in enumerate(card.perspectives):
        perspective = Perspective.objects.create(
            scorecard=scorecard, name=p.name, weight=p.weight, position=p_pos
        )
        for g_pos, g in enumerate(p.goals):
            add_goal(g, perspective, None, g_pos)
    # With their history rows, so the trail starts at the import.
    bulk_create_with_history(targets, TargetPoint)
    bulk_create_with_history(values, ManualValue)
    bulk_create_with_history(
        [
            GoalLink(
                scorecard=scorecard,
                cause=goals_by_name[link.cause],
                effect=goals_by_name[link.effect],
            )
            for link in card.links
        ],
        GoalLink,
    )
    scorecards_touch()  # bulk inserts send no signals
    return scorecard


# ---- edits made in the browser or through the API ------------------------------------------------


def _check_scorecard(scorecard: Scorecard) -> None:
    """Score the whole scorecard once, so an edit that makes it invalid is refused."""
    scoring.evaluate(scorecard_scoring(scorecard))


@transaction.atomic
def indicator_save(*, indicator: Indicator, actor: Actor | None = None) -> Indicator:
    """Save an indicator (new or changed) if the scorecard still scores and the indicator
    reads only what its scorecard's department may show (see `indicator_scope_check`;
    `actor` None: an operator); else nothing changes."""
    indicator.full_clean()
    indicator_scope_check(
        department=indicator.goal.perspective.scorecard.department,
        definition=mapping.definition_of(indicator),
        actor=actor,
    )
    with history.acting(actor):
        indicator.save()
    _check_scorecard(indicator.goal.perspective.scorecard)  # raising rolls the save back
    return indicator


@transaction.atomic
def scorecard_save(*, scorecard: Scorecard, actor: Actor | None = None) -> Scorecard:
    """Save a scorecard's name, mission and thresholds (a new one gets the four usual
    perspectives), recorded in the audit trail as `actor`'s."""
    scorecard.full_clean()
    with history.acting(actor):
        scorecard.save()
        if scorecard.perspectives.count() == 0:
            bulk_create_with_history(
                [
                    Perspective(scorecard=scorecard, name=name, position=i)
                    for i, name in enumerate(files.DEFAULT_PERSPECTIVES)
                ],
                Perspective,
            )
    _check_scorecard(scorecard)
    return scorecard


@transaction.atomic
def goal_save(*, goal: Goal, actor: Actor | None = None) -> Goal:
    """Save a goal if its place in the tree makes sense: a sub-goal's parent is in the
    same perspective and not the goal itself or one of its own sub-goals, and no other goal
    of the scorecard has its name (a scorecard file names its goals)."""
    goal.full_clean()
    if goal.parent_id is not None:
        parent = Goal.objects.get(pk=goal.parent_id)
        if parent.perspective_id != goal.perspective_id:
            raise scoring.DefinitionError(
                f"{goal.name}: its parent {parent.name!r} is in another perspective"
            )
        node: Goal | None = parent
        while node is not None:
            if goal.pk is not None and node.pk == goal.pk:
                raise scoring.DefinitionError(
                    f"{goal.name}: a goal cannot be inside itself or one of its sub-goals"
                )
            node = node.parent
    scorecard_id = Perspective.objects.get(pk=goal.perspective_id).scorecard_id
    twin = Goal.objects.filter(perspective__scorecard_id=scorecard_id, name=goal.name)
    if goal.pk is not None:
        twin = twin.exclude(pk=goal.pk)
    if twin.exists():
        raise scoring.DefinitionError(f"this scorecard already has a goal named {goal.name!r}")
    with history.acting(actor):
        goal.save()
    _check_scorecard(goal.perspective.scorecard)
    return goal


@transaction.atomic
def link_create(
    *, scorecard: Scorecard, cause: Goal, effect: Goal, actor: Actor | None = None
) -> GoalLink:
    """Draw a cause → effect arrow on the strategy map (recorded as `actor`'s)."""
    if cause.pk == effect.pk:
        raise scoring.DefinitionError("a goal cannot drive itself")
    link = GoalLink(scorecard=scorecard, cause=cause, effect=effect)
    link.full_clean()
    with history.acting(actor):
        link.save()
    return link


@transaction.atomic
def manual_value_set(
    *, indicator: Indicator, period: str, value: float, user: Any = None
) -> ManualValue:
    """Enter (or correct) a person's value for a manual indicator and a month; the audit
    trail records `user` (None: an operator) with the value before and after."""
    if indicator.metric:
        raise scoring.DefinitionError(
            f"{indicator.name} takes its values from the metric {indicator.metric}"
        )
    with history.acting(user):
        entry, _ = ManualValue.objects.update_or_create(
            indicator=indicator,
            period_start=month_first(period),
            defaults={"value": value, "entered_by": user if getattr(user, "pk", None) else None},
        )
    values_announce(reason="manual", indicator_ids=(indicator.pk,))
    return entry


@transaction.atomic
def goal_cascade(
    *, source: Goal, perspective: Perspective, weight: float = 1.0, actor: Actor | None = None
) -> Goal:
    """Cascade a goal from a parent department's scorecard into another scorecard: a linked
    copy whose indicators read the source's data (metric or manual values), so both
    departments see the same numbers while weighing them in their own scorecards."""
    child_dept = perspective.scorecard.department
    parent = source.perspective.scorecard.department
    node: Department | None = child_dept.parent
    while node is not None and node.pk != parent.pk:
        node = node.parent
    if node is None:
        raise scoring.DefinitionError(
            f"{source.name} belongs to {parent.name}, which is not above {child_dept.name}; only a parent "
            "department's goals can be cascaded"
        )
    with history.acting(actor):
        goal = Goal.objects.create(
            perspective=perspective, name=source.name, weight=weight, cascaded_from=source
        )
        bulk_create_with_history(
            [
                Indicator(
                    goal=goal, **mapping.definition_of(i), position=i.position, cascaded_from=i
                )
                for i in source.indicators.all()
            ],
            Indicator,
        )
    scorecards_touch()  # bulk inserts send no signals
    _check_scorecard(perspective.scorecard)
    return goal
