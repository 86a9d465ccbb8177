"""Reads of scorecards: what the acting user may see, a stored scorecard as the scoring
model or as a file, its scored evaluation (cached), and what the KPI store holds for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import cast

from django.core.cache import cache
from django.db import connection
from django.db.models import Max, Prefetch, Q, QuerySet

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.accounts.scope import Actor, restrict, visible_department_ids
from crm_scorecard.errors import NotFound
from crm_scorecard.metrics.definitions import registry as load_registry
from crm_scorecard.metrics.models import FillRun, Grain, KpiValue
from crm_scorecard.periods import Period, month_index, month_of, shift_months

from . import analysis, files, mapping, scoring
from .models import Goal, Indicator, ManualValue, Scorecard

CACHE_SECONDS = 3600  # entries are keyed by version; the timeout only bounds memory use
# The shape of a cached `Evaluation` and of scoring's classes in it; part of the key, so an
# upgrade that changes them never reads an entry pickled by the previous release.
EVALUATION_SHAPE = 2  # 2: scoring.Scorecard.goal_links


def scorecards_visible(*, user: Actor) -> QuerySet[Scorecard]:
    return restrict(Scorecard.objects.select_related("department"), user=user)


def scorecard_get(*, user: Actor, pk: int) -> Scorecard:
    """A scorecard the user may see; any other answers 404, like one that does not exist."""
    found = scorecards_visible(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound("No such scorecard.")
    return found


def can_edit(*, user: Actor, scorecard: Scorecard) -> bool:
    """Managers edit the scorecards of their departments and sub-departments."""
    if not isinstance(user, User) or user.level != Level.MANAGER:
        return False
    ids = visible_department_ids(user=user)
    return ids is None or scorecard.department_id in ids


def goal_get(*, user: Actor, pk: int) -> Goal:
    found = (
        Goal.objects.select_related("perspective__scorecard__department")
        .filter(pk=pk, perspective__scorecard__in=scorecards_visible(user=user))
        .first()
    )
    if found is None:
        raise NotFound("No such goal.")
    return found


def indicator_get(*, user: Actor, pk: int) -> Indicator:
    found = (
        Indicator.objects.select_related("goal__perspective__scorecard__department")
        .filter(pk=pk, goal__perspective__scorecard__in=scorecards_visible(user=user))
        .first()
    )
    if found is None:
        raise NotFound("No such indicator.")
    return found


def kpi_version() -> str:
    """Which KPI values are stored: the newest value's id and the latest fill run's state.
    It changes whenever values are written (by `compute`, in fill runs), so cached
    evaluations built on older values are not used again. One query of three index
    lookups; the finish time is only compared, never read as a date."""
    values, runs = (connection.ops.quote_name(t._meta.db_table) for t in (KpiValue, FillRun))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {values}), (SELECT MAX(id) FROM {runs}),"
            f" (SELECT finished_at FROM {runs} ORDER BY id DESC LIMIT 1)"
        )
        newest, run, finished = cursor.fetchone()
    return f"{newest}-{run}-{finished}".replace(" ", "T")  # a cache key has no spaces


def latest_period(*, version: str | None = None) -> Period:
    """The month pages open on: the latest complete month with stored KPI values (the
    current month is still filling up), or the current month when nothing is computed yet."""
    today = date.today()
    key = f"latest-period:{version or kpi_version()}:{today}"
    cached = cache.get(key)
    if cached is not None:
        return cast(Period, cached)
    top = KpiValue.objects.filter(grain=Grain.MONTH).aggregate(top=Max("period_start"))["top"]
    current = month_of(today)
    found = (
        current if top is None else min(month_of(top), shift_months(current, -1), key=month_index)
    )
    cache.set(key, found, timeout=CACHE_SECONDS)
    return found


@dataclass
class Evaluation:
    """A scorecard scored for a period, with the previous period and each indicator's history."""

    scorecard: Scorecard
    card: scoring.Scorecard
    period: Period
    result: scoring.Result
    previous: scoring.Result
    history: dict[str, list[tuple[Period, float | None]]] = field(default_factory=dict)
    previous_scores: dict[str, float | None] = field(default_factory=dict)
    version: str = ""  # the KPI values it was scored from (`kpi_version()`)
    key: str = ""  # its cache key: names exactly what it was computed from

    @property
    def change(self) -> float | None:
        if self.result.score is None or self.previous.score is None:
            return None
        return self.result.score - self.previous.score


def evaluation_key(
    *,
    scorecard: Scorecard,
    period: Period | None = None,
    months: int = 12,
    version: str | None = None,
) -> tuple[str, Period, str]:
    """What `evaluation` is cached under, with the period and the KPI version that key
    names: what a page cached on top of an evaluation is keyed by, without loading it."""
    version = version or kpi_version()
    period = period or latest_period(version=version)
    key = (
        f"evaluation:v{EVALUATION_SHAPE}:{scorecard.pk}:{scorecard.updated_at.timestamp()}:{version}:"
        f"{date.today()}:{period}:{months}"
    )
    return key, period, version


def evaluation(
    *,
    scorecard: Scorecard,
    period: Period | None = None,
    months: int = 12,
    version: str | None = None,
) -> Evaluation:
    """The scorecard scored for `period` (default: `latest_period()`), served from the cache
    while neither the scorecard (see `signals`), the KPI values nor the day has changed.
    A page showing several scorecards passes the `kpi_version()` it read once."""
    key, period, version = evaluation_key(
        scorecard=scorecard, period=period, months=months, version=version
    )
    cached = cache.get(key)
    if cached is not None:
        cached.scorecard = scorecard
        return cast(Evaluation, cached)
    found = _evaluate(scorecard=scorecard, period=period, months=months)
    found.version, found.key = version, key
    cache.set(key, found, timeout=CACHE_SECONDS)
    return found


