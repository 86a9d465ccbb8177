"""The live breakdown's connection to the mirror, kept open between requests (live.py), is
never read once a newer version of the mirror is current."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm_scorecard.accounts.models import Level
from crm_scorecard.crm import models as m
from crm_scorecard.metrics import live
from crm_scorecard.metrics.live import live_forget
from crm_scorecard.metrics.mirror import mirror_sync, mirror_version
from crm_scorecard.metrics.services import metric_series

from .factories import CustomerFactory, DepartmentFactory, UserFactory


def _month(points):
    return [(p.period_start.month, p.dimension_value, p.value) for p in points]


WHEN = datetime(2026, 5, 10, 12, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_a_new_mirror_version_is_read_at_once(monkeypatch, tmp_path):
    # Given a customer in the North with a sale of 100 in May, mirrored, and the revenue by
    # region read once (the connection to that version is kept)
    folder = tmp_path / "mirror"
    monkeypatch.setenv("METRICS_ENGINE", "auto")
    monkeypatch.setenv("METRICS_MIRROR", str(folder))
    live_forget()
    north = DepartmentFactory(name="North office")
    customer = CustomerFactory(department=north, region="North")
    boss = UserFactory(username="bd-new-boss", level=Level.EXECUTIVE)

    def sale(amount: str) -> None:
        order = m.Order.objects.create(
            external_id=f"BD-{amount}", customer=customer, ordered_at=WHEN, channel="online"
        )
        m.OrderLine.objects.create(order=order, line_no=1, amount=Decimal(amount))

    def revenue() -> list:
        rows = metric_series(
            key="revenue", user=boss, by="region", since=date(2026, 5, 1), until=date(2026, 5, 31)
        )
        return _month(rows)

    sale("100")
    mirror_sync(folder)
    first = mirror_version(folder)
    assert revenue() == [(5, "North", 100)]
    assert first in live._idle
    # When a sale of 50 is recorded: until the mirror is brought up to date, a request
    # reads the version as it stands (requests never copy tables)
    sale("50")
    assert revenue() == [(5, "North", 100)]
    # Then once it is, the next request reads the new version, not the kept connection's
    mirror_sync(folder)
    assert mirror_version(folder) != first
    assert revenue() == [(5, "North", 150)]
    # And the connection to the old version was closed, so the next sync deletes its files
    assert first not in live._idle
    sale("25")
    mirror_sync(folder)
    assert first is not None and not first.exists()
    live_forget()
