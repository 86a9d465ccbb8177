"""Balanced scorecards: a department's mission broken into perspectives, goals and
weighted indicators with targets, cause-and-effect links, and the initiatives that act on them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from crm_scorecard.accounts.models import Department

from .scoring import Optimization


class Scorecard(models.Model):
    """One department's balanced scorecard: its mission and how it measures it."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="scorecards")
    name = models.CharField(max_length=200)
    mission = models.TextField(blank=True)
    green = models.FloatField(default=0.8, help_text="Score at or above this is green.")
    yellow = models.FloatField(default=0.5, help_text="Score at or above this is yellow.")
    template = models.CharField(max_length=60, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The audit trail (scorecards.history): who changed what, when, old and new.
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["department__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "name"], name="scorecard_name_per_department"
            ),
            models.CheckConstraint(
                condition=Q(yellow__gte=0, green__lte=1, yellow__lte=F("green")),
                name="scorecard_thresholds_ordered",
                violation_error_message="Thresholds must satisfy 0 ≤ yellow ≤ green ≤ 1.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Perspective(models.Model):
    """A point of view on the mission: Financial, Customer, Internal process, Learning & growth."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="perspectives")
    name = models.CharField(max_length=200)
    weight = models.FloatField(default=1.0)
    position = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["scorecard", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gte=0),
                name="perspective_weight_not_negative",
                violation_error_message="A weight cannot be negative.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Goal(models.Model):
    """An objective within a perspective (e.g. "Keep customers"), possibly with sub-goals, or
    cascaded (linked) from a parent department's scorecard so its data is shared."""

    perspective = models.ForeignKey(Perspective, on_delete=models.CASCADE, related_name="goals")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="subgoals"
    )
    name = models.CharField(max_length=200)
    weight = models.FloatField(default=1.0)
    position = models.PositiveIntegerField(default=0)
    cascaded_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="cascades"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["perspective", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gte=0),
                name="goal_weight_not_negative",
                violation_error_message="A weight cannot be negative.",
            ),
            models.CheckConstraint(condition=~Q(parent=F("pk")), name="goal_not_own_parent"),
        ]

    def __str__(self) -> str:
        return self.name


class Indicator(models.Model):
    """A weighted measure of a goal with a target: bound to a metric (optionally filtered to
    one dimension value) or to values entered by people."""

    class Kind(models.TextChoices):
        LEADING = "leading", "Leading"
        LAGGING = "lagging", "Lagging"

    class Scope(models.TextChoices):
        DEPARTMENT = "department", "This department and its sub-departments"
        COMPANY = "company", "Whole company"

    class Interval(models.TextChoices):
        MONTH = "month", "Monthly"
        QUARTER = "quarter", "Quarterly"
        YEAR = "year", "Yearly"

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="indicators")
    name = models.CharField(max_length=200)
    metric = models.CharField(
        max_length=80, blank=True, help_text="Metric key; empty for manual values."
    )
    scope = models.CharField(
        max_length=12,
        choices=Scope.choices,
        default=Scope.DEPARTMENT,
        help_text="Whose numbers a metric indicator shows: the scorecard's department "
        "(with its sub-departments) or the whole company (executives only).",
    )
    filter_dimension = models.CharField(max_length=40, blank=True)
    filter_value = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=40, blank=True)
    owner = models.CharField(max_length=120, blank=True)
    optimization = models.CharField(
        max_length=10,
        choices=[(o.value, o.value.title()) for o in Optimization],
        default=Optimization.MAXIMIZE,
    )
    baseline = models.FloatField()
    target = models.FloatField()
    min = models.FloatField(null=True, blank=True)
    max = models.FloatField(null=True, blank=True)
    tolerance = models.FloatField(default=0.0)
    weight = models.FloatField(default=1.0)
    green = models.FloatField(null=True, blank=True)
    yellow = models.FloatField(null=True, blank=True)
    update_interval = models.CharField(
        max_length=10, choices=Interval.choices, default=Interval.MONTH
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LAGGING)
    position = models.PositiveIntegerField(default=0)
    cascaded_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="cascades"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["goal", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gte=0),
                name="indicator_weight_not_negative",
                violation_error_message="A weight cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(green__isnull=True, yellow__isnull=True)
                | Q(yellow__gte=0, green__lte=1, yellow__lte=F("green")),
                name="indicator_thresholds_ordered",
                violation_error_message="Give both thresholds (0 ≤ yellow ≤ green ≤ 1) or neither.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TargetPoint(models.Model):
    """A change of target from a period on (targets may rise over the year)."""

    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="target_points")
    period_start = models.DateField()
    target = models.FloatField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["indicator", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "period_start"], name="target_point_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.indicator} from {self.period_start}: {self.target}"


class ManualValue(models.Model):
    """A value entered by a person (or pushed by another system) for a manual indicator."""

    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="manual_values")
    period_start = models.DateField()
    value = models.FloatField()
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    entered_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["entered_at"])

    class Meta:
        ordering = ["indicator", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["indicator", "period_start"], name="manual_value_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.indicator} {self.period_start}: {self.value}"


class GoalLink(models.Model):
    """Cause and effect on the strategy map: reaching `cause` drives `effect`."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="links")
    cause = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="effects")
    effect = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="causes")
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cause", "effect"], name="goal_link_unique"),
            models.CheckConstraint(
                condition=~models.Q(cause=models.F("effect")), name="goal_link_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cause} → {self.effect}"


class Initiative(models.Model):
    """An action plan attached to a goal: who, from when, by when, with what budget."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        ACTIVE = "active", "In progress"
        DONE = "done", "Done"
        ON_HOLD = "on_hold", "On hold"
        CANCELLED = "cancelled", "Cancelled"

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="initiatives")
    name = models.CharField(max_length=200)
    owner = models.CharField(max_length=120, blank=True)
    start = models.DateField(null=True, blank=True)
    due = models.DateField(null=True, blank=True)
    budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PLANNED)
    history = HistoricalRecords()

    class Meta:
        ordering = ["goal", "due", "pk"]

    def __str__(self) -> str:
        return self.name


class IndicatorComment(models.Model):
    """A person's note on an indicator's value for a month ("dip due to the warehouse
    move"), shown on the indicator's chart and in the board pack. Anyone who can see the
    indicator may add one; only its author may delete it (the deletion is recorded)."""

    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="comments")
    period_start = models.DateField(help_text="The month the comment is about (its first day).")
    text = models.TextField(max_length=1000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["indicator", "period_start", "created_at", "pk"]
        indexes = [models.Index(fields=["indicator", "period_start"], name="comment_period")]

    def __str__(self) -> str:
        return f"{self.indicator} {self.period_start:%Y-%m}: {self.text[:40]}"
