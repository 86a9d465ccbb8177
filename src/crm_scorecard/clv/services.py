"""Fit the customer value models on the CRM's orders and store what they predict.

Conventions (the README's "Customer value" says the same): a purchase is a customer's day
with at least one order (orders on the same day merge, their amounts add up); frequency
`x` is the number of repeat purchase days (all but the first); recency `t_x` and age `T`
are weeks from the first purchase day to the last one and to the calibration end; spend `m`
is the mean amount of the repeat purchase days. The models are fitted on the days up to the
calibration end; each customer's prediction then reads their whole history up to the last
day in the data, with the fitted parameters."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import DecimalField, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from crm_scorecard.crm.changes import tables_touch
from crm_scorecard.crm.models import Order
from crm_scorecard.errors import Invalid

from . import estimation
from .models import CustomerValue, ValueBand, ValueFit

MIN_CUSTOMERS = 20  # fewer and four parameters are guesses
MIN_REPEAT_CUSTOMERS = 10  # the spend model is fitted on repeat buyers alone
DEFAULT_HORIZON_WEEKS = 52
DEFAULT_ANNUAL_DISCOUNT_RATE = 0.10
# Value bands: by quantile of expected value among fitted customers; "at risk" overrides.
HIGH_QUANTILE = 0.80
MEDIUM_QUANTILE = 0.50
AT_RISK_P_ALIVE = 0.50  # below this a customer has probably left ...
AT_RISK_HISTORIC_QUANTILE = 0.80  # ... and matters when their revenue so far is in the top 20%
HOLDOUT_GROUPS = 8  # customers grouped by calibration frequency 0, 1, ..., 6, 7+ (the paper's)


@dataclass(frozen=True)
class Summary:
    """Per customer (by id): x, t_x and T in weeks, mean repeat spend m (NaN without repeat
    days) and revenue, as of `as_of`."""

    customer: np.ndarray
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray
    revenue: np.ndarray


def purchase_days() -> pd.DataFrame:
    """Every customer's purchase days with the day's amount: (customer, day, amount)."""
    rows = (
        Order.objects.order_by()
        .annotate(day=TruncDate("ordered_at"))
        .values("customer_id", "day")
        .annotate(
            amount=Coalesce(
                Sum("lines__amount"),
                Value(0),
                output_field=DecimalField(max_digits=16, decimal_places=2),
            )
        )
        .values_list("customer_id", "day", "amount")
    )
    frame = pd.DataFrame(list(rows), columns=["customer", "day", "amount"])
    frame["day"] = pd.to_datetime(frame["day"])
    frame["amount"] = frame["amount"].astype("float64")
    return frame


def summarise(days: pd.DataFrame, as_of: date) -> Summary:
    """The customers who bought on or before `as_of`, summarised from those days."""
    cutoff = pd.Timestamp(as_of)
    d = days[days["day"] <= cutoff]
    g = d.groupby("customer", sort=True)
    first = g["day"].min()
    last = g["day"].max()
    count = g.size()
    revenue = g["amount"].sum()
    d = d.join(first.rename("first"), on="customer")
    repeat = d[d["day"] > d["first"]].groupby("customer")["amount"].mean()
    week = np.timedelta64(7, "D")
    return Summary(
        customer=first.index.to_numpy(),
        x=(count - 1).to_numpy(dtype=np.float64),
        t_x=((last - first) / week).to_numpy(dtype=np.float64),
        T=((cutoff - first) / week).to_numpy(dtype=np.float64),
        m=repeat.reindex(first.index).to_numpy(dtype=np.float64),
        revenue=revenue.to_numpy(dtype=np.float64),
    )


@dataclass(frozen=True)
class Fitted:
    bgnbd: estimation.BgNbd
    gamma_gamma: estimation.GammaGamma
    customers: int
    repeat_customers: int
    seconds: float


class FitFailed(Invalid):
    """A fit did not converge, on enough customers to fit: for the command a bad input like
    any other, for the nightly run a failure (not a step skipped for want of data)."""


def models_fit(s: Summary) -> Fitted:
    """Both models fitted on a summary; Invalid when there is too little to fit or a fit
    does not converge."""
    customers, repeat = len(s.x), int(np.sum(s.x > 0))
    if customers < MIN_CUSTOMERS:
        raise Invalid(
            f"too few customers to fit the value models: {customers} bought by the "
            f"calibration end, at least {MIN_CUSTOMERS} are needed"
        )
    if repeat < MIN_REPEAT_CUSTOMERS:
        raise Invalid(
            f"too few repeat buyers to fit the value models: {repeat} of {customers} "
            f"customers bought on more than one day by the calibration end, at least "
            f"{MIN_REPEAT_CUSTOMERS} are needed"
        )
    started = time.perf_counter()
    try:
        bgnbd = estimation.bgnbd_fit(s.x, s.t_x, s.T)
        gg = estimation.gamma_gamma_fit(s.x, s.m)
    except estimation.FitError as exc:
        raise FitFailed(str(exc)) from None
    return Fitted(bgnbd, gg, customers, repeat, time.perf_counter() - started)


def holdout_check(
    days: pd.DataFrame,
    calibration: Summary,
    model: estimation.BgNbd,
    calibration_end: date,
    data_end: date,
) -> dict[str, Any] | None:
    """Predicted against actual repeat purchase days after the calibration end, for the
    calibration customers grouped by their calibration frequency (0, 1, ..., 7+): mean per
    customer in each group, and the mean absolute error over the groups and over customers.
    None when no day follows the calibration end."""
    if data_end <= calibration_end:
        return None
    weeks = (pd.Timestamp(data_end) - pd.Timestamp(calibration_end)) / pd.Timedelta(days=7)
    later = days[days["day"] > pd.Timestamp(calibration_end)]
    actual = (
        later.groupby("customer")
        .size()
        .reindex(calibration.customer, fill_value=0)
        .to_numpy(dtype=np.float64)
    )
    predicted = estimation.expected_purchases(
        model, float(weeks), calibration.x, calibration.t_x, calibration.T
    )
    group = np.minimum(calibration.x, HOLDOUT_GROUPS - 1).astype(int)
    groups: list[dict[str, Any]] = []
    errors: list[float] = []
    for k in range(HOLDOUT_GROUPS):
        members = group == k
        if not members.any():
            continue
        groups.append(
            {
                "frequency": f"{k}+" if k == HOLDOUT_GROUPS - 1 else str(k),
                "customers": int(members.sum()),
                "predicted": round(float(predicted[members].mean()), 4),
                "actual": round(float(actual[members].mean()), 4),
            }
        )
        errors.append(abs(groups[-1]["predicted"] - groups[-1]["actual"]))
    return {
        "weeks": round(float(weeks), 4),
        "from": calibration_end.isoformat(),
        "to": data_end.isoformat(),
        "predicted_total": round(float(predicted.sum()), 2),
        "actual_total": int(actual.sum()),
        "groups": groups,
        "mae": round(float(np.mean(errors)), 4),
        "customer_mae": round(float(np.mean(np.abs(predicted - actual))), 4),
    }


def value_bands(
    expected: np.ndarray,
    p_alive: np.ndarray,
    historic: np.ndarray,
    at_risk_below: float = AT_RISK_P_ALIVE,
) -> np.ndarray:
    """Each customer's band: at risk when p_alive < `at_risk_below` (0.5) and their revenue
    so far is in the top 20%; otherwise high (expected value in the top 20%), medium (top
    50%) or low."""
    high, medium = np.quantile(expected, [HIGH_QUANTILE, MEDIUM_QUANTILE])
    big_spender = historic >= np.quantile(historic, AT_RISK_HISTORIC_QUANTILE)
    bands = np.where(
        expected >= high,
        ValueBand.HIGH,
        np.where(expected >= medium, ValueBand.MEDIUM, ValueBand.LOW),
    )
    return np.where((p_alive < at_risk_below) & big_spender, ValueBand.AT_RISK, bands)


def _as_date(value: Any) -> date:
    return pd.Timestamp(value).date()


@transaction.atomic
def customer_values_fit(
    *,
    calibration_end: date | None = None,
    horizon_weeks: int = DEFAULT_HORIZON_WEEKS,
    annual_discount_rate: float = DEFAULT_ANNUAL_DISCOUNT_RATE,
    at_risk_below: float = AT_RISK_P_ALIVE,
) -> ValueFit:
    """Fit BG/NBD and Gamma-Gamma on the purchase days up to `calibration_end` (default: the
    last day in the data), check them on the days after it, and store every customer's
    prediction over the next `horizon_weeks`, replacing the previous fit's; a big spender
    whose p_alive is below `at_risk_below` is at risk. Nothing is written when the data
    cannot be fitted."""
    if horizon_weeks < 1 or horizon_weeks > 520:
        raise Invalid(f"horizon: {horizon_weeks} weeks; give 1 to 520")
    if not 0 <= annual_discount_rate < 1:
        raise Invalid(
            f"annual discount rate: {annual_discount_rate}; give 0 to below 1 (0.1 is 10%)"
        )
    if not 0 < at_risk_below <= 1:
        raise Invalid(f"at risk below: {at_risk_below}; give a probability above 0, at most 1")
    days = purchase_days()
    if days.empty:
        raise Invalid("no orders to fit the value models on")
    data_end = _as_date(days["day"].max())
    first_day = _as_date(days["day"].min())
    cal_end = calibration_end or data_end
    if cal_end < first_day:
        raise Invalid(f"calibration end {cal_end} is before the first order ({first_day})")
    calibration = summarise(days, cal_end)
    fitted = models_fit(calibration)
    holdout = holdout_check(days, calibration, fitted.bgnbd, cal_end, data_end)

    now = summarise(days, data_end)
    alive = estimation.p_alive(fitted.bgnbd, now.x, now.t_x, now.T)
    purchases = estimation.expected_purchases(
        fitted.bgnbd, float(horizon_weeks), now.x, now.t_x, now.T
    )
    spend = estimation.expected_spend(fitted.gamma_gamma, now.x, now.m)
    value = estimation.expected_value(
        fitted.bgnbd,
        spend,
        horizon_weeks=horizon_weeks,
        annual_rate=annual_discount_rate,
        x=now.x,
        t_x=now.t_x,
        T=now.T,
    )
    if not (np.all(np.isfinite(alive)) and np.all(np.isfinite(value))):
        raise Invalid("the fitted models give no finite prediction for some customers")
    bands = value_bands(value, alive, now.revenue, at_risk_below)

    b, g = fitted.bgnbd, fitted.gamma_gamma
    fit = ValueFit(
        calibration_end=cal_end,
        data_end=data_end,
        horizon_weeks=horizon_weeks,
        annual_discount_rate=annual_discount_rate,
        at_risk_below=at_risk_below,
        r=b.r,
        alpha=b.alpha,
        a=b.a,
        b=b.b,
        p=g.p,
        q=g.q,
        v=g.v,
        customers=fitted.customers,
        repeat_customers=fitted.repeat_customers,
        seconds=fitted.seconds,
        holdout=holdout,
    )
    fit.full_clean()
    fit.save()
    CustomerValue.objects.all().delete()
    CustomerValue.objects.bulk_create(
        (
            CustomerValue(
                fit=fit,
                customer_id=int(now.customer[i]),
                frequency=int(now.x[i]),
                recency_weeks=float(now.t_x[i]),
                age_weeks=float(now.T[i]),
                mean_spend=None if np.isnan(now.m[i]) else float(now.m[i]),
                historic_value=float(now.revenue[i]),
                p_alive=float(alive[i]),
                expected_purchases=float(purchases[i]),
                expected_spend=float(spend[i]),
                expected_value=float(value[i]),
                value_band=str(bands[i]),
            )
            for i in range(len(now.customer))
        ),
        batch_size=5000,
    )
    tables_touch(ValueFit, CustomerValue)
    return fit


def fit_summary(fit: ValueFit) -> dict[str, Any]:
    """What `customers value --json` prints about a fit."""
    return {
        "fit": fit.pk,
        "calibration_end": fit.calibration_end.isoformat(),
        "data_end": fit.data_end.isoformat(),
        "bg_nbd": {"r": fit.r, "alpha": fit.alpha, "a": fit.a, "b": fit.b},
        "gamma_gamma": {"p": fit.p, "q": fit.q, "v": fit.v},
        "customers": fit.customers,
        "repeat_customers": fit.repeat_customers,
        "horizon_weeks": fit.horizon_weeks,
        "annual_discount_rate": fit.annual_discount_rate,
        "at_risk_below": fit.at_risk_below,
        "seconds": round(fit.seconds, 3),
        "holdout": fit.holdout,
    }
