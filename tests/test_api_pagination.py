"""Every list the API answers comes in parts: `limit` items after the first `offset`, with
`count`, how many items the whole list holds (customer search counts up to its cap)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_scorecard.crm import selectors as crm
from crm_scorecard.metrics.api import registry
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.services import scorecard_import

from .factories import CustomerFactory, InteractionFactory


def _card(name: str) -> dict:
    indicator = {"name": "Survey", "values": {"2026-01": 3}, "baseline": 1, "target": 5}
    goal = {"name": "Keep customers", "indicators": [indicator]}
    return {"name": name, "perspectives": [{"name": "Customer", "goals": [goal]}]}


@pytest.mark.django_db
def test_scorecards_come_in_parts_by_department_and_name(client, org):
    # Given three scorecards of Sales (one in Field Sales, below it) and one of Customer Service
    for name in ("Charlie", "Alpha", "Bravo"):
        scorecard_import(card=files.parse(_card(name)), department=org.sales)
    scorecard_import(card=files.parse(_card("Delta")), department=org.field_sales)
    scorecard_import(card=files.parse(_card("Echo")), department=org.service)
    client.force_login(org.sales_manager)
    # When Sales' manager reads them two at a time
    first = client.get("/api/scorecards?limit=2").json()
    second = client.get("/api/scorecards?limit=2&offset=2").json()
    past = client.get("/api/scorecards?limit=2&offset=9").json()
    # Then the four they may see come by department, then name, each part saying there are 4
    assert [c["name"] for c in first["items"]] == ["Delta", "Alpha"]  # Field Sales < Sales
    assert [c["name"] for c in second["items"]] == ["Bravo", "Charlie"]
    assert (first["count"], first["limit"], first["offset"]) == (4, 2, 0)
    assert (second["count"], second["offset"]) == (4, 2)
    assert (past["count"], past["items"]) == (4, [])
    # And by default up to 50 come at once
    assert client.get("/api/scorecards").json()["limit"] == 50


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["limit=0", "limit=501", "offset=-1", "limit=ten"])
def test_a_part_out_of_bounds_answers_422_naming_the_parameter(client, org, query):
    # Given a signed-in user
    client.force_login(org.sales_manager)
    # When they ask for a part out of bounds
    response = client.get(f"/api/scorecards?{query}")
    # Then it is refused naming the parameter
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", query.split("=")[0]]


@pytest.mark.django_db
def test_customer_search_comes_in_parts_with_its_count(client, org):
    # Given five Sallys in Sales and one in Customer Service
    for n in range(5):
        CustomerFactory(external_id=f"S-{n}", full_name=f"Sally {n}", department=org.sales)
    CustomerFactory(external_id="X-1", full_name="Sally Other", department=org.service)
    client.force_login(org.sales_manager)
    # When Sales' manager searches two at a time
    first = client.get("/api/customers?q=sally&limit=2").json()
    last = client.get("/api/customers?q=sally&limit=2&offset=4").json()
    # Then the five Sally of Sales are counted exactly, and each part holds the next ones
    assert (first["count"], first["count_is_exact"]) == (5, True)
    assert [c["full_name"] for c in first["items"]] == ["Sally 0", "Sally 1"]
    assert [c["full_name"] for c in last["items"]] == ["Sally 4"]


@pytest.mark.django_db
def test_customer_search_past_its_count_cap_says_the_count_is_not_exact(client, org, monkeypatch):
    # Given search counts only up to 3 matches, and five Sallys
    monkeypatch.setattr(crm, "SEARCH_COUNT_CAP", 3)
    for n in range(5):
        CustomerFactory(external_id=f"S-{n}", full_name=f"Sally {n}", department=org.sales)
    client.force_login(org.sales_manager)
    # When Sales' manager searches, and asks past the cap
    page = client.get("/api/customers?q=sally&limit=2").json()
    past = client.get("/api/customers?q=sally&limit=2&offset=3").json()
    # Then the count is the cap, marked not exact, and nothing lies past it
    assert (page["count"], page["count_is_exact"], len(page["items"])) == (3, False, 2)
    assert (past["count"], past["items"]) == (3, [])


@pytest.mark.django_db
def test_the_metric_list_comes_in_parts(client, org):
    # Given every metric the registry declares
    keys = [m.key for m in registry()]
    client.force_login(org.sales_analyst)
    # When the list is read three at a time from the fourth
    page = client.get("/api/metrics?limit=3&offset=3").json()
    # Then it holds the fourth to sixth, and counts them all
    assert page["count"] == len(keys) > 6
    assert [m["key"] for m in page["items"]] == keys[3:6]


@pytest.mark.django_db(transaction=True)  # the metrics engine reads over its own connection
def test_a_metric_series_comes_in_parts(client, org):
    # Given Sales' calls on three days of January: 1 on the 5th, 2 on the 6th, 1 on the 9th
    customer = CustomerFactory(department=org.sales)
    for day in (5, 6, 6, 9):
        InteractionFactory(
            customer=customer, channel="call", started_at=datetime(2026, 1, day, 9, tzinfo=UTC)
        )
    client.force_login(org.sales_manager)
    # When the daily series is read one point at a time from the second
    page = client.get(
        "/api/metrics/calls?grain=day&since=2026-01-01&until=2026-01-31&limit=1&offset=1"
    ).json()
    whole = client.get("/api/metrics/calls?grain=day&since=2026-01-01&until=2026-01-31").json()
    # Then it is the 6th's two calls, of the five days from the first call to the last
    assert page["count"] == whole["count"] == 5
    assert [(p["period_start"], p["value"]) for p in page["items"]] == [("2026-01-06", 2)]
    assert [p["value"] for p in whole["items"]] == [1, 2, 0, 0, 1]
