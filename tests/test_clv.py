"""Customer value: the BG/NBD and Gamma-Gamma fits against the published CDNOW figures,
their gradients and predictions, the conventions that summarise orders, the stored fit and
predictions, the `customers value` command and the customer 360's badges."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from scipy import optimize

from crm_scorecard.clv import estimation, services
from crm_scorecard.clv.models import CustomerValue, ValueBand, ValueFit
from crm_scorecard.crm import models as m
from crm_scorecard.errors import Invalid
from crm_scorecard.web.templatetags.numbers import value_text

from .factories import CustomerFactory

CDNOW = Path(__file__).parent / "data" / "CDNOW_sample.txt"
CDNOW_CALIBRATION_END = date(1997, 9, 30)  # 39 weeks from 1997-01-01
CDNOW_END = date(1998, 6, 30)


@pytest.fixture(scope="module")
def cdnow_days() -> pd.DataFrame:
    raw = pd.read_csv(
        CDNOW, sep=r"\s+", header=None, names=["master", "customer", "day", "cds", "amount"]
    )
    raw["day"] = pd.to_datetime(raw["day"].astype(str), format="%Y%m%d")
    # Same-day purchases merge, as services.purchase_days does in the database.
    return raw.groupby(["customer", "day"], as_index=False)["amount"].sum()


@pytest.fixture(scope="module")
def cdnow(cdnow_days) -> services.Summary:
    return services.summarise(cdnow_days, CDNOW_CALIBRATION_END)


# ---- the published figures --------------------------------------------------------------------


def test_bgnbd_reproduces_the_papers_cdnow_parameters(cdnow):
    # Given the CDNOW sample's 2,357 customers summarised over the 39-week calibration period
    assert len(cdnow.x) == 2357
    # When the BG/NBD model is fitted by maximum likelihood
    fit = estimation.bgnbd_fit(cdnow.x, cdnow.t_x, cdnow.T)
    # Then the parameters are the paper's (Fader, Hardie and Lee 2005, table 1) to 1%,
    # and so is the log-likelihood (-9582.4)
    assert fit.r == pytest.approx(0.243, rel=0.01)
    assert fit.alpha == pytest.approx(4.414, rel=0.01)
    assert fit.a == pytest.approx(0.793, rel=0.01)
    assert fit.b == pytest.approx(2.426, rel=0.01)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_gamma_gamma_reproduces_the_published_cdnow_parameters(cdnow):
    # Given the 946 CDNOW customers with repeat purchases in the calibration period and the
    # mean amount of their repeat purchase days
    assert int(np.sum(cdnow.x > 0)) == 946
    # When the Gamma-Gamma model is fitted
    fit = estimation.gamma_gamma_fit(cdnow.x, cdnow.m)
    # Then p, q and v are the published 6.25, 3.74 and 15.44 to 1%
    assert fit.p == pytest.approx(6.25, rel=0.01)
    assert fit.q == pytest.approx(3.74, rel=0.01)
    assert fit.v == pytest.approx(15.44, rel=0.01)


def test_holdout_check_on_cdnow_matches_the_papers_conditional_expectations(cdnow_days, cdnow):
    # Given the BG/NBD fit on the calibration period
    fit = estimation.bgnbd_fit(cdnow.x, cdnow.t_x, cdnow.T)
    # When predicted and actual repeat purchases in the 39 holdout weeks are compared by
    # calibration frequency
    check = services.holdout_check(cdnow_days, cdnow, fit, CDNOW_CALIBRATION_END, CDNOW_END)
    # Then the groups are 0..6 and 7+ (the paper's conditional expectations plot), the
    # actual means are the data's, and the predictions follow them, below in every group
    # (equation 10 with the fitted parameters, worked out once and held here)
    assert check is not None
    assert check["weeks"] == 39.0
    assert [g["frequency"] for g in check["groups"]] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert [g["customers"] for g in check["groups"]] == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert [round(g["actual"], 2) for g in check["groups"]] == [
        0.24, 0.70, 1.39, 1.56, 2.53, 2.95, 3.86, 6.36,
    ]  # fmt: skip
    assert [round(g["predicted"], 2) for g in check["groups"]] == [
        0.23, 0.52, 1.04, 1.52, 2.16, 2.65, 3.50, 6.16,
    ]  # fmt: skip
    assert check["actual_total"] == 1882
    # the mean absolute error is the mean of the groups' |predicted - actual|
    expected_mae = np.mean([abs(g["predicted"] - g["actual"]) for g in check["groups"]])
    assert check["mae"] == pytest.approx(expected_mae, abs=1e-4)
    assert 0.2 < check["mae"] < 0.3


# ---- the likelihoods and predictions -----------------------------------------------------------


def test_analytic_gradients_match_finite_differences(cdnow):
    # Given the two negative log-likelihoods as the optimiser sees them (over log-parameters)
    captured = {}

    def capture(name, objective, start):
        captured[name] = objective
        return start

    original = estimation._minimise
    estimation._minimise = capture
    try:
        estimation.bgnbd_fit(cdnow.x, cdnow.t_x, cdnow.T)
        estimation.gamma_gamma_fit(cdnow.x, np.where(cdnow.x > 0, cdnow.m, np.nan))
    except estimation.FitError:
        pass
    finally:
        estimation._minimise = original
    # When each gradient is compared with finite differences at an arbitrary point
    for name, point in (
        ("BG/NBD", np.log([0.5, 3.0, 1.2, 2.0])),
        ("Gamma-Gamma", np.log([4.0, 3.0, 10.0])),
    ):
        objective = captured[name]
        error = optimize.check_grad(
            lambda t, f=objective: f(t)[0], lambda t, f=objective: f(t)[1], point
        )
        # Then they agree
        assert error < 1e-5, name


def test_predictions_follow_the_papers_formulas_by_hand():
    # Given a model and a customer with 2 repeat days, the last at week 10, age 20 weeks
    model = estimation.BgNbd(r=0.25, alpha=4.0, a=0.8, b=2.5, log_likelihood=0.0)
    x, t_x, T = np.array([2.0, 0.0]), np.array([10.0, 0.0]), np.array([20.0, 5.0])
    # When p_alive is computed
    alive = estimation.p_alive(model, x, t_x, T)
    # Then it is 1 / (1 + a/(b+x-1) ((α+T)/(α+t_x))^(r+x)) for a repeat buyer, 1 without
    by_hand = 1 / (1 + 0.8 / 3.5 * (24 / 14) ** 2.25)
    assert alive[0] == pytest.approx(by_hand, rel=1e-12)
    assert alive[1] == 1.0
    # and expected purchases grow with the horizon and start at 0
    e4, e8 = (estimation.expected_purchases(model, t, x, t_x, T) for t in (4.0, 8.0))
    assert np.all(e8 > e4) and np.all(e4 > 0)
    assert np.all(estimation.expected_purchases(model, 0.0, x, t_x, T) == 0)


def test_expected_spend_and_discounted_value():
    # Given a spend model and a repeat buyer (x 2, m 50) and a one-time buyer
    gg = estimation.GammaGamma(p=6.0, q=4.0, v=15.0, log_likelihood=0.0)
    x, m = np.array([2.0, 0.0]), np.array([50.0, np.nan])
    # When their expected spend is computed
    spend = estimation.expected_spend(gg, x, m)
    # Then it weighs the population mean pv/(q-1) = 30 against their own mean by px/(px+q-1)
    assert spend[0] == pytest.approx((3 / 15) * 30 + (12 / 15) * 50)
    assert spend[1] == pytest.approx(30.0)
    # And the value over 2 weeks at 0% is expected purchases x spend; discounting lowers it
    model = estimation.BgNbd(r=0.25, alpha=4.0, a=0.8, b=2.5, log_likelihood=0.0)
    t_x, T = np.array([10.0, 0.0]), np.array([20.0, 5.0])
    plain = estimation.expected_value(
        model, spend, horizon_weeks=2, annual_rate=0.0, x=x, t_x=t_x, T=T
    )
    assert plain == pytest.approx(estimation.expected_purchases(model, 2.0, x, t_x, T) * spend)
    week1 = estimation.expected_purchases(model, 1.0, x, t_x, T)
    week2 = estimation.expected_purchases(model, 2.0, x, t_x, T) - week1
    d = 1.1 ** (1 / 52) - 1
    discounted = estimation.expected_value(
        model, spend, horizon_weeks=2, annual_rate=0.1, x=x, t_x=t_x, T=T
    )
    assert discounted == pytest.approx((week1 / (1 + d) + week2 / (1 + d) ** 2) * spend)


def test_fit_recovers_the_parameters_of_simulated_customers():
    # Given 20,000 customers drawn from known BG/NBD and Gamma-Gamma parameters
    x, t_x, T = estimation.simulate(20_000, r=0.5, alpha=6.0, a=0.7, b=3.0, T_max=52, seed=3)
    m = estimation.simulate_spend(x, p=5.0, q=4.0, v=20.0, seed=3)
    # When both are fitted
    fit = estimation.bgnbd_fit(x, t_x, T)
    gg = estimation.gamma_gamma_fit(x, m)
    # Then the parameters come back within sampling error
    assert fit.r == pytest.approx(0.5, rel=0.1)
    assert fit.alpha == pytest.approx(6.0, rel=0.15)
    assert fit.a == pytest.approx(0.7, rel=0.2)
    assert fit.b == pytest.approx(3.0, rel=0.3)
    assert gg.p == pytest.approx(5.0, rel=0.15)
    assert gg.q == pytest.approx(4.0, rel=0.15)
    assert gg.v == pytest.approx(20.0, rel=0.2)


def test_a_fit_that_runs_off_to_a_bound_is_an_error_not_numbers():
    # Given customers who all bought exactly once, on the same day (no spread at all)
    x, t_x, T = np.zeros(50), np.zeros(50), np.full(50, 10.0)
    # When the BG/NBD is fitted, then it says it did not converge instead of inventing values
    with pytest.raises(estimation.FitError, match="BG/NBD fit did not converge"):
        estimation.bgnbd_fit(x, t_x, T)
    with pytest.raises(estimation.FitError, match="no repeat buyers"):
        estimation.gamma_gamma_fit(x, np.full(50, np.nan))


# ---- conventions, storage and the command (database) -------------------------------------------


def _order(customer, day: date, *amounts: str, hour: int = 12) -> None:
    order = m.Order.objects.create(
        external_id=f"O-{customer.pk}-{m.Order.objects.count()}",
        customer=customer,
        ordered_at=datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
    )
    m.OrderLine.objects.bulk_create(
        m.OrderLine(order=order, line_no=i + 1, amount=Decimal(a)) for i, a in enumerate(amounts)
    )


@pytest.mark.django_db
def test_orders_are_summarised_by_purchase_day_in_weeks(org):
    # Given a customer with two orders on 5 Jan (10 + 20, and 5), one on 19 Jan (40) and two
    # on 2 Feb (25, 35), and one more on 1 Mar, after the calibration end
    c = CustomerFactory(department=org.sales)
    _order(c, date(2026, 1, 5), "10.00", "20.00", hour=9)
    _order(c, date(2026, 1, 5), "5.00", hour=18)
    _order(c, date(2026, 1, 19), "40.00")
    _order(c, date(2026, 2, 2), "25.00", hour=8)
    _order(c, date(2026, 2, 2), "35.00", hour=20)
    _order(c, date(2026, 3, 1), "99.00")
    # When the orders are summarised at 9 Feb
    s = services.summarise(services.purchase_days(), date(2026, 2, 9))
    # Then same-day orders merge: 2 repeat days, last 4 weeks after the first, age 5 weeks,
    # mean repeat day amount (40 + 60) / 2, revenue 35 + 40 + 60
    assert list(s.customer) == [c.pk]
    assert (s.x[0], s.t_x[0], s.T[0], s.m[0], s.revenue[0]) == (2, 4.0, 5.0, 50.0, 135.0)


def _simulated_shop(org, n: int = 200, seed: int = 1) -> None:
    """`n` customers of Sales buying over the two years to 2026-06-30 as the models say:
    purchases at a Poisson rate while alive, dropping out after a purchase, amounts Gamma
    around a customer's own mean."""
    rng = np.random.default_rng(seed)
    end = date(2026, 6, 30)
    customers = m.Customer.objects.bulk_create(
        m.Customer(external_id=f"S{i:04d}", full_name=f"Sim {i}", department=org.sales)
        for i in range(n)
    )
    orders, amounts = [], []
    for c in customers:
        rate, drop, nu = rng.gamma(0.8, 1 / 6.0), rng.beta(0.8, 2.5), rng.gamma(4.0, 1 / 20.0)
        weeks = rng.uniform(0, 100)  # the first purchase, in weeks before `end`
        first = end - timedelta(days=int(weeks * 7))
        at, days = 0.0, [first]
        while True:
            at += rng.exponential(1 / rate)
            if at * 7 >= int(weeks * 7):
                break
            days.append(first + timedelta(days=int(at * 7)))
            if rng.random() < drop:
                break
        for k, day in enumerate(days):
            orders.append(
                m.Order(
                    external_id=f"SO{c.pk}-{k}",
                    customer=c,
                    ordered_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                )
            )
            amounts.append(Decimal(f"{rng.gamma(5.0, 1 / nu):.2f}"))
    m.Order.objects.bulk_create(orders)
    m.OrderLine.objects.bulk_create(
        m.OrderLine(order=o, line_no=1, amount=a) for o, a in zip(orders, amounts, strict=True)
    )


