"""Writes to scorecards, and turning stored scorecards into scores."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django.db import transaction
from django.db.models import Prefetch, Q

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.scope import Actor, descendant_ids, visible_department_ids
from crm_scorecard.metrics.definitions import registry as load_registry
from crm_scorecard.metrics.models import Grain, KpiValue

from . import files, scoring
from .models import Goal, GoalLink, Indicator, ManualValue, Perspective, Scorecard, TargetPoint
from .signals import scorecards_touch


class ScorecardExists(ValueError):
    """A scorecard of that name is already in the department."""


def period_start(period: str) -> date:
    year, month = period.split("-")[:2]
    return date(int(year), int(month), 1)


def period_label(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def kpi_history(
    metric: str, filter_: dict[str, str] | None = None, *, department: Department | None = None
) -> dict[str, float | None]:
    """Monthly values of a metric from the KPI store: the whole company's (no `department`)
    or one department subtree's, overall or for one dimension value. A filter on a
    department reads that department's subtree."""
    dimension, value = next(iter((filter_ or {}).items()), ("", ""))
    if dimension == "department":
        found = Department.objects.filter(name=value).first()
        if found is None:
            return {}
        department, dimension, value = found, "", ""
    rows = KpiValue.objects.filter(
        metric=metric,
        grain=Grain.MONTH,
        department=department,
        dimension=dimension,
        dimension_value=value,
    ).values_list("period_start", "value")
    return {period_label(day): v for day, v in rows}


class ScopeError(scoring.DefinitionError):
    """An indicator would show numbers from outside its scorecard's department."""


def indicator_scope_check(
    *,
    department: Department,
    name: str,
    metric: str,
    scope: str,
    filter_dimension: str,
    filter_value: str,
    actor: Actor | None,
) -> None:
    """Refuse an indicator that would read data outside its scorecard's department subtree.
    A company-wide number, or one filtered to a department elsewhere, is a publication only
    an executive (or an operator at the command line, `actor` None) may make."""
    if not metric:
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
    anything is written."""
    scoring.evaluate(files.to_scoring(card))
    for p in card.perspectives:
        for g in files._walk(p.goals):
            for i in g.indicators:
                dimension, dim_value = next(iter((i.filter or {}).items()), ("", ""))
                indicator_scope_check(
                    department=department,
                    name=i.name,
                    metric=i.metric or "",
                    scope=i.scope,
                    filter_dimension=dimension,
                    filter_value=dim_value,
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
            (dimension, dim_value) = next(iter((i.filter or {}).items()), ("", ""))
            thresholds = i.thresholds
            indicator = Indicator.objects.create(
                goal=goal,
                name=i.name,
                metric=i.metric or "",
                scope=i.scope,
                filter_dimension=dimension,
                filter_value=dim_value,
                unit=i.unit,
                owner=i.owner,
                optimization=i.optimization,
                baseline=i.baseline,
                target=i.target,
                min=i.min,
                max=i.max,
                tolerance=i.tolerance,
                weight=i.weight,
                green=thresholds.green if thresholds else None,
                yellow=thresholds.yellow if thresholds else None,
                update_interval=i.update_interval,
                kind=i.kind,
                position=i_pos,
            )
            targets.extend(
                TargetPoint(indicator=indicator, period_start=period_start(p), target=t)
                for p, t in i.targets.items()
            )
            series = dict(i.values or {})
            if i.value is not None:
                series[period_label(date.today())] = i.value
            values.extend(
                ManualValue(indicator=indicator, period_start=period_start(p), value=v)
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
    TargetPoint.objects.bulk_create(targets)
    ManualValue.objects.bulk_create(values)
    GoalLink.objects.bulk_create(
        [
            GoalLink(
                scorecard=scorecard,
                cause=goals_by_name[link.cause],
                effect=goals_by_name[link.effect],
            )
            for link in card.links
        ]
    )
    scorecards_touch()  # bulk inserts send no signals
    return scorecard


def scorecard_tree(scorecard: Scorecard) -> Scorecard:
    """Load a scorecard with everything under it in a fixed number of queries."""
    indicators = Indicator.objects.prefetch_related(
        "target_points", "manual_values"
    ).select_related("cascaded_from__goal__perspective__scorecard__department")
    goals = Goal.objects.prefetch_related(
        Prefetch("indicators", queryset=indicators), "initiatives"
    )
    return (
        Scorecard.objects.select_related("department")
        .prefetch_related(
            Prefetch("perspectives__goals", queryset=goals), "links__cause", "links__effect"
        )
        .get(pk=scorecard.pk)
    )


def scorecard_export(scorecard: Scorecard) -> files.ScorecardFile:
    """The scorecard as a file: the same shape `scorecard import` reads."""
    card = scorecard_tree(scorecard)

    def indicator(i: Indicator) -> files.IndicatorIn:
        manual: dict[str, float | None] = {
            period_label(v.period_start): v.value for v in i.manual_values.all()
        }
        thresholds = (
            files.ThresholdsIn(green=i.green, yellow=i.yellow)
            if i.green is not None and i.yellow is not None
            else None
        )
        return files.IndicatorIn(
            name=i.name,
            metric=i.metric or None,
            scope=cast(Any, i.scope),
            filter={i.filter_dimension: i.filter_value} if i.filter_dimension else None,
            values=manual or None if not i.metric else None,
            optimization=scoring.Optimization(i.optimization),
            baseline=i.baseline,
            target=i.target,
            targets={period_label(t.period_start): t.target for t in i.target_points.all()},
            min=i.min,
            max=i.max,
            tolerance=i.tolerance,
            weight=i.weight,
            thresholds=thresholds,
            unit=i.unit,
            owner=i.owner,
            update_interval=cast(Any, i.update_interval),
            kind=cast(Any, i.kind),
        )

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


def metric_units() -> dict[str, str]:
    """Each metric's unit (see metrics.units.Unit), for indicators that name none."""
    return {m.key: m.unit for m in load_registry()}


