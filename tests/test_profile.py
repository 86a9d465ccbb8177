"""The customer profile (metrics.profile) and its faces: exact figures for the tiny company of
tests/profile_data.py, worked out by hand there, on the app database and on the default
engine (DuckDB over the columnar mirror); the share of the row; the page, its CSV, the API
and the command, each within the caller's departments."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from crm_scorecard.errors import Invalid
from crm_scorecard.metrics.api import customer_profile, engine_for

from . import profile_data

SINCE, UNTIL = profile_data.RANGE
RANGE = {"since": SINCE, "until": UNTIL}
ENGINES = ["app", "auto"]
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def company(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        org = profile_data.build()
    yield org
    with django_db_blocker.unblock():
        profile_data.clear()


@pytest.fixture
def engine(request, company, db):
    with engine_for(engine=request.param) as e:
        yield e


def table(profile) -> dict[tuple[str, ...], tuple[int, int, float, int]]:
    """(customers, active customers, revenue, orders) by the dimensions' values."""
    return {r.values: (r.customers, r.active_customers, r.revenue, r.orders) for r in profile.rows}


# ---- the figures ----------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_one_dimension_with_a_filter_and_a_range(engine):
    # Given the company, when profiled by region for Germany in the first half of 2026
    profile = customer_profile(engine=engine, by=["region"], filters={"country": "DE"}, **RANGE)
    # Then North has P1, P2, P4 (3), of whom P1 (O2: 200 + 20) and P2 (O3: 500) ordered in
    # the range; South has P5 (O5: 150). P3 is Austrian; O1 and O6 fall outside the range.
    assert table(profile) == {
        ("North",): (3, 2, 720.0, 2),
        ("South",): (1, 1, 150.0, 1),
    }


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_two_dimensions_by_an_order_dimension_count_who_bought_there(engine):
    # Given the company, when profiled by product category and age bracket for Germany in
    # the range (ages on the range's last day: P1 36, P2 66, P5 40)
    profile = customer_profile(
        engine=engine, by=["product_category", "age_bracket"], filters={"country": "DE"}, **RANGE
    )
    # Then customers are those who ever bought in the cell, the rest is dated in the range:
    # Devices 35-44: P1 (O1 before, O2 200) and P5 (O5 150); Devices 65+: P2 (O3 500);
    # Accessories 35-44: P1 (O2 20); Accessories 65+: P2 bought only in July (O6): 0 active.
    assert table(profile) == {
        ("Devices", "35-44"): (2, 2, 350.0, 2),
        ("Devices", "65+"): (1, 1, 500.0, 1),
        ("Accessories", "35-44"): (1, 1, 20.0, 1),
        ("Accessories", "65+"): (1, 0, 0.0, 0),
    }
    # and P4 (under 25) bought nothing: no row, so the heat map shows no data, not 0
    grid = profile.grid("revenue")
    assert grid.rows == ["Devices", "Accessories"]  # by revenue: 850, 20
    assert grid.columns == ["35-44", "65+"]  # by age
    assert grid.cells == [[350.0, 500.0], [20.0, 0.0]]


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_customers_own_dimensions_keep_the_unknown_and_the_real_zeros(engine):
    # Given the company, when profiled by age bracket and acquisition channel in the range
    profile = customer_profile(engine=engine, by=["age_bracket", "acquisition_channel"], **RANGE)
    # Then every customer counts once; P3's unknown birth date is its own group; P4 (under
    # 25, no order) is a row of real zeros
    assert table(profile) == {
        ("35-44", "web"): (1, 1, 220.0, 1),
        ("35-44", "fair"): (1, 1, 150.0, 1),
        ("65+", "referral"): (1, 1, 500.0, 1),
        ("(unknown)", "web"): (1, 1, 40.0, 1),
        ("under 25", "web"): (1, 0, 0.0, 0),
    }


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_filter_on_an_order_dimension(engine):
    # Given the company, when profiled by region for online orders in the range
    profile = customer_profile(engine=engine, by=["region"], filters={"channel": "online"}, **RANGE)
    # Then North: P1 (O1, O2) and P2 (O6) bought online, P1 in the range (O2: 220);
    # South: P3 (O4: 40). P5 bought by phone.
    assert table(profile) == {
        ("North",): (2, 1, 220.0, 1),
        ("South",): (1, 1, 40.0, 1),
    }


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_departments_count_their_whole_subtree(engine):
    # Given the company, when profiled by department over all dates
    profile = customer_profile(engine=engine, by=["department"])
    # Then Sales holds Field Sales' P2 too: P1, P2, P4, P5; revenue 100+220 + 500+60 + 150
    assert table(profile) == {
        ("Sales",): (4, 3, 1030.0, 5),
        ("Field Sales",): (1, 1, 560.0, 2),
        ("Customer Service",): (1, 1, 40.0, 1),
    }


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_every_customer_dimension_of_the_semantic_model_is_offered(engine):
    # Given the customer's dimensions the semantic model declares (other parts of the
    # product add theirs there: RFM segments, value bands)
    from crm_scorecard.metrics import semantic
    from crm_scorecard.metrics.api import profile_dimensions

    names = [d.name for d in semantic.CUSTOMER]
    assert set(names) <= set(profile_dimensions())
    for name in names:
        if name in ("department", "region", "age_bracket"):
            continue  # hand-computed above
        # When the company is profiled by it (no RFM scores or value fit are stored here)
        profile = customer_profile(engine=engine, by=[name])
        # Then every customer counts once, and all of the company's orders are there
        assert sum(r.customers for r in profile.rows) == 5, name
        assert sum(r.active_customers for r in profile.rows) == 4, name  # P4 never bought
        assert sum(r.revenue for r in profile.rows) == 1070.0, name
        assert sum(r.orders for r in profile.rows) == 6, name


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_nobody_matches_is_no_data(engine):
    profile = customer_profile(engine=engine, by=["region"], filters={"country": "FR"})
    assert profile.rows == []


