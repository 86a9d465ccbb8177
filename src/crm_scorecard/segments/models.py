"""Customer segments: each customer's RFM scores and named segment at a date, and the
segments people save to export for a campaign or to filter any metric by."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm_scorecard.accounts.models import Department
from crm_scorecard.crm.models import Customer


class RfmSegment(models.TextChoices):
    """The named RFM segments (README "Segments and cohorts": the R x F grid they come
    from), and the state of a customer with no purchase before the date."""

    CHAMPIONS = "champions", "Champions"
    LOYAL = "loyal", "Loyal"
    POTENTIAL_LOYALISTS = "potential_loyalists", "Potential loyalists"
    NEW = "new", "New customers"
    PROMISING = "promising", "Promising"
    NEED_ATTENTION = "need_attention", "Need attention"
    ABOUT_TO_SLEEP = "about_to_sleep", "About to sleep"
    AT_RISK = "at_risk", "At risk"
    CANT_LOSE = "cant_lose", "Can't lose them"
    HIBERNATING = "hibernating", "Hibernating"
    LOST = "lost", "Lost"
    NO_PURCHASES = "no_purchases", "No purchases"


class RfmScore(models.Model):
    """How recently, how often and for how much a customer bought up to a date (`as_of`),
    each scored 1-5 against the other buying customers (quintiles, 5 best), and the named
    segment those scores put them in. A customer with no purchase up to the date has no
    scores (never a score of 0) and the segment "no purchases". Written for every customer
    at once by `segments.services.rfm_refresh`; the rows of earlier dates stay, so moves
    between segments can be counted."""

    as_of = models.DateField()
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="rfm_scores")
    recency_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days from the last purchase to the date."
    )
    frequency = models.PositiveIntegerField(
        default=0, help_text="Days with a purchase, up to the date."
    )
    monetary = models.DecimalField(
        max_digits=16, decimal_places=2, default=0, help_text="Revenue up to the date."
    )
    r = models.PositiveSmallIntegerField(null=True, blank=True)
    f = models.PositiveSmallIntegerField(null=True, blank=True)
    m = models.PositiveSmallIntegerField(null=True, blank=True)
    segment = models.CharField(max_length=24, choices=RfmSegment.choices)

    class Meta:
        ordering = ["-as_of", "customer"]
        constraints = [
            models.UniqueConstraint(fields=["as_of", "customer"], name="rfm_one_per_date"),
            models.CheckConstraint(
                condition=(Q(r__isnull=True) & Q(f__isnull=True) & Q(m__isnull=True))
                | (Q(r__gte=1, r__lte=5) & Q(f__gte=1, f__lte=5) & Q(m__gte=1, m__lte=5)),
                name="rfm_scores_1_5_or_none",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "as_of"], name="rfm_customer_as_of"),
            models.Index(fields=["as_of", "segment"], name="rfm_as_of_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.as_of}: {self.segment}"


class SavedSegment(models.Model):
    """A group of customers someone named for a campaign: a filter on the customer's own
    fields (region, country, city, age bracket, segment, acquisition channel, department)
    and on their latest RFM segment. It can be exported as a list of customers and used as
    a filter of any metric (`--filter saved_segment=NAME`). It belongs to a department:
    who sees that department sees it, and its export holds only the customers they see."""

    name = models.CharField(max_length=80, unique=True)
    filters = models.JSONField(
        default=dict, help_text='{"field": "value", ...}: every condition must hold.'
    )
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="saved_segments"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CohortSnapshot(models.Model):
    """When the cohorts were last computed (`segments.services.cohorts_refresh`: nightly,
    by `crm-scorecard segments cohorts --refresh`, by the demo) and the months with orders
    on record then (company-wide: a cohort's months before `first_order` or after
    `last_order` are not seen). One row: a refresh replaces it and its cells in one
    transaction, so a reader sees the old cohorts or the new ones, never half."""

    computed_at = models.DateTimeField()
    first_order = models.DateField(
        null=True, blank=True, help_text="The month of the first order on record (its 1st)."
    )
    last_order = models.DateField(
        null=True, blank=True, help_text="The month of the last order on record (its 1st)."
    )

    class Meta:
        ordering = ["-computed_at", "-pk"]

    def __str__(self) -> str:
        return f"cohorts computed {self.computed_at:%Y-%m-%d %H:%M}"


class CohortCell(models.Model):
    """One department's customers acquired in one month (`cohort`; without an acquisition
    date, their first order's month; None: neither, left out of the view) and what they did
    `months_since` months later: how many bought then (`active`) and for how much
    (`revenue`). `customers` is the size of the department's cohort, the same on each of
    its cells; every cohort has its month 0 cell, so sizes are read there. Each customer
    belongs to one department, so a user's cohorts are these cells summed over the
    departments they see."""

    snapshot = models.ForeignKey(CohortSnapshot, on_delete=models.CASCADE, related_name="cells")
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="cohort_cells"
    )
    cohort = models.DateField(null=True, blank=True, help_text="The month acquired (its 1st).")
    months_since = models.PositiveSmallIntegerField()
    customers = models.PositiveIntegerField()
    active = models.PositiveIntegerField(help_text="Customers of the cohort who bought that month.")
    revenue = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        ordering = ["snapshot", "department", "cohort", "months_since"]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "department", "cohort", "months_since"],
                name="cohort_cell_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.cohort} +{self.months_since}"