def scorecard_scoring(scorecard: Scorecard) -> scoring.Scorecard:
    """The stored scorecard as the scoring model, with its values (manual or from the KPI store)."""
    card = scorecard_tree(scorecard)
    all_indicators = [
        i for p in card.perspectives.all() for g in p.goals.all() for i in g.indicators.all()
    ]
    metrics = {(i.cascaded_from or i).metric for i in all_indicators} - {""}
    department_ids = dict(Department.objects.values_list("name", "pk"))
    units = metric_units()

    def where(i: Indicator) -> tuple[int | None, str, str]:
        """The slice of the KPI store an indicator reads: (department subtree, or None for
        the whole company; dimension; value). A cascaded indicator reads its source's."""
        source = i.cascaded_from or i
        home = (
            card.department_id if source is i else source.goal.perspective.scorecard.department_id
        )
        if source.filter_dimension == "department":
            # A department filter is that department's subtree (-1: no such department).
            return department_ids.get(source.filter_value, -1), "", ""
        department = None if source.scope == Indicator.Scope.COMPANY else home
        return department, source.filter_dimension, source.filter_value

    def scope_label(i: Indicator) -> str:
        source = i.cascaded_from or i
        if source is not i:
            return f"cascaded from {source.goal.perspective.scorecard.department.name}"
        if source.filter_dimension == "department":
            return f"department {source.filter_value}"
        return str(source.scope)

    # One query for every metric-bound indicator's history, whatever their number.
    history_cache: dict[tuple[str, int | None, str, str], dict[str, float | None]] = {}
    slices = Q()
    for department, dimension, dim_value in {where(i) for i in all_indicators}:
        slices |= (
            Q(department=department, dimension=dimension, dimension_value=dim_value)
            if department is not None
            else Q(department__isnull=True, dimension=dimension, dimension_value=dim_value)
        )
    for metric, department, dimension, dim_value, day, value in KpiValue.objects.filter(
        slices, metric__in=metrics, grain=Grain.MONTH
    ).values_list("metric", "department", "dimension", "dimension_value", "period_start", "value"):
        history_cache.setdefault((metric, department, dimension, dim_value), {})[
            period_label(day)
        ] = value

    def history(i: Indicator) -> dict[str, float | None]:
        source = i.cascaded_from or i
        if source.metric:
            return history_cache.get((source.metric, *where(i)), {})
        manual = (
            source.manual_values.all()
            if source is i
            else ManualValue.objects.filter(indicator=source)
        )
        return {period_label(v.period_start): v.value for v in manual}

    def indicator(i: Indicator) -> scoring.Indicator:
        thresholds = (
            scoring.Thresholds(i.green, i.yellow)
            if i.green is not None and i.yellow is not None
            else None
        )
        return scoring.Indicator(
            name=i.name,
            baseline=i.baseline,
            target=i.target,
            optimization=scoring.Optimization(i.optimization),
            min=i.min,
            max=i.max,
            tolerance=i.tolerance,
            weight=i.weight,
            thresholds=thresholds,
            values=history(i),
            targets={period_label(t.period_start): t.target for t in i.target_points.all()},
            metric=i.metric or None,
            update_interval=i.update_interval,
            unit=i.unit or units.get(i.metric, ""),
            key=str(i.pk),
            scope=scope_label(i) if i.metric else "",
        )

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
        links=[(link.cause.name, link.effect.name) for link in card.links.all()],
    )


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
        name=indicator.name,
        metric=indicator.metric,
        scope=indicator.scope,
        filter_dimension=indicator.filter_dimension,
        filter_value=indicator.filter_value,
        actor=actor,
    )
    indicator.save()
    _check_scorecard(indicator.goal.perspective.scorecard)  # raising rolls the save back
    return indicator


