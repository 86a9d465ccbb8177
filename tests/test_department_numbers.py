"""A department's numbers are its subtree's: hand-computed values for a parent department and
each child, for a count, a ratio, a median and retention; stored per department, read by the
department's scorecards, and never shown on a sibling's card.

The company (January to March 2026): T-Sales with sub-departments T-East and T-West, and
T-Service beside it.
  customers: e1, e2 (T-East), w1 (T-West), s1 (T-Service)
  orders:    Jan e1 100, e2 40, w1 50;  Feb e1 200, e2 60, s1 500;  Mar e2 40, w1 30
  complaints resolved in January: T-East 10 h and 20 h, T-West 4 h, T-Service 100 h
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from crm_scorecard.accounts.models import Department, Level
from crm_scorecard.crm import models as m
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine
from crm_scorecard.metrics.models import KpiValue
from crm_scorecard.metrics.services import kpi_compute
from crm_scorecard.scorecards import files, scoring
from crm_scorecard.scorecards import services as svc
from crm_scorecard.scorecards.models import Indicator

from .factories import UserFactory

pytestmark = pytest.mark.django_db
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)

# metric -> department -> January, February, March (None: no data)
EXPECTED: dict[str, dict[str, list[float | None]]] = {
    "orders": {
        "T-East": [2, 2, 1],
        "T-West": [1, 0, 1],
        "T-Sales": [3, 2, 2],
        "T-Service": [0, 1, 0],
    },
    "revenue": {
        "T-East": [140, 260, 40],
        "T-West": [50, 0, 30],
        "T-Sales": [190, 260, 70],
        "T-Service": [0, 500, 0],
    },
    # a ratio: revenue / orders of the subtree's own orders, not the children's average
    # (T-Sales in January: 190 / 3, where the children's average would be (70 + 50) / 2)
    "average_order_value": {
        "T-East": [70, 130, 40],
        "T-West": [50, None, 30],
        "T-Sales": [190 / 3, 130, 35],
        "T-Service": [None, 500, None],
    },
    # retention: of those active last month, the share active again (Jan has no last month)
    # T-East {e1,e2} -> {e1,e2} -> {e2}; T-West {w1} -> {} -> {w1};
    # T-Sales {e1,e2,w1} -> {e1,e2} -> {e2,w1}
    "retention_rate": {
        "T-East": [None, 1.0, 0.5],
        "T-West": [None, 0.0, None],
        "T-Sales": [None, 2 / 3, 0.5],
        # T-Service: s1 only in Feb; Feb has no one active before it, Mar 0 of 1
        "T-Service": [None, None, 0.0],
    },
    # a median over the subtree's complaints: T-Sales median(10, 20, 4) = 10, not 9.5
    # (complaints cover January alone: later months are not covered, so absent)
    "complaint_resolution_hours": {
        "T-East": [15],
        "T-West": [4],
        "T-Sales": [10],
        "T-Service": [100],
    },
}


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture(scope="module")
def tree(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        sales = Department.objects.create(name="T-Sales")
        east = Department.objects.create(name="T-East", parent=sales)
        west = Department.objects.create(name="T-West", parent=sales)
        service = Department.objects.create(name="T-Service")
        people = {}
        for key, dept, region in [
            ("e1", east, "North"),
            ("e2", east, "South"),
            ("w1", west, "North"),
            ("s1", service, "North"),
        ]:
            people[key] = m.Customer.objects.create(
                external_id=f"T{key}", full_name=key, department=dept, region=region
            )
        for n, (who, day, amount) in enumerate(
            [
                ("e1", "2026-01-10", "100"),
                ("e2", "2026-01-11", "40"),
                ("w1", "2026-01-12", "50"),
                ("e1", "2026-02-10", "200"),
                ("e2", "2026-02-11", "60"),
                ("s1", "2026-02-12", "500"),
                ("e2", "2026-03-10", "40"),
                ("w1", "2026-03-11", "30"),
            ]
        ):
            order = m.Order.objects.create(
                external_id=f"TO{n}", customer=people[who], ordered_at=at(day)
            )
            m.OrderLine.objects.create(order=order, line_no=1, amount=Decimal(amount))
        for n, (who, dept, hours) in enumerate(
            [("e1", east, 10), ("e2", east, 20), ("w1", west, 4), ("s1", service, 100)]
        ):
            opened = at("2026-01-05", 0)
            m.Complaint.objects.create(
                external_id=f"TK{n}",
                customer=people[who],
                category="billing",
                department=dept,
                opened_at=opened,
                resolved_at=opened + timedelta(hours=hours),
            )
        # Records whose own department differs from their customer's, one per source:
        # e1 (T-East) calls T-Service; s1 (T-Service) complains about T-West; w1 rates us;
        # a T-East lead; a T-West employee who answers the engagement survey.
        m.Interaction.objects.create(
            external_id="TI1",
            customer=people["e1"],
            department=service,
            channel="call",
            started_at=at("2026-01-15"),
        )
        m.Complaint.objects.create(
            external_id="TK9",
            customer=people["s1"],
            category="service",
            department=west,
            opened_at=at("2026-01-20"),
        )
        m.Feedback.objects.create(
            external_id="TF1", customer=people["w1"], submitted_at=at("2026-01-16"), rating=4
        )
        m.Lead.objects.create(external_id="TL1", created_at=at("2026-01-03"), department=east)
        worker = m.Employee.objects.create(
            external_id="TE1", full_name="T Worker", department=west, hired_at=date(2025, 6, 1)
        )
        m.EngagementAnswer.objects.create(employee=worker, answered_at=at("2026-01-21"), rating=4)
    yield {"sales": sales, "east": east, "west": west, "service": service}
    with django_db_blocker.unblock():
        m.EngagementAnswer.objects.filter(employee__external_id="TE1").delete()
        m.Employee.objects.filter(external_id="TE1").delete()
        m.Lead.objects.filter(external_id="TL1").delete()
        m.Feedback.objects.filter(external_id="TF1").delete()
        m.Interaction.objects.filter(external_id="TI1").delete()
        m.OrderLine.objects.filter(order__external_id__startswith="TO").delete()
        m.Order.objects.filter(external_id__startswith="TO").delete()
        m.Complaint.objects.filter(external_id__startswith="TK").delete()
        m.Customer.objects.filter(external_id__startswith="T").delete()
        Department.objects.filter(parent__isnull=False, name__startswith="T-").delete()
        Department.objects.filter(name__startswith="T-").delete()


# Which department each source's records count for (README, "Whose numbers"): January,
# department -> value, for a count over each source
OWNERS = {
    # orders and order lines: the customer's department
    "orders": {"T-East": 2, "T-West": 1, "T-Sales": 3, "T-Service": 0},
    # interactions: the department that handled the contact (T-Service), not the customer's
    "interactions": {"T-East": 0, "T-Sales": 0, "T-Service": 1},
    # feedback: the customer's department
    "rated_feedback": {"T-West": 1, "T-Sales": 1, "T-East": 0},
    # complaints: the department responsible (TK9 is T-West's, about a T-Service customer)
    "complaints": {"T-East": 2, "T-West": 2, "T-Sales": 4, "T-Service": 1},
    # leads: the lead's own department
    "leads": {"T-East": 1, "T-Sales": 1, "T-West": 0},
    # employees and their engagement answers: the employee's department
    "headcount": {"T-West": 1, "T-Sales": 1, "T-East": 0},
    "employee_engagement": {"T-West": 4, "T-Sales": 4},
}


@pytest.mark.parametrize("key", sorted(OWNERS))
def test_each_sources_records_count_for_the_documented_department(tree, key):
    # Given the engine over the company
    with Engine(connect("app"), registry()) as engine:
        for dept, expected in OWNERS[key].items():
            # When the source's count is filtered to a department
            got = engine.compute(key, filters={"department": dept}, since=JAN, until=JAN)
            # Then the record counts for the department the README names
            assert _months(got) == [expected], (key, dept)


def _months(rows) -> list[float | None]:
    return [v for _, _, v in rows]


CASES = [(key, dept) for key in EXPECTED for dept in EXPECTED[key]]


@pytest.mark.parametrize("choice", ["app", "duckdb"])
def test_a_department_filter_is_its_subtree(tree, choice):
    # Given the engine over the company
    with Engine(connect(choice), registry()) as engine:
        for key, dept in CASES:
            # When a metric is filtered to one department
            got = engine.compute(key, filters={"department": dept}, since=JAN, until=MAR)
            # Then it is that department's subtree, worked out on the subtree's records
            assert _months(got) == pytest.approx(EXPECTED[key][dept], abs=1e-9), (key, dept)


@pytest.mark.parametrize("choice", ["app", "duckdb"])
def test_a_department_breakdown_rolls_each_subtree_up_in_one_query(tree, choice):
    # Given the engine over the company
    with Engine(connect(choice), registry()) as engine:
        for key in EXPECTED:
            # When a metric is broken down by department
            rows = engine.compute(key, by="department", since=JAN, until=MAR)
            # Then each department's row is its whole subtree's (parents included)
            for dept, expected in EXPECTED[key].items():
                got = [v for _, d, v in rows if d == dept]
                assert got == pytest.approx(expected, abs=1e-9), (key, dept)


def test_stored_values_hold_one_series_per_department_subtree(tree):
    # Given the KPIs computed and stored
    kpi_compute(metrics=list(EXPECTED), since=JAN, until=MAR)
    for key, dept in CASES:
        # When a department's stored series is read
        stored = dict(
            KpiValue.objects.filter(metric=key, department__name=dept, dimension="").values_list(
                "period_start", "value"
            )
        )
        # Then it is the hand-computed subtree series
        got = [stored.get(day) for day in (JAN, FEB, MAR)][: len(EXPECTED[key][dept])]
        assert got == pytest.approx(EXPECTED[key][dept], abs=1e-9), (key, dept)
    # And the company-wide series is stored apart
    company = KpiValue.objects.get(
        metric="revenue", department=None, dimension="", period_start=FEB
    )
    assert company.value == 760


CARD = {
    "name": "Numbers",
    "perspectives": [
        {
            "name": "Financial",
            "goals": [
                {
                    "name": "Sell",
                    "indicators": [
                        {"name": "Revenue", "metric": "revenue", "baseline": 0, "target": 1000},
                        {
                            "name": "Order value",
                            "metric": "average_order_value",
                            "baseline": 0,
                            "target": 200,
                        },
                        {
                            "name": "Kept",
                            "metric": "retention_rate",
                            "baseline": 0,
                            "target": 1,
                        },
                        {
                            "name": "Resolution",
                            "metric": "complaint_resolution_hours",
                            "optimization": "minimize",
                            "baseline": 200,
                            "target": 1,
                        },
                    ],
                }
            ],
        }
    ],
}
INDICATOR_METRIC = {
    "Revenue": "revenue",
    "Order value": "average_order_value",
    "Kept": "retention_rate",
    "Resolution": "complaint_resolution_hours",
}


def _values(card, period: str) -> dict[str, float | None]:
    result = scoring.evaluate(svc.scorecard_scoring(card), period=period)
    return {n.name: n.value for n in result.walk() if n.kind == "indicator"}


@pytest.mark.parametrize("period,index", [("2026-01", 0), ("2026-02", 1), ("2026-03", 2)])
def test_each_scorecard_shows_its_own_departments_numbers(tree, period, index):
    # Given a scorecard for the parent and for each child, and the KPIs stored
    cards = {
        name: svc.scorecard_import(card=files.parse(CARD), department=tree[key])
        for key, name in [("sales", "T-Sales"), ("east", "T-East"), ("west", "T-West")]
    }
    kpi_compute(metrics=list(INDICATOR_METRIC.values()), since=JAN, until=MAR)
    for dept, card in cards.items():
        # When a department's scorecard is scored
        shown = _values(card, period)
        # Then every indicator shows that department's subtree number for the period
        # ("no data" where the subtree has none; the latest where the period is not covered)
        for name, key in INDICATOR_METRIC.items():
            series = EXPECTED[key][dept]
            expected = series[min(index, len(series) - 1)]
            assert shown[name] == pytest.approx(expected, abs=1e-9), (dept, name, period)


def test_a_childs_number_never_appears_on_a_siblings_card(tree):
    # Given East's and West's scorecards
    east = svc.scorecard_import(card=files.parse(CARD), department=tree["east"])
    west = svc.scorecard_import(card=files.parse(CARD), department=tree["west"])
    kpi_compute(metrics=["revenue"], since=JAN, until=MAR)
    # When both are scored for January
    # Then each shows its own revenue, never the other's or the company's
    assert _values(east, "2026-01")["Revenue"] == 140
    assert _values(west, "2026-01")["Revenue"] == 50


def test_the_api_shows_an_agent_their_departments_numbers_only(client, tree):
    # Given West's and East's scorecards, and an agent of West
    west = svc.scorecard_import(card=files.parse(CARD), department=tree["west"])
    east = svc.scorecard_import(card=files.parse(CARD), department=tree["east"])
    kpi_compute(metrics=["revenue"], since=JAN, until=MAR)
    agent = UserFactory(username="t-west-agent", level=Level.AGENT, departments=[tree["west"]])
    client.force_login(agent)
    # When the agent reads West's scorecard
    data = client.get(f"/api/scorecards/{west.pk}?period=2026-01").json()
    revenue = data["perspectives"][0]["goals"][0]["indicators"][0]
    # Then it shows West's revenue, scoped as the department's
    assert (revenue["name"], revenue["value"], revenue["scope"]) == ("Revenue", 50, "department")
    assert revenue["metric"] == "revenue"
    # And East's scorecard is not there for them
    assert client.get(f"/api/scorecards/{east.pk}").status_code == 404


def test_a_manager_cannot_read_another_departments_data_through_an_indicator(tree):
    # Given a manager of T-Sales and its scorecard
    manager = UserFactory(username="t-manager", level=Level.MANAGER, departments=[tree["sales"]])
    card = svc.scorecard_import(card=files.parse(CARD), department=tree["sales"])
    goal = card.perspectives.get().goals.get()
    before = Indicator.objects.count()
    # When they define an indicator filtered to a department outside T-Sales
    outside = Indicator(
        goal=goal,
        name="Their calls",
        metric="revenue",
        filter_dimension="department",
        filter_value="T-Service",
        baseline=0,
        target=1,
    )
    # Then it is refused with the reason, and nothing is written
    with pytest.raises(svc.ScopeError, match="not T-Sales or one of its sub-departments"):
        svc.indicator_save(indicator=outside, actor=manager)
    # And a company-wide number is refused to a manager
    company = Indicator(
        goal=goal, name="Company", metric="revenue", scope="company", baseline=0, target=1
    )
    with pytest.raises(svc.ScopeError, match="only an executive"):
        svc.indicator_save(indicator=company, actor=manager)
    assert Indicator.objects.count() == before
    # And a sub-department's number is allowed
    inside = Indicator(
        goal=goal,
        name="East",
        metric="revenue",
        filter_dimension="department",
        filter_value="T-East",
        baseline=0,
        target=1,
    )
    svc.indicator_save(indicator=inside, actor=manager)
    kpi_compute(metrics=["revenue"], since=JAN, until=MAR)
    assert _values(card, "2026-02")["East"] == 260


def test_an_executive_publishes_a_company_number_labelled_as_such(tree):
    # Given an executive and T-East's scorecard
    ceo = UserFactory(username="t-ceo", level=Level.EXECUTIVE)
    card = svc.scorecard_import(card=files.parse(CARD), department=tree["east"])
    goal = card.perspectives.get().goals.get()
    # When they add a company-wide revenue indicator
    svc.indicator_save(
        indicator=Indicator(
            goal=goal, name="Company", metric="revenue", scope="company", baseline=0, target=1
        ),
        actor=ceo,
    )
    kpi_compute(metrics=["revenue"], since=JAN, until=MAR)
    # Then the card shows the company's revenue beside East's own, each labelled
    result = scoring.evaluate(svc.scorecard_scoring(card), period="2026-02")
    shown = {n.name: (n.value, n.indicator.scope) for n in result.walk() if n.kind == "indicator"}
    assert shown["Company"] == (760, "company")
    assert shown["Revenue"] == (260, "department")


def test_scorecard_show_agrees_with_metrics_show(tree):
    # Given East's scorecard and the KPIs stored
    svc.scorecard_import(card=files.parse(CARD), department=tree["east"])
    kpi_compute(metrics=list(INDICATOR_METRIC.values()), since=JAN, until=MAR)
    # When the stored scorecard is shown as JSON
    out = io.StringIO()
    call_command(
        "scorecard",
        "show",
        "Numbers",
        "--department",
        "T-East",
        "--period",
        "2026-02",
        "--json",
        stdout=out,
    )
    tree_json = json.loads(out.getvalue())
    indicators = tree_json["perspectives"][0]["goals"][0]["indicators"]
    for ind in indicators:
        # Then each indicator's headline equals `metrics show KEY --filter department=T-East`
        live = io.StringIO()
        call_command(
            "metrics",
            "show",
            ind["metric"],
            "--filter",
            "department=T-East",
            "--since",
            "2026-02",
            "--until",
            "2026-02",
            "--json",
            stdout=live,
        )
        points = json.loads(live.getvalue())
        if points:
            assert ind["value"] == pytest.approx(points[0]["value"]), ind["name"]
        else:  # the month is not covered: the card shows the latest value, marked stale
            assert (ind["period"], ind["stale"]) == ("2026-01", True), ind["name"]
        assert ind["scope"] == "department"
    assert [i["value"] for i in indicators][:2] == [260, 130]


def test_a_filtered_indicator_reads_its_departments_slice(tree):
    # Given T-Sales' and T-East's scorecards, each with revenue in the North region
    # (North customers: e1 in T-East, w1 in T-West, s1 in T-Service)
    north = {"name": "North", "metric": "revenue", "filter": {"region": "North"}}
    card = {
        "name": "Regions",
        "perspectives": [
            {
                "name": "Financial",
                "goals": [{"name": "Sell", "indicators": [{**north, "baseline": 0, "target": 1}]}],
            }
        ],
    }
    sales = svc.scorecard_import(card=files.parse(card), department=tree["sales"])
    east = svc.scorecard_import(card=files.parse(card), department=tree["east"])
    # When the KPIs are computed as `compute` does (it stores the slices scorecards ask for)
    call_command(
        "compute",
        "--metric",
        "revenue",
        "--since",
        "2026-01",
        "--until",
        "2026-03",
        "--no-progress",
        stdout=io.StringIO(),
    )
    # Then each card reads its own department's North revenue: January T-Sales e1 100 +
    # w1 50 (not s1, another department's), T-East e1 100; February T-Sales e1 200 only
    assert _values(sales, "2026-01")["North"] == 150
    assert _values(east, "2026-01")["North"] == 100
    assert _values(sales, "2026-02")["North"] == 200


def test_a_manager_cannot_publish_a_company_number_through_a_file_upload(client, tree):
    # Given a manager of T-East, and a scorecard file with a company-wide indicator
    from django.core.files.uploadedfile import SimpleUploadedFile

    manager = UserFactory(username="t-east-boss", level=Level.MANAGER, departments=[tree["east"]])
    client.force_login(manager)
    text = (
        "name: Sneaky\nperspectives:\n  - name: Financial\n    goals:\n      - name: Sell\n"
        "        indicators:\n          - {name: All revenue, metric: revenue, scope: company,"
        " baseline: 0, target: 1}\n"
    )
    upload = SimpleUploadedFile("sneaky.yaml", text.encode(), content_type="application/yaml")
    # When they upload it for their department
    response = client.post("/scorecards/import/", {"file": upload, "department": tree["east"].pk})
    # Then it is refused with the reason, and nothing is written
    assert response.status_code == 400
    assert "only an executive" in response.content.decode()
    assert not Indicator.objects.filter(name="All revenue").exists()
