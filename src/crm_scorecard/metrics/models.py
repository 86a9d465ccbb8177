"""Stored KPI values, and a record of each computation that filled them.

`compute` (services.kpi_compute) stores one value per (metric, grain, period, department
subtree or the whole company, dimension value), replacing the computed range at once; the
scorecards, their pages and reports read these rows. Pages that chart a metric's own
breakdowns compute it live on the columnar mirror instead (services.metric_series)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from crm_scorecard.accounts.models import Department


class Grain(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"
    YEAR = "year", "Year"


class KpiValue(models.Model):
    """One KPI number: a metric for one period at one grain, for the whole company
    (`department` empty) or for one department's subtree (the department and every
    department below it, its ratios and medians worked out on the subtree's records),
    overall (dimension empty) or for one value of a dimension (e.g. region = North), also
    within one department when its scorecards ask for that breakdown. A null value means
    "no data", never 0. Written only by `compute`, which replaces a range in one
    transaction (`computed_at`: when)."""

    metric = models.CharField(max_length=80)
    grain = models.CharField(max_length=10, choices=Grain.choices)
    period_start = models.DateField()
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    dimension = models.CharField(max_length=40, blank=True, default="")
    dimension_value = models.CharField(max_length=200, blank=True, default="")
    value = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "grain", "period_start", "dimension", "dimension_value"],
                condition=Q(department__isnull=True),
                name="kpi_value_unique_company",
            ),
            models.UniqueConstraint(
                fields=[
                    "metric",
                    "grain",
                    "period_start",
                    "department",
                    "dimension",
                    "dimension_value",
                ],
                condition=Q(department__isnull=False),
                name="kpi_value_unique_department",
            ),
        ]
        indexes = [
            models.Index(fields=["metric", "grain", "department", "dimension", "period_start"])
        ]

    def __str__(self) -> str:
        scope = f" [{self.department}]" if self.department_id else ""
        where = f" {self.dimension}={self.dimension_value}" if self.dimension else ""
        return f"{self.metric} {self.grain} {self.period_start}{scope}{where}: {self.value}"


class FillRun(models.Model):
    """A record of one computation: what was computed, for which range, when, how long."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    grain = models.CharField(max_length=10, choices=Grain.choices)
    since = models.DateField(null=True, blank=True)
    until = models.DateField(null=True, blank=True)
    metrics = models.JSONField(default=list)
    rows_written = models.PositiveIntegerField(default=0)
    engine = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"fill {self.started_at:%Y-%m-%d %H:%M} {self.grain} ({self.rows_written} values)"