def _evaluate(*, scorecard: Scorecard, period: Period, months: int) -> Evaluation:
    card = scorecard_scoring(scorecard)
    result = scoring.evaluate(card, period=period)
    previous = scoring.evaluate(card, period=shift_months(period, -1))
    history: dict[str, list[tuple[Period, float | None]]] = {}
    for node in result.walk():
        if node.indicator is not None:
            values = node.indicator.values
            history[node.key] = [
                (p, values.get(p))
                for p in (shift_months(period, -i) for i in range(months - 1, -1, -1))
            ]
    previous_scores = {f"{n.kind}:{n.key}": n.score for n in previous.walk()}
    return Evaluation(scorecard, card, period, result, previous, history, previous_scores)


def fix_first(ev: Evaluation) -> list[analysis.Priority]:
    return analysis.fix_first(ev.result)


def indicator_slices() -> tuple[set[str], set[tuple[str, str, str]]]:
    """What the KPI store must hold beyond each department's overall numbers for every
    stored scorecard to read its indicators: company-wide breakdowns (dimensions) and
    breakdowns within one department ((metric, department name, dimension))."""
    company: set[str] = set()
    within: set[tuple[str, str, str]] = set()
    rows = (
        Indicator.objects.exclude(metric="")
        .exclude(filter_dimension__in=["", "department"])
        .filter(cascaded_from__isnull=True)
        .values_list(
            "metric", "scope", "filter_dimension", "goal__perspective__scorecard__department__name"
        )
    )
    for metric, scope, dimension, department in rows:
        if scope == Indicator.Scope.COMPANY:
            company.add(dimension)
        else:
            within.add((metric, department, dimension))
    return company, within


def indicator_filters(*, indicator: Indicator) -> dict[str, str]:
    """The filters that make a live computation of an indicator's metric read what the
    indicator shows: its department's subtree (or the whole company) and its own filter.
    A cascaded indicator reads its source's."""
    source = indicator.cascaded_from or indicator
    filters: dict[str, str] = {}
    if source.scope != Indicator.Scope.COMPANY:
        filters["department"] = source.goal.perspective.scorecard.department.name
    if source.filter_dimension:
        filters[source.filter_dimension] = source.filter_value
    return filters


# ---- a stored scorecard as the scoring model and as a file ---------------------------------------


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
    return mapping.stored_to_file(scorecard_tree(scorecard))


def metric_units() -> dict[str, str]:
    """Each metric's unit (see metrics.units.Unit), for indicators that name none."""
    return {m.key: m.unit for m in load_registry()}


def kpi_history(
    metric: str, filter_: dict[str, str] | None = None, *, department: Department | None = None
) -> dict[Period, float | None]:
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
    return {month_of(day): v for day, v in rows}


Slice = tuple[
    int | None, str, str
]  # department subtree (None: the whole company), dimension, value


def scorecard_scoring(scorecard: Scorecard) -> scoring.Scorecard:
    """The stored scorecard as the scoring model, with its values (manual or from the KPI
    store): one query for every metric-bound indicator's history, whatever their number."""
    card = scorecard_tree(scorecard)
    all_indicators = [
        i for p in card.perspectives.all() for g in p.goals.all() for i in g.indicators.all()
    ]
    department_ids = dict(Department.objects.values_list("name", "pk"))
    units = metric_units()

    def where(i: Indicator) -> Slice:
        """The slice of the KPI store an indicator reads. A cascaded indicator reads its
        source's."""
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

    metrics = {(i.cascaded_from or i).metric for i in all_indicators} - {""}
    stored = _kpi_slices(metrics=metrics, slices={where(i) for i in all_indicators})

    def history(i: Indicator) -> dict[Period, float | None]:
        source = i.cascaded_from or i
        if source.metric:
            return stored.get((source.metric, *where(i)), {})
        manual = (
            source.manual_values.all()
            if source is i
            else ManualValue.objects.filter(indicator=source)
        )
        return {month_of(v.period_start): v.value for v in manual}

    def indicator(i: Indicator) -> scoring.Indicator:
        definition = mapping.definition_of(i)
        definition["unit"] = i.unit or units.get(i.metric, "")
        return mapping.scoring_indicator(
            definition,
            values=history(i),
            targets=mapping.stored_targets(i),
            key=str(i.pk),
            scope=scope_label(i) if i.metric else "",
        )

    return mapping.stored_to_scoring(card, indicator=indicator)


def _kpi_slices(
    *, metrics: set[str], slices: set[Slice]
) -> dict[tuple[str, int | None, str, str], dict[Period, float | None]]:
    """The stored monthly values of `metrics` in each slice, in one query."""
    found: dict[tuple[str, int | None, str, str], dict[Period, float | None]] = {}
    if not metrics or not slices:
        return found
    where = Q()
    for department, dimension, value in slices:
        where |= (
            Q(department=department, dimension=dimension, dimension_value=value)
            if department is not None
            else Q(department__isnull=True, dimension=dimension, dimension_value=value)
        )
    rows = KpiValue.objects.filter(where, metric__in=metrics, grain=Grain.MONTH).values_list(
        "metric", "department", "dimension", "dimension_value", "period_start", "value"
    )
    for metric, department, dimension, value, day, number in rows:
        found.setdefault((metric, department, dimension, value), {})[month_of(day)] = number
    return found