@transaction.atomic
def scorecard_save(*, scorecard: Scorecard) -> Scorecard:
    scorecard.full_clean()
    scorecard.save()
    if scorecard.perspectives.count() == 0:
        Perspective.objects.bulk_create(
            [
                Perspective(scorecard=scorecard, name=name, position=i)
                for i, name in enumerate(files.DEFAULT_PERSPECTIVES)
            ]
        )
    _check_scorecard(scorecard)
    return scorecard


@transaction.atomic
def goal_save(*, goal: Goal) -> Goal:
    """Save a goal if its place in the tree makes sense: a sub-goal's parent is in the
    same perspective and not the goal itself or one of its own sub-goals, and no other goal
    of the scorecard has its name (links and files name goals)."""
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
    goal.save()
    _check_scorecard(goal.perspective.scorecard)
    return goal


@transaction.atomic
def link_create(*, scorecard: Scorecard, cause: Goal, effect: Goal) -> GoalLink:
    if cause.pk == effect.pk:
        raise scoring.DefinitionError("a goal cannot drive itself")
    link = GoalLink(scorecard=scorecard, cause=cause, effect=effect)
    link.full_clean()
    link.save()
    return link


@transaction.atomic
def manual_value_set(
    *, indicator: Indicator, period: str, value: float, user: Any = None
) -> ManualValue:
    """Enter (or correct) a person's value for a manual indicator and a month."""
    if indicator.metric:
        raise scoring.DefinitionError(
            f"{indicator.name} takes its values from the metric {indicator.metric}"
        )
    entry, _ = ManualValue.objects.update_or_create(
        indicator=indicator,
        period_start=period_start(period),
        defaults={"value": value, "entered_by": user if getattr(user, "pk", None) else None},
    )
    return entry


@transaction.atomic
def goal_cascade(*, source: Goal, perspective: Perspective, weight: float = 1.0) -> Goal:
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
    goal = Goal.objects.create(
        perspective=perspective, name=source.name, weight=weight, cascaded_from=source
    )
    Indicator.objects.bulk_create(
        [
            Indicator(
                goal=goal,
                name=i.name,
                metric=i.metric,
                scope=i.scope,
                filter_dimension=i.filter_dimension,
                filter_value=i.filter_value,
                unit=i.unit,
                owner=i.owner,
                optimization=i.optimization,
                baseline=i.baseline,
                target=i.target,
                min=i.min,
                max=i.max,
                tolerance=i.tolerance,
                weight=i.weight,
                green=i.green,
                yellow=i.yellow,
                update_interval=i.update_interval,
                kind=i.kind,
                position=i.position,
                cascaded_from=i,
            )
            for i in source.indicators.all()
        ]
    )
    scorecards_touch()  # bulk inserts send no signals
    _check_scorecard(perspective.scorecard)
    return goal
