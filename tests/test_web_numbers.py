"""Numbers people can read: pages format values by their unit and scores as percentages,
the strategy map carries score labels and arrowheads, and one unscorable scorecard does
not break the home page."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from django.urls import reverse

from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator
from crm_scorecard.scorecards.services import scorecard_import
from crm_scorecard.web.templatetags.numbers import points_text, scope_text, value_text

pytestmark = pytest.mark.django_db

CARD = {
    "name": "Numbers card",
    "mission": "Read well",
    "perspectives": [
        {
            "name": "Financial",
            "goals": [
                {
                    "name": "Grow revenue",
                    "indicators": [
                        {
                            "name": "Revenue",
                            "unit": "currency",
                            "values": {"2026-01": 597141.47},
                            "baseline": 400000,
                            "target": 800000,
                        },
                        {
                            "name": "Win rate",
                            "unit": "percent",
                            "values": {"2026-01": 0.6154},
                            "baseline": 0.4,
                            "target": 0.8,
                        },
                    ],
                }
            ],
        },
        {
            "name": "Internal process",
            "goals": [
                {
                    "name": "Answer fast",
                    "indicators": [
                        {
                            "name": "Handling time",
                            "unit": "seconds",
                            "values": {"2026-01": 245},
                            "optimization": "minimize",
                            "baseline": 400,
                            "target": 200,
                        }
                    ],
                }
            ],
        },
        {
            "name": "Learning",
            "goals": [
                {
                    "name": "Skilled",
                    "indicators": [
                        {
                            "name": "Training",
                            "unit": "hours",
                            "values": {"2026-01": 12},
                            "baseline": 0,
                            "target": 20,
                        }
                    ],
                },
                {
                    "name": "Curious",
                    "indicators": [
                        {"name": "Ideas", "values": {"2026-01": 3}, "baseline": 0, "target": 6}
                    ],
                },
            ],
        },
    ],
    # Learning → Financial skips a band; Skilled → Curious stays within one.
    "links": [
        {"from": "Skilled", "to": "Grow revenue"},
        {"from": "Answer fast", "to": "Grow revenue"},
        {"from": "Skilled", "to": "Curious"},
    ],
}


@pytest.fixture
def card(org):
    return scorecard_import(card=files.parse(CARD), department=org.sales)


@override_settings(CRM_CURRENCY="EUR")
def test_scorecard_page_formats_values_by_unit_and_scores_as_percentages(client, org, card):
    # Given the Sales manager
    client.force_login(org.sales_manager)
    # When they open the scorecard for January
    response = client.get(reverse("scorecard-detail", args=[card.pk]) + "?period=2026-01")
    # Then the currency value, the rate and the duration read as people write them
    assert response.status_code == 200
    html = response.content.decode()
    assert "€597,141" in html and "€800,000" in html
    assert "61.5%" in html and "80%" in html
    assert "4:05" in html and "3:20" in html
    assert "12 h" in html
    # And raw numbers are gone
    assert "597141" not in html and "0.6154" not in html and "0.615" not in html
    # And scores read as percentages: revenue (597141.47 - 400000) / 400000 = 49%
    row = html[html.index("Revenue") : html.index("Win rate")]
    assert "49%" in row and "0.49" not in row


def test_goal_and_indicator_pages_show_percentages_and_units(client, org, card):
    # Given the Sales manager and the revenue indicator
    client.force_login(org.sales_manager)
    revenue = Indicator.objects.get(goal__perspective__scorecard=card, name="Revenue")
    # When they open its goal and the indicator
    goal = client.get(
        reverse("goal-detail", args=[card.pk, revenue.goal_id]) + "?period=2026-01"
    ).content.decode()
    page = client.get(
        reverse("indicator-detail", args=[revenue.pk]) + "?period=2026-01"
    ).content.decode()
    # Then the goal's score and its indicators' scores are percentages
    # (goal: mean of 0.493 and (0.6154 - 0.4) / 0.4 = 0.539 → 52%)
    assert "52%" in goal and "49%" in goal and "54%" in goal
    # And the indicator page shows value, target and baseline in euros, its score in percent
    assert "€597,141" in page and "€800,000" in page and "€400,000" in page
    assert "49%" in page


def test_strategy_map_data_carries_score_labels_and_arrowheads(client, org, card):
    # Given the Sales manager
    client.force_login(org.sales_manager)
    # When they open the strategy map
    response = client.get(reverse("strategy-map", args=[card.pk]) + "?period=2026-01")
    # Then every goal carries its score as a percentage, and every link an arrowhead
    chart = response.context["chart"]
    labels = {n["name"]: n["scoreLabel"] for n in chart["nodes"]}
    assert labels["Grow revenue"] == "52%" and labels["Skilled"] == "60%"
    assert len(chart["links"]) == 3
    assert all(link["edgeSymbol"] == ["none", "arrow"] for link in chart["links"])
    # And the list under the map reads the same
    assert "52%" in response.content.decode()


def test_home_shows_an_unscorable_scorecard_and_the_others(client, org, card):
    # Given a second scorecard made unscorable behind the services' back
    broken = scorecard_import(
        card=files.parse({**CARD, "name": "Broken card", "links": []}), department=org.sales
    )
    Indicator.objects.filter(goal__perspective__scorecard=broken, name="Ideas").update(
        baseline=6, target=6
    )
    client.force_login(org.sales_manager)
    # When the manager opens the home page
    response = client.get(reverse("home"))
    # Then it answers, says why the broken card cannot be scored, and links to it
    assert response.status_code == 200
    html = response.content.decode()
    assert "cannot be scored:" in html and "baseline and target are both 6" in html
    assert reverse("scorecard-detail", args=[broken.pk]) in html
    # And the other scorecard's tile still shows its score
    assert "Numbers card" in html
    assert reverse("scorecard-detail", args=[card.pk]) in html


def test_home_escapes_the_reason(client, org):
    # Given an unscorable scorecard whose indicator is named as a script
    hostile = {
        **CARD,
        "name": "Hostile",
        "links": [],
    }
    broken = scorecard_import(card=files.parse(hostile), department=org.sales)
    Indicator.objects.filter(goal__perspective__scorecard=broken, name="Ideas").update(
        name="<script>alert(1)</script>", baseline=6, target=6
    )
    client.force_login(org.sales_manager)
    # When the home page is opened
    html = client.get(reverse("home")).content.decode()
    # Then the name in the reason is text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_formatting_helpers():
    # Given values in units the registry knows and does not, and scopes
    # When formatted
    # Then they read as people write them
    assert value_text(0.6154, "percent") == "61.5%"
    assert value_text(245, "seconds") == "4:05"
    assert value_text(3.456, "calls") == "3.46 calls"
    assert value_text(None, "calls") == "no data"
    assert value_text(1234.5, "") == "1,234.5"
    assert points_text(0.034, 1) == "+3.4 pts" and points_text(-0.02) == "−2 pts"
    assert scope_text("department") == "" and scope_text("company") == "company-wide"
    assert scope_text("cascaded from Sales") == "cascaded from Sales"


# ---- how fresh the stored KPI values are ---------------------------------------------------------

METRIC_CARD = {
    "name": "Metric card",
    "mission": "Count",
    "perspectives": [
        {
            "name": "Financial",
            "goals": [
                {
                    "name": "Grow",
                    "indicators": [
                        {"name": "Revenue", "metric": "revenue", "baseline": 0, "target": 100},
                        {"name": "Orders", "metric": "orders", "baseline": 0, "target": 10},
                    ],
                }
            ],
        }
    ],
}


def _stored(metric, department, value, computed_at):
    from datetime import date

    from crm_scorecard.metrics.api import Grain, KpiValue

    row = KpiValue.objects.create(
        metric=metric,
        grain=Grain.MONTH,
        period_start=date(2026, 1, 1),
        department=department,
        value=value,
    )
    # computed_at is stamped on save: set it afterwards, as a computation at that time would
    KpiValue.objects.filter(pk=row.pk).update(computed_at=computed_at)


@override_settings(TIME_ZONE="UTC")
def test_scorecard_says_when_its_kpis_were_computed(client, org):
    from datetime import UTC, datetime

    # Given a scorecard of two metric indicators whose January values were computed at two
    # times, and another metric's value computed later (not on this scorecard)
    card = scorecard_import(card=files.parse(METRIC_CARD), department=org.sales)
    _stored("revenue", org.sales, 50.0, datetime(2026, 2, 1, 3, 0, tzinfo=UTC))
    _stored("orders", org.sales, 4.0, datetime(2026, 2, 1, 3, 7, tzinfo=UTC))
    _stored("nps", org.sales, 10.0, datetime(2026, 2, 9, 9, 9, tzinfo=UTC))
    client.force_login(org.sales_manager)
    # When the manager opens January
    html = client.get(reverse("scorecard-detail", args=[card.pk]) + "?period=2026-01")
    # Then the page says between which times the numbers it shows were computed
    text = html.content.decode()
    assert "KPIs for 2026-01 computed between 2026-02-01 03:00 and 2026-02-01 03:07 UTC" in text
    assert "2026-02-09" not in text


@override_settings(TIME_ZONE="UTC")
def test_scorecard_says_when_nothing_is_computed_yet_and_nothing_for_manual_ones(client, org, card):
    from datetime import UTC, datetime

    # Given a metric scorecard with nothing stored for January, one value stored for
    # December, and the manual-value card
    metric_card = scorecard_import(card=files.parse(METRIC_CARD), department=org.sales)
    client.force_login(org.sales_manager)
    url = reverse("scorecard-detail", args=[metric_card.pk])
    # When January is opened, then it says nothing is computed for it (no "0", no time)
    assert (
        "No KPIs computed for 2026-01 yet" in client.get(url + "?period=2026-01").content.decode()
    )
    # And with the one value computed, the time of that one computation
    _stored("revenue", org.sales, 50.0, datetime(2026, 2, 1, 3, 0, tzinfo=UTC))
    html = client.get(url + "?period=2026-01").content.decode()
    assert "KPIs for 2026-01 computed at 2026-02-01 03:00 UTC" in html
    # And a scorecard of manual values only says nothing about KPI computations
    manual = client.get(reverse("scorecard-detail", args=[card.pk]) + "?period=2026-01")
    assert "computed" not in manual.content.decode()


@pytest.mark.django_db(transaction=True)  # the metrics engine reads over its own connection
def test_pages_read_the_mirror_as_it_is_and_never_copy_tables(client, org):
    from datetime import UTC, datetime

    from crm_scorecard.crm import models as m
    from crm_scorecard.metrics.api import mirror_stale, mirror_sync

    from .factories import CustomerFactory

    # Given Sales' revenue scorecard, January orders of 40 copied to the columnar mirror,
    # and then one more order of 60 the mirror has not seen
    card = scorecard_import(card=files.parse(METRIC_CARD), department=org.sales)
    customer = CustomerFactory(department=org.sales, region="North")

    def order(ref, amount):
        placed = m.Order.objects.create(
            external_id=ref, customer=customer, ordered_at=datetime(2026, 1, 15, tzinfo=UTC)
        )
        m.OrderLine.objects.create(order=placed, line_no=1, amount=amount)

    order("O-1", 40)
    mirror_sync()
    order("O-2", 60)
    stale = mirror_stale()
    assert stale != []
    revenue = Indicator.objects.get(goal__perspective__scorecard=card, name="Revenue")
    client.force_login(org.sales_manager)
    # When the manager opens home, the scorecard, and Revenue broken down by region
    pages = [
        reverse("home"),
        reverse("scorecard-detail", args=[card.pk]) + "?period=2026-01",
        reverse("indicator-detail", args=[revenue.pk]) + "?period=2026-01&by=region",
    ]
    answers = [client.get(url) for url in pages]
    # Then every page answers, the breakdown shows what the mirror holds (40, not 100), and
    # no table was copied: the mirror is exactly as stale as before
    assert [a.status_code for a in answers] == [200, 200, 200]
    breakdown = answers[2].content.decode().split("<h2>Breakdown", 1)[-1].split("</section>")[0]
    cells = [text.strip() for text in re.findall(r">([^<>]*)<", breakdown) if text.strip()]
    # (the cells' texts: "100" inside an indicator id in a link once passed for the value)
    assert cells[cells.index("North") + 1 :] == ["€40"], cells
    assert mirror_stale() == stale


def test_dimensions_a_metrics_file_adds_are_offered_by_the_pages(
    client, org, monkeypatch, tmp_path
):
    # Given Sales' metric scorecard, and a metrics file adding a basket size to order lines
    card = scorecard_import(card=files.parse(METRIC_CARD), department=org.sales)
    revenue = Indicator.objects.get(goal__perspective__scorecard=card, name="Revenue")
    client.force_login(org.sales_manager)
    edit = reverse("indicator-edit", args=[revenue.pk])
    page = reverse("indicator-detail", args=[revenue.pk])
    option = '<option value="basket"'
    assert option not in client.get(edit).content.decode()
    path = tmp_path / "metrics.yaml"
    path.write_text(
        "dimensions:\n"
        "  - name: basket\n"
        "    source: order_lines\n"
        "    expression: \"'large' if amount >= 100 else 'small'\"\n"
    )
    monkeypatch.setenv("METRICS_FILE", str(path))
    # When the indicator's edit form and its page are opened
    form, detail = client.get(edit), client.get(page)
    # Then both offer the new dimension: to filter on, and to break down by
    assert option in form.content.decode()
    assert option in detail.content.decode()
