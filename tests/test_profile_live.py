"""The customer profile read as a page or the API reads it: over the connection to the mirror's
version that the process keeps for live reads (live.py), the one the live breakdowns use, and
never once a newer version of the mirror is current; on a connection of a request's own, from
the queries compiled before, without reading what they do not need."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm_scorecard.accounts.models import Level
from crm_scorecard.crm import models as m
from crm_scorecard.errors import Invalid
from crm_scorecard.metrics import live, profile_cube
from crm_scorecard.metrics import sources as built
from crm_scorecard.metrics.api import engine_for
from crm_scorecard.metrics.live import live_forget
from crm_scorecard.metrics.mirror import mirror_sync, mirror_version
from crm_scorecard.metrics.profile import customer_profile
from crm_scorecard.metrics.services import metric_series

from .factories import CustomerFactory, DepartmentFactory, UserFactory

WHEN = datetime(2026, 5, 10, 12, tzinfo=UTC)
MAY = {"since": date(2026, 5, 1), "until": date(2026, 5, 31)}


@pytest.fixture
def north(monkeypatch, tmp_path):
    """A customer in the North (a department of their own), an executive, and a mirror of
    their own; `sale(amount)` records an order of one line of that amount on 10 May 2026."""
    folder = tmp_path / "mirror"
    monkeypatch.setenv("METRICS_ENGINE", "auto")
    monkeypatch.setenv("METRICS_MIRROR", str(folder))
    live_forget()
    customer = CustomerFactory(department=DepartmentFactory(name="North office"), region="North")
    boss = UserFactory(username="pl-boss", level=Level.EXECUTIVE)
    made: list[str] = []

    def sale(amount: str) -> None:
        made.append(amount)
        order = m.Order.objects.create(
            external_id=f"PL-{len(made)}", customer=customer, ordered_at=WHEN, channel="online"
        )
        m.OrderLine.objects.create(order=order, line_no=1, amount=Decimal(amount))

    yield {"folder": folder, "boss": boss, "sale": sale}
    live_forget()


def _by_region(boss) -> list[tuple]:
    """(region, customers, active customers, revenue, orders) in May, as the boss sees them."""
    found = customer_profile(user=boss, by=["region"], **MAY)
    return [(*r.values, r.customers, r.active_customers, r.revenue, r.orders) for r in found.rows]


@pytest.mark.django_db(transaction=True)
def test_the_profile_is_read_on_the_kept_connection_until_a_new_version_is_current(north):
    # Given the customer's sale of 100 in May, mirrored, and the profile by region read once
    folder, boss = north["folder"], north["boss"]
    north["sale"]("100")
    mirror_sync(folder)
    first = mirror_version(folder)
    assert _by_region(boss) == [("North", 1, 1, 100.0, 1)]
    # (the connection to that version is kept, with the views of the profile's tables)
    [conn] = live._idle[first]
    assert profile_cube.table_name() in conn.opened()
    # When a sale of 50 is recorded: until the mirror is brought up to date, the profile
    # reads the version as it stands (requests never copy tables), on the same connection
    north["sale"]("50")
    assert _by_region(boss) == [("North", 1, 1, 100.0, 1)]
    assert live._idle[first] == [conn]
    # Then once it is, the next profile reads the new version, not the kept connection's
    mirror_sync(folder)
    assert mirror_version(folder) != first
    assert _by_region(boss) == [("North", 1, 1, 150.0, 2)]
    # And the connection to the old version was closed, so the next sync deletes its files
    assert first not in live._idle
    north["sale"]("25")
    mirror_sync(folder)
    assert first is not None and not first.exists()


@pytest.mark.django_db(transaction=True)
def test_the_profile_and_the_breakdowns_share_one_connection_per_version(north):
    # Given the revenue by region read live (the connection to the version is kept)
    folder, boss = north["folder"], north["boss"]
    north["sale"]("100")
    mirror_sync(folder)
    version = mirror_version(folder)
    points = metric_series(key="revenue", user=boss, by="region", **MAY)
    assert [(p.dimension_value, p.value) for p in points] == [("North", 100)]
    [conn] = live._idle[version]
    # When the profile is read, and then a profile by a dimension that does not exist
    assert _by_region(boss) == [("North", 1, 1, 100.0, 1)]
    with pytest.raises(Invalid, match="did you mean 'region'"):
        customer_profile(user=boss, by=["regoin"])
    # Then both read the breakdown's connection, and the mistaken request left it kept
    assert live._idle[version] == [conn]
    assert profile_cube.table_name() in conn.opened()
    assert metric_series(key="revenue", user=boss, by="region", **MAY) == points


@pytest.mark.django_db(transaction=True)
def test_a_connection_of_its_own_runs_the_compiled_profile_reading_no_schema_twice(
    north, monkeypatch
):
    # Given the profile by region read once on a connection of the request's own (its
    # queries compiled then)
    folder = north["folder"]
    north["sale"]("100")
    mirror_sync(folder)
    with engine_for(engine="auto", sync=False) as first:
        found = customer_profile(engine=first, by=["region"], **MAY)
    assert [(*r.values, r.customers, r.revenue) for r in found.rows] == [("North", 1, 100.0)]
    # When it is read again on another connection of its own, watched
    depths: list[object] = []
    monkeypatch.setattr(built, "department_depth", lambda conn: depths.append(conn) or 0)
    with engine_for(engine="auto", sync=False) as second:

        def schema_read(name, *args, **kwargs):
            raise AssertionError(f"Ibis read the schema of {name}")

        monkeypatch.setattr(second.conn.backend, "table", schema_read)
        again = customer_profile(engine=second, by=["region"], **MAY)
        opened = second.conn.opened()
    # Then the same figures, from the views of the same tables declared for the compiled
    # text (no table read through Ibis) and no query of the department tree, which a
    # profile by region never joins
    assert again.rows == found.rows
    assert profile_cube.totals_name("people") in opened
    assert depths == []