@pytest.mark.django_db
def test_fit_stores_every_customers_prediction_and_bands(org):
    # Given a shop of 150 customers
    _simulated_shop(org)
    # When the models are fitted on the orders up to the end of 2025
    fit = services.customer_values_fit(calibration_end=date(2025, 12, 31), horizon_weeks=26)
    # Then the fit keeps its parameters and the holdout check of the first half of 2026
    assert fit.calibration_end == date(2025, 12, 31)
    assert fit.data_end <= date(2026, 6, 30)
    assert fit.r > 0 and fit.alpha > 0 and fit.p > 0 and fit.q > 1
    assert fit.holdout is not None and fit.holdout["groups"][0]["frequency"] == "0"
    assert fit.holdout["to"] == fit.data_end.isoformat()
    # and every customer who ever bought has one prediction of this fit
    values = list(CustomerValue.objects.all())
    assert len(values) == m.Customer.objects.filter(orders__isnull=False).distinct().count()
    assert {v.fit_id for v in values} == {fit.pk}
    for v in values:
        assert 0 < v.p_alive <= 1 and v.expected_purchases >= 0 and v.expected_value >= 0
        if v.frequency == 0:
            assert v.p_alive == 1.0 and v.mean_spend is None
    # and the bands: at risk means p_alive < 0.5 with revenue in the top 20%; high is the
    # top 20% of expected value among the rest
    historic = np.array([v.historic_value for v in values])
    expected = np.array([v.expected_value for v in values])
    top_spend, high = np.quantile(historic, 0.8), np.quantile(expected, 0.8)
    for v in values:
        if v.p_alive < 0.5 and v.historic_value >= top_spend:
            assert v.value_band == ValueBand.AT_RISK
        elif v.expected_value >= high:
            assert v.value_band == ValueBand.HIGH
        else:
            assert v.value_band in (ValueBand.MEDIUM, ValueBand.LOW)
    assert {v.value_band for v in values} >= {ValueBand.HIGH, ValueBand.LOW}


