"""Customer value: each fit of the BG/NBD and Gamma-Gamma models (its parameters, the data
it saw and how it did on a holdout period), and the current fit's prediction per customer."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from crm_scorecard.crm.models import Customer


class ValueBand(models.TextChoices):
    """Where a customer stands by expected value (see README, "Customer value"): "at risk"
    when probably gone although they spent much, else high, medium or low by the quantile of
    their expected value among the fitted customers."""

    HIGH = "high", "High value"
    MEDIUM = "medium", "Medium value"
    LOW = "low", "Low value"
    AT_RISK = "at_risk", "At risk"


class ValueFit(models.Model):
    """One fit of the models on the purchases up to `calibration_end`: the parameters, how
    many customers it saw, the settings its predictions used and, when there were purchases
    after `calibration_end`, predicted against actual repeat purchases in that holdout."""

    fitted_at = models.DateTimeField(default=timezone.now)
    calibration_end = models.DateField(help_text="Purchases up to this day (included) were fitted.")
    data_end = models.DateField(help_text="The last purchase day in the data.")
    horizon_weeks = models.PositiveIntegerField(help_text="Weeks the expected value covers.")
    annual_discount_rate = models.FloatField()
    at_risk_below = models.FloatField(
        help_text="A big spender whose p_alive is below this is at risk."
    )
    r = models.FloatField()
    alpha = models.FloatField()
    a = models.FloatField()
    b = models.FloatField()
    p = models.FloatField()
    q = models.FloatField()
    v = models.FloatField()
    customers = models.PositiveIntegerField()
    repeat_customers = models.PositiveIntegerField()
    seconds = models.FloatField(help_text="How long the two fits took.")
    holdout = models.JSONField(
        null=True, blank=True, help_text="Empty when no purchases follow the calibration end."
    )

    class Meta:
        ordering = ["-fitted_at", "-id"]

    def __str__(self) -> str:
        return f"fit {self.pk} to {self.calibration_end}"


class CustomerValue(models.Model):
    """What the current fit says about one customer: how they bought up to the calibration
    end (frequency, recency, age, mean spend, revenue), the probability they are still a
    customer, the purchases expected over the horizon and their discounted value, and the
    band that sums it up. A new fit replaces every row."""

    fit = models.ForeignKey(ValueFit, on_delete=models.CASCADE, related_name="predictions")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="value")
    frequency = models.PositiveIntegerField(help_text="Repeat purchase days.")
    recency_weeks = models.FloatField(help_text="First to last purchase day, in weeks.")
    age_weeks = models.FloatField(help_text="First purchase day to the calibration end, in weeks.")
    mean_spend = models.FloatField(
        null=True, blank=True, help_text="Mean amount of the repeat purchase days; empty without."
    )
    historic_value = models.FloatField(help_text="Revenue up to the calibration end.")
    p_alive = models.FloatField()
    expected_purchases = models.FloatField(help_text="Purchase days expected over the horizon.")
    expected_spend = models.FloatField(help_text="Expected amount of a purchase day.")
    expected_value = models.FloatField(help_text="Discounted expected revenue over the horizon.")
    value_band = models.CharField(max_length=16, choices=ValueBand.choices)

    class Meta:
        indexes = [models.Index(fields=["value_band"])]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.value_band}"