def test_share_of_the_row(company, db):
    # Given the two-dimension profile of the test above
    profile = customer_profile(
        by=["product_category", "age_bracket"], filters={"country": "DE"}, **RANGE
    )
    # When shown as each cell's share of its row's revenue
    grid = profile.grid("revenue", share=True)
    # Then Devices: 350 and 500 of 850; Accessories: 20 of 20 and 0
    assert grid.cells == [[350 / 850, 500 / 850], [1.0, 0.0]]
    # and by customers: Devices 2 and 1 of 3; Accessories 1 and 1 of 2
    assert profile.grid("customers", share=True).cells == [[2 / 3, 1 / 3], [0.5, 0.5]]
    # and one dimension's share is of the total
    one = customer_profile(by=["region"], filters={"country": "DE"}, **RANGE)
    assert one.shares("revenue") == {("North",): 720 / 870, ("South",): 150 / 870}


def test_the_scope_is_the_users_departments(company, db):
    # Given Sales' manager (Sales and Field Sales) and a Customer Service agent
    # When each profiles by region over all dates
    sales = customer_profile(user=company.sales_manager, by=["region"])
    service = customer_profile(user=company.service_agent, by=["region"])
    # Then each sees their own customers only
    assert table(sales) == {("North",): (3, 2, 880.0, 4), ("South",): (1, 1, 150.0, 1)}
    assert table(service) == {("South",): (1, 1, 40.0, 1)}


@pytest.mark.parametrize(
    ("by", "filters", "message"),
    [
        (["regoin"], {}, "did you mean 'region'?"),
        (["region"], {"age_braket": "65+"}, "did you mean 'age_bracket'?"),
        (["region", "region"], {}, "must differ"),
        (["region", "city", "country"], {}, "one or two"),
    ],
)
def test_bad_requests_say_why(company, db, by, filters, message):
    with pytest.raises(Invalid, match=message.replace("?", r"\?")):
        customer_profile(by=by, filters=filters)


