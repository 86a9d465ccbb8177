"""Reading a metric for a page or an API request never writes the columnar mirror: only
`compute`, imports and an explicit refresh copy tables into it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from crm_scorecard.accounts.models import Level
from crm_scorecard.metrics.mirror import mirror_stale, mirror_sync

from .factories import CustomerFactory, DepartmentFactory, InteractionFactory, UserFactory

# The engine reads over its own connection, which sees committed data only.
pytestmark = pytest.mark.django_db(transaction=True)

WHEN = datetime(2026, 1, 10, 9, tzinfo=UTC)


def _calls(client) -> list:
    answer = client.get("/api/metrics/calls?since=2026-01-01&until=2026-01-31")
    assert answer.status_code == 200
    return [p["value"] for p in answer.json()["items"]]


def test_a_get_request_never_writes_the_mirror(client, settings, tmp_path):
    # Given one call, the default engine, and no mirror yet
    folder = tmp_path / "mirror"
    settings.METRICS_MIRROR = str(folder)
    settings.METRICS_ENGINE = "auto"
    care = DepartmentFactory(name="Care")
    customer = CustomerFactory(department=care)
    InteractionFactory(customer=customer, department=care, channel="call", started_at=WHEN)
    client.force_login(UserFactory(username="boss", level=Level.EXECUTIVE))
    # When the API is asked for calls
    # Then it answers from the app database, and writes no mirror
    assert _calls(client) == [1]
    assert not folder.exists()
    # Given a mirror synced, then a second call recorded
    mirror_sync(folder)
    before = sorted(p.name for p in folder.iterdir())
    InteractionFactory(customer=customer, department=care, channel="call", started_at=WHEN)
    # When the API is asked again
    # Then it reads the mirror as it stands (one call), and copies nothing
    assert _calls(client) == [1]
    assert sorted(p.name for p in folder.iterdir()) == before
    # And after an explicit refresh the page sees both
    call_command("compute", "--metric", "calls", "--no-progress", stdout=io.StringIO())
    assert _calls(client) == [2]


def test_an_import_brings_the_mirror_up_to_date(settings, tmp_path):
    # Given a mirror of a company with one customer, and a file naming a second
    folder = tmp_path / "mirror"
    settings.METRICS_MIRROR = str(folder)
    settings.METRICS_ENGINE = "auto"
    care = DepartmentFactory(name="Care")
    CustomerFactory(department=care, external_id="C1")
    mirror_sync(folder)
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,full_name,department\nC2,Second,Care\n", encoding="utf-8")
    # When it is imported
    out = io.StringIO()
    call_command("import", "customers", str(path), "--no-progress", stdout=out)
    # Then the import says it refreshed the mirror, which now holds the new customer
    assert "columnar mirror updated: crm_customer" in out.getvalue()
    assert mirror_stale(folder) == []
    assert out.getvalue().splitlines()[-1] == "imported 1, updated 0, rejected 0"