@pytest.mark.django_db
def test_a_new_fit_replaces_the_predictions(org):
    # Given a fit
    _simulated_shop(org)
    first = services.customer_values_fit()
    count = CustomerValue.objects.count()
    # When the models are fitted again
    second = services.customer_values_fit(horizon_weeks=10)
    # Then the predictions are the new fit's alone, one per customer; both fits are kept
    assert CustomerValue.objects.count() == count
    assert set(CustomerValue.objects.values_list("fit_id", flat=True)) == {second.pk}
    assert ValueFit.objects.count() == 2 and first.holdout is None


@pytest.mark.django_db
def test_too_few_customers_is_a_clear_error_and_writes_nothing(org):
    # Given 5 customers with orders
    for i in range(5):
        c = CustomerFactory(department=org.sales)
        _order(c, date(2026, 1, 1 + i), "10.00")
        _order(c, date(2026, 2, 1 + i), "10.00")
    # When the models are fitted, then it is refused, saying how many there are and need
    with pytest.raises(Invalid, match="too few customers to fit the value models: 5 bought"):
        services.customer_values_fit()
    # and nothing is written
    assert not ValueFit.objects.exists() and not CustomerValue.objects.exists()


@pytest.mark.django_db
def test_too_few_repeat_buyers_is_a_clear_error(org):
    # Given 30 customers of whom 3 bought twice
    for i in range(30):
        c = CustomerFactory(department=org.sales)
        _order(c, date(2026, 1, 1) + timedelta(days=i), "10.00")
        if i < 3:
            _order(c, date(2026, 3, 1) + timedelta(days=i), "10.00")
    # When fitted, then the refusal names the repeat buyers
    with pytest.raises(Invalid, match=r"too few repeat buyers.*: 3 of 30 customers"):
        services.customer_values_fit()


