"""The admin saves scorecards, goals and indicators through the same services as the pages,
and a scorecard an edit left unscorable breaks no page."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from crm_scorecard.accounts.models import Level
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Goal, Indicator, Perspective, Scorecard
from crm_scorecard.scorecards.services import scorecard_import

from .factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db

CARD = {
    "name": "Sales card",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Win",
                    "indicators": [
                        {"name": "Manual", "values": {"2026-01": 5}, "baseline": 0, "target": 10}
                    ],
                },
                {"name": "Keep", "indicators": []},
            ],
        }
    ],
}


@pytest.fixture
def card() -> Scorecard:
    return scorecard_import(card=files.parse(CARD), department=DepartmentFactory(name="Sales"))


def _admin(client):
    staff = UserFactory(username="root", level=Level.EXECUTIVE, is_staff=True, is_superuser=True)
    client.force_login(staff)


def _indicator_form(indicator: Indicator, **changes) -> dict:
    data = {
        "goal": indicator.goal_id,
        "name": indicator.name,
        "metric": indicator.metric,
        "scope": indicator.scope,
        "filter_dimension": "",
        "filter_value": "",
        "unit": "",
        "owner": "",
        "optimization": indicator.optimization,
        "baseline": indicator.baseline,
        "target": indicator.target,
        "min": "",
        "max": "",
        "tolerance": 0,
        "weight": 1,
        "green": "",
        "yellow": "",
        "update_interval": "month",
        "kind": "lagging",
        "position": 0,
        "cascaded_from": "",
    }
    data.update(changes)
    return data


def test_an_admin_edit_that_would_make_the_scorecard_unscorable_is_refused(client, card):
    # Given the admin and an indicator scored 5 of 10
    _admin(client)
    manual = Indicator.objects.get(name="Manual")
    # When an edit sets its target equal to its baseline
    response = client.post(
        f"/admin/scorecards/indicator/{manual.pk}/change/", _indicator_form(manual, target=0)
    )
    # Then the form says why, and nothing changed
    assert response.status_code == 200
    assert "baseline and target are both 0.0" in response.content.decode()
    manual.refresh_from_db()
    assert manual.target == 10


def test_an_admin_edit_that_is_fine_is_saved_through_the_service(client, card):
    # Given the admin
    _admin(client)
    manual = Indicator.objects.get(name="Manual")
    # When a valid target is saved
    response = client.post(
        f"/admin/scorecards/indicator/{manual.pk}/change/", _indicator_form(manual, target=20)
    )
    # Then it is stored
    assert response.status_code == 302
    manual.refresh_from_db()
    assert manual.target == 20


def test_an_admin_goal_under_its_own_sub_goal_is_refused(client, card):
    # Given the admin, and Keep made a sub-goal of Win
    _admin(client)
    win, keep = Goal.objects.get(name="Win"), Goal.objects.get(name="Keep")
    Goal.objects.filter(pk=keep.pk).update(parent=win)
    # When Win is moved under Keep (its own sub-goal)
    response = client.post(
        f"/admin/scorecards/goal/{win.pk}/change/",
        {
            "perspective": win.perspective_id,
            "parent": keep.pk,
            "name": "Win",
            "weight": 1,
            "position": 0,
            "cascaded_from": "",
            "indicators-TOTAL_FORMS": 0,
            "indicators-INITIAL_FORMS": 0,
        },
    )
    # Then it is refused with the reason, and nothing changed
    assert "cannot be inside itself or one of its sub-goals" in response.content.decode()
    win.refresh_from_db()
    assert win.parent_id is None


def test_the_database_refuses_negative_weights_and_thresholds_out_of_order(card):
    # Given a perspective, when a negative weight or disordered thresholds are written
    # straight to the database, then the database refuses them
    perspective = Perspective.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Perspective.objects.filter(pk=perspective.pk).update(weight=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Scorecard.objects.filter(pk=card.pk).update(green=0.4, yellow=0.6)


def test_an_unscorable_scorecard_breaks_no_page(client, card):
    # Given a second, healthy scorecard, and an edit written past the services that makes
    # the first unscorable (baseline = target)
    healthy = scorecard_import(
        card=files.parse({**CARD, "name": "Healthy"}), department=card.department
    )
    Indicator.objects.filter(name="Manual", goal__perspective__scorecard=card).update(target=0)
    manager = UserFactory(username="m", level=Level.MANAGER, departments=[card.department])
    client.force_login(manager)
    # When the manager opens the home page, the scorecard and the API
    home = client.get("/")
    page = client.get(f"/scorecards/{card.pk}/")
    api_list = client.get("/api/scorecards").json()["items"]
    api_tree = client.get(f"/api/scorecards/{card.pk}")
    # Then each says the scorecard cannot be scored and why, and the rest stands
    assert home.status_code == 200 and "baseline and target are both 0.0" in home.content.decode()
    assert "Healthy" in home.content.decode()
    assert page.status_code == 200 and "cannot be scored" in page.content.decode()
    broken = next(c for c in api_list if c["id"] == card.pk)
    assert broken["status"] == "unscorable" and "baseline and target" in broken["error"]
    assert next(c for c in api_list if c["id"] == healthy.pk)["status"] != "unscorable"
    assert api_tree.status_code == 409 and "cannot be scored" in api_tree.json()["detail"]
