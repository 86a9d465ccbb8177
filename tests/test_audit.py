"""The audit trail: changes to a scorecard's definition and its manual values are recorded
with who, when, old and new, whichever way they were made (page, admin, API token, command
line), shown on the indicator and goal pages as sentences, and never editable; only people
who can see an indicator or goal see its history."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from crm_scorecard.accounts.models import Level
from crm_scorecard.accounts.services import token_create
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.history import (
    OPERATOR,
    acting,
    goal_changes,
    indicator_changes,
    scorecard_changes,
)
from crm_scorecard.scorecards.initiatives import initiative_create
from crm_scorecard.scorecards.models import Goal, Indicator, ManualValue
from crm_scorecard.scorecards.services import (
    goal_save,
    indicator_save,
    manual_value_set,
    scorecard_import,
    scorecard_save,
)

from .factories import UserFactory

pytestmark = pytest.mark.django_db

CARD = {
    "name": "Sales card",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Win customers",
                    "indicators": [
                        {
                            "name": "Visits",
                            "values": {"2026-10": 500, "2026-11": 650},
                            "baseline": 0,
                            "target": 1000,
                        }
                    ],
                },
                {"name": "Keep customers", "indicators": []},
            ],
        }
    ],
}


@pytest.fixture
def card(org):
    return scorecard_import(card=files.parse(CARD), department=org.sales, actor=org.sales_manager)


@pytest.fixture
def visits(card) -> Indicator:
    return Indicator.objects.get(goal__perspective__scorecard=card, name="Visits")


def _page(client, user, indicator: Indicator):
    client.force_login(user)
    return client.get(reverse("indicator-detail", args=[indicator.pk]) + "?period=2026-11")


def test_a_target_change_through_the_service_is_recorded_and_shown(client, org, visits):
    # Given the Visits indicator with target 1,000
    # When the Sales manager lowers the target to 800 through the service
    visits.target = 800
    indicator_save(indicator=visits, actor=org.sales_manager)
    # Then the trail holds one change with who, the old and the new target
    latest, before = visits.history.all()[:2]
    assert latest.history_type == "~" and latest.history_user == org.sales_manager
    assert (before.target, latest.target) == (1000, 800)
    changes = indicator_changes(indicator=visits, unit="")
    assert changes[0].text == "target changed from 1,000 to 800"
    assert changes[0].who == "sales-manager"
    # And the indicator page shows it as a sentence
    html = _page(client, org.sales_analyst, visits).content.decode()
    assert "Target changed from 1,000 to 800 by <strong>sales-manager</strong> on" in html
    assert changes[0].when_text in html


def test_a_manual_value_change_is_recorded_with_old_and_new(client, org, visits):
    # Given November's value 650 (imported by the Sales manager)
    # When the Sales manager corrects it to 700
    manual_value_set(indicator=visits, period="2026-11", value=700, user=org.sales_manager)
    # Then the value's history holds 650 then 700, the change by the Sales manager
    entry = ManualValue.objects.get(indicator=visits, period_start="2026-11-01")
    values = [
        (h.value, h.history_type, h.history_user) for h in entry.history.order_by("history_id")
    ]
    assert values == [(650, "+", org.sales_manager), (700, "~", org.sales_manager)]
    # And the page says so
    html = _page(client, org.sales_analyst, visits).content.decode()
    assert "Value for 2026-11 changed from 650 to 700 by <strong>sales-manager</strong>" in html
    assert "Value for 2026-10 entered as 500 by <strong>sales-manager</strong>" in html


def test_values_read_in_the_indicators_unit(org, visits):
    # Given the indicator measured in percent
    visits.unit = "percent"
    visits.baseline, visits.target = 0.1, 0.5
    indicator_save(indicator=visits, actor=org.sales_manager)
    # When its target changes from 50% to 45%
    visits.target = 0.45
    indicator_save(indicator=visits, actor=org.sales_manager)
    # Then the sentence reads the values in percent
    texts = [c.text for c in indicator_changes(indicator=visits, unit="percent")]
    assert texts[0] == "target changed from 50% to 45%"


def test_a_value_entered_on_the_page_names_the_signed_in_manager(client, org, visits):
    # Given the Sales manager signed in
    client.force_login(org.sales_manager)
    # When they enter December's value on the indicator page
    url = reverse("indicator-detail", args=[visits.pk])
    response = client.post(url, {"period": "2026-12", "value": "720"})
    # Then it is saved and the trail names them
    assert response.status_code == 302
    entry = ManualValue.objects.get(indicator=visits, period_start="2026-12-01")
    assert entry.history.get().history_user == org.sales_manager


def test_a_value_put_through_the_api_names_the_tokens_user(client, org, visits):
    # Given a token of the Sales manager
    key = token_create(user=org.sales_manager, name="erp").key
    # When a script puts December's value with it
    response = client.put(
        f"/api/indicators/{visits.pk}/values/2026-12",
        data=json.dumps({"value": 730}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    # Then the trail names the token's user
    assert response.status_code == 200
    entry = ManualValue.objects.get(indicator=visits, period_start="2026-12-01")
    assert entry.history.get().history_user == org.sales_manager


def test_an_edit_in_the_admin_names_the_staff_user(client, org, visits):
    # Given a staff user in the admin
    root = UserFactory(username="root", level=Level.EXECUTIVE, is_staff=True, is_superuser=True)
    client.force_login(root)
    goal = visits.goal
    # When they change the goal's weight through the admin's form
    url = reverse("admin:scorecards_goal_change", args=[goal.pk])
    data = {"perspective": goal.perspective_id, "name": goal.name, "weight": "2", "position": 0}
    data.update({"parent": "", "cascaded_from": ""})
    data.update(
        {
            "indicators-TOTAL_FORMS": "1",
            "indicators-INITIAL_FORMS": "1",
            "indicators-MIN_NUM_FORMS": "0",
            "indicators-MAX_NUM_FORMS": "1000",
            "indicators-0-id": str(visits.pk),
            "indicators-0-goal": str(goal.pk),
        }
    )
    response = client.post(url, data)
    # Then it is saved through the service, and the trail names the staff user
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = Goal.objects.get(pk=goal.pk).history.first()
    assert latest.weight == 2 and latest.history_user == root
    assert goal_changes(goal=goal)[0].text == "weight changed from 1 to 2"


def test_an_import_at_the_command_line_is_recorded_as_an_operators(org, tmp_path, client):
    # Given a scorecard file
    path = tmp_path / "card.yaml"
    path.write_text(files.dump(files.parse(CARD)), encoding="utf-8")
    # When an operator imports it at the command line
    call_command("scorecard", "import", str(path), "--department", "Sales")
    # Then its rows are recorded without a user, and the page says an operator did it
    visits = Indicator.objects.get(name="Visits")
    assert visits.history.get().history_user is None
    html = _page(client, org.sales_manager, visits).content.decode()
    assert f"Indicator created with target 1,000 by <strong>{OPERATOR}</strong>" in html


def test_the_goal_page_shows_its_changes(client, org, visits):
    # Given a goal whose weight changed and which got an initiative
    goal = visits.goal
    goal.weight = 3
    goal_save(goal=goal, actor=org.sales_manager)
    initiative_create(goal=goal, name="Door to door", actor=org.sales_manager)
    # When a Sales analyst opens the goal's page
    client.force_login(org.sales_analyst)
    html = client.get(
        reverse("goal-detail", args=[goal.perspective.scorecard_id, goal.pk])
    ).content.decode()
    # Then both changes are sentences naming the manager
    assert "Weight changed from 1 to 3 by <strong>sales-manager</strong>" in html
    assert "Initiative &#x27;Door to door&#x27; added by <strong>sales-manager</strong>" in html


def test_the_scorecard_page_shows_thresholds_perspectives_and_goals_changed(client, org, card):
    # Given new thresholds, a reweighted and renamed perspective and a goal removed
    card.green, card.yellow = 0.9, 0.6
    scorecard_save(scorecard=card, actor=org.sales_manager)
    customer = card.perspectives.get(name="Customer")
    with acting(org.sales_manager):
        customer.weight, customer.name = 2, "Customers"
        customer.save()
        Goal.objects.get(perspective=customer, name="Keep customers").delete()
    # Then the scorecard's changes say so, newest first, with old and new values
    texts = [c.text for c in scorecard_changes(scorecard=card)]
    assert texts[:5] == [
        "goal 'Keep customers' removed",
        "perspective 'Customer': name changed from Customer to Customers",
        "perspective 'Customer': weight changed from 1 to 2",
        "green threshold changed from 80% to 90%",
        "yellow threshold changed from 50% to 60%",
    ]
    # And the page shows them as sentences naming the manager, to the Sales analyst
    # (the page loads them from their own address when its "Changes" is opened)
    client.force_login(org.sales_analyst)
    page = client.get(reverse("scorecard-detail", args=[card.pk])).content.decode()
    assert f'hx-get="{reverse("scorecard-changes", args=[card.pk])}"' in page
    html = client.get(reverse("scorecard-changes", args=[card.pk])).content.decode()
    assert "Green threshold changed from 80% to 90% by <strong>sales-manager</strong>" in html
    # And not to Customer Service
    client.force_login(org.service_manager)
    response = client.get(reverse("scorecard-changes", args=[card.pk]))
    assert response.status_code == 404 and b"threshold changed" not in response.content


@pytest.mark.parametrize("who", ["service_manager", "service_agent"])
def test_another_department_sees_no_history(client, org, visits, who):
    # Given a changed target
    visits.target = 800
    indicator_save(indicator=visits, actor=org.sales_manager)
    goal = visits.goal
    # When someone of Customer Service opens the indicator's or the goal's page
    client.force_login(getattr(org, who))
    indicator_page = client.get(reverse("indicator-detail", args=[visits.pk]))
    goal_page = client.get(reverse("goal-detail", args=[goal.perspective.scorecard_id, goal.pk]))
    # Then both answer 404, showing nothing of the history
    assert indicator_page.status_code == 404 and goal_page.status_code == 404
    assert b"changed from" not in indicator_page.content + goal_page.content


def test_anonymous_is_sent_to_sign_in(client, visits):
    # Given no session, when opening the indicator page, then it asks to sign in
    response = client.get(reverse("indicator-detail", args=[visits.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_history_has_no_page_that_edits_it(client, org, visits):
    # Given a recorded change
    visits.target = 800
    indicator_save(indicator=visits, actor=org.sales_manager)
    record = visits.history.first()
    client.force_login(org.sales_manager)
    # Then the app has no address for history
    for name in ("indicator-history", "history-edit", "indicator-history-edit"):
        with pytest.raises(NoReverseMatch):
            reverse(name, args=[visits.pk])
    for path in (f"/indicators/{visits.pk}/history/", f"/indicators/{visits.pk}/changes/"):
        assert client.post(path, {"target": 1}).status_code == 404
    # And the historical models are not in the admin
    assert not [m for m in admin.site._registry if m.__name__.startswith("Historical")]
    # And the admin's page of a past version refuses to save (no revert), changing nothing
    root = UserFactory(username="root", level=Level.EXECUTIVE, is_staff=True, is_superuser=True)
    client.force_login(root)
    url = reverse("admin:scorecards_indicator_simple_history", args=[visits.pk, record.pk])
    assert client.get(url).status_code == 200
    before = visits.history.count()
    assert client.post(url, {"target": 5}).status_code == 403
    assert visits.history.count() == before
    # And the admin's history list shows the change, without a revert button
    listing = client.get(reverse("admin:scorecards_indicator_history", args=[visits.pk]))
    assert listing.status_code == 200 and b"Revert" not in listing.content


def test_rows_from_before_the_trail_get_a_starting_point(org, visits):
    # Given an indicator whose history was never recorded (it existed before the upgrade)
    from importlib import import_module

    from django.apps import apps

    migration = import_module("crm_scorecard.scorecards.migrations.0003_audit_trail_and_comments")
    Indicator.history.all().delete()
    ManualValue.history.all().delete()
    # When the migration starts the trail, and the Sales manager then changes the target
    migration.start_the_trail(apps, None)
    visits.target = 800
    indicator_save(indicator=visits, actor=org.sales_manager)
    # Then the change has its "before", and the starting rows make no sentence of their own
    texts = [c.text for c in indicator_changes(indicator=visits, unit="")]
    assert texts == ["target changed from 1,000 to 800"]
    assert visits.history.filter(history_change_reason=migration.STARTED).count() == 1
