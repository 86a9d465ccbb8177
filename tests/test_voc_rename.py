"""Renaming or merging a theme of the affinity diagram carries the scorecard indicators that
filter on its label along (voc announces it, scorecards follow: `scorecards.signals`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_scorecard.crm.models import Complaint, ComplaintCategory
from crm_scorecard.metrics.models import FillRun
from crm_scorecard.metrics.services import kpi_compute
from crm_scorecard.scorecards import scoring
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards.models import Goal, Indicator, Perspective, Scorecard
from crm_scorecard.voc import grouping, services
from crm_scorecard.voc.models import Theme, ThemeMember

from .factories import CustomerFactory

# The metrics engine reads over its own connection, and the indicators' metrics are
# computed again once the rename is committed.
pytestmark = pytest.mark.django_db(transaction=True)

COMPLAINTS = [  # (description, month): 3 on late deliveries, 2 on wrong bills
    ("late delivery of my parcel", 1),
    ("parcel delivery late again", 1),
    ("wrong bill amount charged", 1),
    ("bill charged wrong amount twice", 1),
    ("delivery late, parcel lost", 2),
]


@pytest.fixture
def themes(org):
    """Two themes, `delivery` and `billing`, both Customer Service's."""
    customer = CustomerFactory(department=org.sales)
    for n, (text, month) in enumerate(COMPLAINTS):
        Complaint.objects.create(
            external_id=f"K-{n}",
            customer=customer,
            category=ComplaintCategory.SERVICE,
            description=text,
            opened_at=datetime(2026, month, 10 + n, tzinfo=UTC),
            department=org.service,
        )
    services.comments_group(themes=2)
    found = {
        "delivery": ThemeMember.objects.get(complaint__external_id="K-0").theme,
        "billing": ThemeMember.objects.get(complaint__external_id="K-2").theme,
    }
    assert found["delivery"] != found["billing"]
    for label, theme in found.items():
        services.theme_rename(actor=None, theme=theme, label=label)
        services.theme_assign(actor=None, theme=theme, department=org.service)
    return found


def indicator(card: Scorecard, name: str, value: str, dimension: str = "voc_theme") -> Indicator:
    goal = Goal.objects.get(perspective__scorecard=card)
    return Indicator.objects.create(
        goal=goal,
        name=name,
        metric="complaints",
        scope=Indicator.Scope.COMPANY,
        filter_dimension=dimension,
        filter_value=value,
        optimization="minimize",
        baseline=5,
        target=0,
    )


def scorecard(department) -> Scorecard:
    card = Scorecard.objects.create(department=department, name=f"{department.name} card")
    perspective = Perspective.objects.create(scorecard=card, name="Customer")
    Goal.objects.create(perspective=perspective, name="Act on what customers tell us")
    return card


def shown(card: Scorecard, period: str) -> dict[str, float | None]:
    """Each indicator's value as the scorecard shows it for `period`."""
    result = scoring.evaluate(sel.scorecard_scoring(card), period=period)
    return {n.name: n.value for n in result.walk() if n.kind == "indicator"}


@pytest.fixture
def cards(org, themes):
    """Customer Service's card counts complaints about delivery and about billing, and one
    filtered on the region called "delivery"; Sales' card counts delivery complaints too.
    The KPIs are computed as `compute` stores them."""
    service, sales = scorecard(org.service), scorecard(org.sales)
    indicator(service, "Complaints about delivery", "delivery")
    indicator(service, "Complaints about billing", "billing")
    indicator(service, "Complaints in region delivery", "delivery", dimension="region")
    indicator(sales, "Delivery complaints", "delivery")
    kpi_compute(metrics=["complaints"], by=[None, "department", "voc_theme"])
    return service, sales


def test_before_any_rename_the_cards_show_the_themes_counts(cards):
    # Given the two cards, when Customer Service's is shown for January and February
    service, sales = cards
    january, february = shown(service, "2026-01"), shown(service, "2026-02")
    # Then delivery has 2 in January and 1 in February, billing 2 in January
    assert january["Complaints about delivery"] == 2
    assert february["Complaints about delivery"] == 1
    assert january["Complaints about billing"] == 2
    assert shown(sales, "2026-01")["Delivery complaints"] == 2