@pytest.mark.django_db
def test_command_prints_the_fit_as_json_and_stores_predictions(org):
    # Given a shop
    _simulated_shop(org)
    out = io.StringIO()
    # When `customers value --calibration-end 2025-12-31 --horizon-weeks 13 --json` runs
    call_command(
        "customers",
        "value",
        "--calibration-end",
        "2025-12-31",
        "--horizon-weeks",
        "13",
        "--json",
        stdout=out,
    )
    result = json.loads(out.getvalue())
    # Then it prints the parameters, the customers and the holdout check
    assert set(result["bg_nbd"]) == {"r", "alpha", "a", "b"}
    assert set(result["gamma_gamma"]) == {"p", "q", "v"}
    fit = ValueFit.objects.get()
    assert result["bg_nbd"]["r"] == fit.r and result["gamma_gamma"]["v"] == fit.v
    assert result["customers"] == fit.customers > 0
    assert result["horizon_weeks"] == 13
    assert {"groups", "mae", "predicted_total", "actual_total"} <= set(result["holdout"])
    assert sum(result["bands"].values()) == CustomerValue.objects.count()


@pytest.mark.django_db
def test_command_text_shows_the_holdout_table(org):
    _simulated_shop(org)
    out = io.StringIO()
    call_command("customers", "value", "--calibration-end", "2025-12-31", stdout=out)
    text = out.getvalue()
    assert "BG/NBD" in text and "Gamma-Gamma" in text
    assert "predicted against actual" in text and "7+" in text and "mean absolute error" in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no orders to fit the value models on"),
        (["--calibration-end", "2026-13-01"], "'2026-13-01' is not a date; use YYYY-MM-DD"),
        (["--horizon-weeks", "0"], "horizon: 0 weeks; give 1 to 520"),
    ],
)
def test_command_errors_are_clear(org, args, message):
    # Given no orders, when the command runs, then it stops with the reason
    with pytest.raises(CommandError, match=message):
        call_command("customers", "value", *args, stdout=io.StringIO())
    assert not ValueFit.objects.exists()


