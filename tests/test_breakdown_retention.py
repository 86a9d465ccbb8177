"""Retention read live for some months only (Request.span): a month's breakdown values are
those of the customers active the month before, as over the whole history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm_scorecard.accounts.models import Level
from crm_scorecard.crm import models as m
from crm_scorecard.metrics.live import live_forget
from crm_scorecard.metrics.mirror import mirror_sync
from crm_scorecard.metrics.services import metric_series

from .factories import CustomerFactory, DepartmentFactory, UserFactory


@pytest.mark.django_db(transaction=True)
def test_retention_by_region_for_a_month_names_the_regions_of_the_month_before(
    monkeypatch, tmp_path
):
    # Given c1 (North) buying in January and February, c2 (North) in January alone, and
    # c3 (West) in March alone, mirrored: retention in February is c1 of {c1, c2} = 0.5,
    # in March none of {c1} = 0; West's first month before any return is April, which the
    # data does not cover, so West has no retention in any month
    folder = tmp_path / "mirror"
    monkeypatch.setenv("METRICS_ENGINE", "auto")
    monkeypatch.setenv("METRICS_MIRROR", str(folder))
    live_forget()
    office = DepartmentFactory(name="Retention office")
    c1, c2 = (CustomerFactory(department=office, region="North") for _ in range(2))
    c3 = CustomerFactory(department=office, region="West")
    for n, (customer, month) in enumerate([(c1, 1), (c1, 2), (c2, 1), (c3, 3)]):
        order = m.Order.objects.create(
            external_id=f"BR-{n}",
            customer=customer,
            ordered_at=datetime(2026, month, 10, tzinfo=UTC),
            channel="online",
        )
        m.OrderLine.objects.create(order=order, line_no=1, amount=Decimal(10))
    mirror_sync(folder)
    boss = UserFactory(username="bd-retention-boss", level=Level.EXECUTIVE)

    def retention(month: int) -> list:
        day = date(2026, month, 1)
        points = metric_series(key="retention_rate", user=boss, by="region", since=day, until=day)
        return [(p.period_start.month, p.dimension_value, p.value) for p in points]

    # When retention by region is read for February, then March
    # Then each month names North alone, with its own share
    assert retention(2) == [(2, "North", 0.5)]
    assert retention(3) == [(3, "North", 0.0)]
    live_forget()
