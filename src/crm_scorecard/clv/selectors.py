"""Reads of customer value. The customer is one the caller has already read through the
CRM's scoped selectors (the customer 360), so its value follows the same scope."""

from __future__ import annotations

from django.db.models import Count

from crm_scorecard.crm.models import Customer

from .models import CustomerValue, ValueFit


def customer_value(*, customer: Customer) -> CustomerValue | None:
    """The current fit's prediction for `customer`; None when it has none (no fit yet, or
    no purchase when the models were fitted)."""
    return CustomerValue.objects.select_related("fit").filter(customer=customer).first()


def fit_latest() -> ValueFit | None:
    """The fit whose predictions are stored; None before the first."""
    return ValueFit.objects.filter(predictions__isnull=False).distinct().first()


def band_counts(*, fit: ValueFit) -> dict[str, int]:
    """How many customers each band holds in `fit`."""
    rows = fit.predictions.values("value_band").annotate(n=Count("id")).order_by("value_band")
    return {r["value_band"]: r["n"] for r in rows}