# ---- the customer 360 --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_360_shows_value_badges_with_their_numbers(client, org):
    # Given a fit, and a customer of Sales in each band
    _simulated_shop(org)
    services.customer_values_fit()
    high = CustomerValue.objects.filter(value_band=ValueBand.HIGH).select_related("customer")[0]
    client.force_login(org.sales_manager)
    # When a high-value customer's 360 is opened
    html = client.get(reverse("customer-detail", args=[high.customer.external_id])).content.decode()
    # Then it shows the badge, the probability still active and the expected value
    assert "High value" in html
    assert f"{high.p_alive:.0%} probability" in html
    assert value_text(high.expected_value, "currency") in html
    # And a customer the fit put at risk shows that badge instead
    low = CustomerValue.objects.filter(value_band=ValueBand.LOW).select_related("customer")[0]
    CustomerValue.objects.filter(pk=low.pk).update(value_band=ValueBand.AT_RISK)
    html = client.get(reverse("customer-detail", args=[low.customer.external_id])).content.decode()
    assert '<span class="pill value-at-risk">At risk</span>' in html
    assert "High value" not in html


@pytest.mark.django_db
def test_the_360_value_follows_the_360s_scope(client, org):
    # Given a fitted Sales customer
    _simulated_shop(org)
    services.customer_values_fit()
    value = CustomerValue.objects.select_related("customer").first()
    # When an agent of Customer Service opens their 360, then it is not found, as any
    # customer outside their departments
    client.force_login(org.service_agent)
    response = client.get(reverse("customer-detail", args=[value.customer.external_id]))
    assert response.status_code == 404
    assert (
        "value" not in response.content.decode().lower()
        or "High value" not in response.content.decode()
    )


@pytest.mark.django_db
def test_the_360_says_when_there_is_no_prediction(client, org):
    # Given a customer and no fit
    c = CustomerFactory(department=org.sales)
    client.force_login(org.sales_manager)
    # When the 360 is opened, then it says no value prediction, rather than a zero
    html = client.get(reverse("customer-detail", args=[c.external_id])).content.decode()
    assert "No value prediction" in html