def test_a_range_that_ends_before_it_starts(company, db):
    with pytest.raises(Invalid, match="ends"):
        customer_profile(by=["region"], since=UNTIL, until=SINCE)


# ---- the page and its CSV -------------------------------------------------------------------

PAGE = "/profile/?by=product_category&by2=age_bracket&measure=revenue&fdim=country&fval=DE"
PAGE += "&since=2026-01-01&until=2026-06-30"


def chart(response) -> dict:
    html = response.content.decode()
    start = html.index('id="profile-data"')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_the_page_draws_a_heat_map_and_its_table(client, company):
    # Given Sales' manager signed in, when they open the profile of categories by age
    client.force_login(company.sales_manager)
    response = client.get(PAGE + "&share=1")
    # Then the heat map holds each cell's share of its row, and no-data cells apart
    assert response.status_code == 200
    data = chart(response)
    assert data["kind"] == "heatmap"
    assert data["rows"] == ["Devices", "Accessories"] and data["columns"] == ["35-44", "65+"]
    assert data["cells"] == [
        [0, 0, 350 / 850, "41.2%"],
        [1, 0, 500 / 850, "58.8%"],
        [0, 1, 1.0, "100%"],
        [1, 1, 0.0, "0%"],
    ]
    assert data["empty"] == []
    html = response.content.decode()
    assert '<table class="grid" id="profile-table">' in html and ">€350<" in html


def test_one_dimension_is_a_sorted_bar_chart(client, company):
    client.force_login(company.executive)
    response = client.get("/profile/?by=city&by2=&measure=customers")
    data = chart(response)
    assert data["kind"] == "bar"
    assert data["labels"][0] == "Berlin" and data["values"][0] == 2  # P1 and P4
    assert sorted(data["labels"]) == sorted(["Berlin", "Hamburg", "Wien", "=cmd()"])


def test_no_customers_is_a_visible_no_data(client, company):
    client.force_login(company.executive)
    response = client.get("/profile/?by=region&fdim=country&fval=FR")
    assert response.status_code == 200
    assert "No data." in response.content.decode()
    assert 'id="profile-data"' not in response.content.decode()


def test_a_bad_dimension_on_the_page_says_why(client, company):
    client.force_login(company.executive)
    response = client.get("/profile/?by=regoin")
    assert response.status_code == 400
    assert "did you mean &#x27;region&#x27;?" in response.content.decode()


def test_the_csv_is_the_table_formula_safe(client, company):
    # Given Sales' manager, when they download the profile by city
    client.force_login(company.sales_manager)
    response = client.get("/profile.csv?by=city&since=2026-01-01&until=2026-06-30")
    # Then it is an attachment named after the breakdown, with every row of their customers,
    # the city "=cmd()" as text
    assert response.status_code == 200
    assert 'filename="customer-profile-city.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["city", "customers", "active_customers", "revenue", "orders"]
    assert sorted(rows[1:]) == sorted(
        [
            ["Berlin", "2", "1", "220", "1"],
            ["Hamburg", "1", "1", "500", "1"],
            ["'=cmd()", "1", "1", "150", "1"],
        ]
    )


def test_the_csv_of_shares(client, company):
    client.force_login(company.executive)
    response = client.get("/profile.csv?" + PAGE.split("?", 1)[1] + "&share=1")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][-1] == "share_of_row_revenue"
    assert rows[1][:2] == ["Devices", "65+"] and float(rows[1][-1]) == pytest.approx(500 / 850)