def test_a_renamed_theme_keeps_its_indicators_and_their_numbers(org, themes, cards):
    # Given the delivery theme with indicators on two departments' cards
    service, sales = cards
    runs = FillRun.objects.count()
    # When Customer Service's manager renames it
    services.theme_rename(
        actor=org.service_manager, theme=themes["delivery"], label="Late deliveries"
    )
    # Then every indicator filtering voc_theme on "delivery" now filters on the new label,
    # on Sales' card as well (a theme's label is company-wide)
    by_name = dict(Indicator.objects.values_list("name", "filter_value"))
    assert by_name["Complaints about delivery"] == "Late deliveries"
    assert by_name["Delivery complaints"] == "Late deliveries"
    # And the one filtering on the region of the same name, and billing's, are untouched
    assert by_name["Complaints in region delivery"] == "delivery"
    assert by_name["Complaints about billing"] == "billing"
    # And the complaints metric was stored again at once: the cards show 2 and 1, not "no data"
    assert shown(service, "2026-01")["Complaints about delivery"] == 2
    assert shown(service, "2026-02")["Complaints about delivery"] == 1
    assert FillRun.objects.count() == runs + 1
    assert shown(sales, "2026-01")["Delivery complaints"] == 2
    assert shown(service, "2026-01")["Complaints about billing"] == 2


def test_a_merged_theme_hands_its_indicators_to_the_surviving_one(org, themes, cards):
    # Given billing's indicator on Customer Service's card
    service, _ = cards
    # When billing is merged into delivery
    services.theme_merge(
        actor=org.service_manager, theme=themes["billing"], into=themes["delivery"]
    )
    # Then billing's indicator counts the surviving theme, delivery: 2 + 2 in January, 1 in
    # February
    assert not Theme.objects.filter(label="billing").exists()
    billing = Indicator.objects.get(name="Complaints about billing")
    assert billing.filter_value == "delivery"
    assert shown(service, "2026-01")["Complaints about billing"] == 4
    assert shown(service, "2026-02")["Complaints about billing"] == 1
    assert shown(service, "2026-01")["Complaints about delivery"] == 4
    # And the region indicator is untouched
    assert Indicator.objects.get(name="Complaints in region delivery").filter_value == "delivery"


def test_a_rename_no_indicator_follows_changes_no_indicator_and_computes_nothing(
    org, themes, cards
):
    # Given an indicator filtering on the region "billing" (not the theme)
    service, _ = cards
    indicator(service, "Complaints in region billing", "billing", dimension="region")
    Indicator.objects.filter(name="Complaints about billing").delete()
    before = dict(Indicator.objects.values_list("name", "filter_value"))
    runs = FillRun.objects.count()
    # When the billing theme is renamed
    services.theme_rename(actor=org.service_manager, theme=themes["billing"], label="Bills")
    # Then no indicator changed and no KPI was computed again
    assert dict(Indicator.objects.values_list("name", "filter_value")) == before
    assert FillRun.objects.count() == runs


def test_a_refused_rename_moves_no_indicator(org, themes, cards):
    # Given Sales' manager, who may not change Customer Service's themes
    before = dict(Indicator.objects.values_list("name", "filter_value"))
    # When they try to rename the delivery theme
    with pytest.raises(services.NotAllowed):
        services.theme_rename(actor=org.sales_manager, theme=themes["delivery"], label="Ours")
    # Then nothing moved
    assert dict(Indicator.objects.values_list("name", "filter_value")) == before


def test_grouping_that_swaps_two_machine_labels_swaps_their_indicators(org, monkeypatch):
    # Given two themes labelled by the machine, each with an indicator on its label
    card = scorecard(org.service)
    first, second = (
        Theme.objects.create(label="late / parcel"),
        Theme.objects.create(label="wrong / bill"),
    )
    indicator(card, "On the first", "late / parcel")
    indicator(card, "On the second", "wrong / bill")
    # When grouping runs again and brings the labels up to date: each takes the other's
    swapped = grouping.Plan(
        pipeline="test", relabel={first.pk: "wrong / bill", second.pk: "late / parcel"}
    )
    monkeypatch.setattr(grouping, "plan", lambda *args, **kwargs: swapped)
    services.comments_group()
    # Then each indicator follows its own theme, not the label the other one now carries
    assert Theme.objects.get(pk=first.pk).label == "wrong / bill"
    by_name = dict(Indicator.objects.values_list("name", "filter_value"))
    assert by_name == {"On the first": "wrong / bill", "On the second": "late / parcel"}


def test_a_rename_on_the_board_carries_the_indicators_along(client, org, themes, cards):
    # Given Customer Service's manager on the board
    service, _ = cards
    client.force_login(org.service_manager)
    # When they rename the delivery theme there
    response = client.post(
        f"/voc/themes/{themes['delivery'].pk}/rename/", {"label": "Late deliveries"}
    )
    # Then the indicator filters on the new label and the card shows January's 2 complaints
    assert response.status_code == 302
    moved = Indicator.objects.get(name="Complaints about delivery")
    assert moved.filter_value == "Late deliveries"
    # And the indicator's audit trail says who moved it, from which label to which
    latest, before = moved.history.all()[:2]
    assert (before.filter_value, latest.filter_value) == ("delivery", "Late deliveries")
    assert latest.history_user == org.service_manager
    assert shown(service, "2026-01")["Complaints about delivery"] == 2