@pytest.mark.parametrize("url", ["/profile/?by=region", "/profile.csv?by=region"])
def test_the_page_and_csv_need_a_sign_in(client, company, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url", ["/profile/?by=city&by2=", "/profile.csv?by=city"])
def test_another_departments_customers_never_show(client, company, url):
    # Given the Customer Service agent, whose only customer is P3 in Wien
    client.force_login(company.service_agent)
    # When they open the profile by city, or its CSV
    body = client.get(url).content.decode("utf-8-sig")
    # Then Sales' cities appear nowhere
    assert "Wien" in body
    for city in ("Berlin", "Hamburg", "cmd()"):
        assert city not in body


# ---- the API --------------------------------------------------------------------------------


def test_the_api_answers_the_profile(client, company):
    client.force_login(company.sales_manager)
    response = client.get(
        "/api/profile?by=region&filter=country=DE&since=2026-01-01&until=2026-06-30"
        "&measure=revenue&share=true"
    )
    assert response.status_code == 200
    assert response.json() == {
        "by": ["region"],
        "filters": [{"dimension": "country", "value": "DE"}],
        "since": "2026-01-01",
        "until": "2026-06-30",
        "measure": "revenue",
        "rows": [
            {
                "values": ["North"],
                "customers": 3,
                "active_customers": 2,
                "revenue": 720.0,
                "orders": 2,
                "share": 720 / 870,
            },
            {
                "values": ["South"],
                "customers": 1,
                "active_customers": 1,
                "revenue": 150.0,
                "orders": 1,
                "share": 150 / 870,
            },
        ],
    }


def test_the_api_keeps_to_the_callers_departments(client, company):
    client.force_login(company.service_agent)
    rows = client.get("/api/profile?by=city").json()["rows"]
    assert [r["values"] for r in rows] == [["Wien"]]


def test_the_api_refuses_a_bad_dimension_with_a_suggestion(client, company):
    client.force_login(company.executive)
    response = client.get("/api/profile?by=regoin")
    assert response.status_code == 422
    assert "did you mean 'region'?" in response.json()["detail"]


def test_the_api_needs_a_token_or_a_session(client, company):
    assert client.get("/api/profile?by=region").status_code == 401


def test_the_api_lists_dimensions_and_measures(client, company):
    client.force_login(company.executive)
    data = client.get("/api/profile/dimensions").json()
    assert {"region", "age_bracket", "product_tier", "acquisition_channel"} <= set(
        data["dimensions"]
    )
    assert [m["key"] for m in data["measures"]] == [
        "customers",
        "active_customers",
        "revenue",
        "orders",
    ]


# ---- the command ----------------------------------------------------------------------------


def test_the_command_prints_json(company, db):
    out = io.StringIO()
    call_command(
        "profile",
        "--by=region",
        "--by=age_bracket",
        "--measure=revenue",
        "--filter=country=DE",
        "--from=2026-01-01",
        "--to=2026-06-30",
        "--json",
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert [(r["values"], r["revenue"]) for r in data["rows"]] == [
        (["North", "65+"], 500.0),
        (["North", "35-44"], 220.0),
        (["South", "35-44"], 150.0),
        (["North", "under 25"], 0.0),
    ]


def test_the_command_keeps_to_a_users_departments(company, db):
    out = io.StringIO()
    call_command("profile", "--by=city", "--as=p-service-agent", "--json", stdout=out)
    assert [r["values"] for r in json.loads(out.getvalue())["rows"]] == [["Wien"]]


def test_the_command_suggests_a_dimension(company, db):
    with pytest.raises(CommandError, match=r"did you mean 'age_bracket'\?"):
        call_command("profile", "--by=age", "--json", stdout=io.StringIO())


def test_the_command_prints_a_table(company, db):
    out = io.StringIO()
    call_command("profile", "--by=segment", "--share", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == [
        "segment",
        "Customers",
        "Active",
        "customers",
        "Revenue",
        "Orders",
        "share",
        "of",
        "customers",
    ]
    assert lines[1].split()[:2] == ["consumer", "4"] and lines[1].endswith("80%")
