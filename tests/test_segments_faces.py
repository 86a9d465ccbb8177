"""Customers › Segments, Cohorts and Saved segments pages, the /api/segments endpoints and
`crm-scorecard segments`: each answers only within the caller's departments (anonymous:
sign in; another department: nothing of Sales'; refused writes write nothing)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from crm_scorecard.accounts.services import token_create
from crm_scorecard.crm.models import OrderLine
from crm_scorecard.segments import services
from crm_scorecard.segments.models import RfmScore, SavedSegment

from .factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

MAR, APR = date(2026, 3, 31), date(2026, 4, 30)


@pytest.fixture
def scored(org):
    """Two Sales customers (one a Leeds champion-to-be with a formula-like name), one
    Service customer; scores at the end of March and April; a saved Sales segment."""
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    ann = CustomerFactory(
        external_id="S1",
        full_name="=HYPERLINK(1)",
        city="Leeds",
        department=org.sales,
        acquired_at=jan,
    )
    bob = CustomerFactory(external_id="S2", full_name="Bob", department=org.sales, acquired_at=jan)
    cat = CustomerFactory(
        external_id="V1", full_name="Cat", department=org.service, acquired_at=jan
    )
    for customer, day, amount in [
        (ann, "2026-03-20", "90"),
        (ann, "2026-04-20", "60"),
        (bob, "2026-01-10", "30"),
        (cat, "2026-02-05", "45"),
    ]:
        order = OrderFactory(
            customer=customer, ordered_at=datetime.fromisoformat(day).replace(tzinfo=UTC)
        )
        OrderLine.objects.create(order=order, line_no=1, amount=Decimal(amount))
    services.rfm_refresh(as_of=MAR)
    services.rfm_refresh(as_of=APR)
    services.cohorts_refresh()
    saved = services.saved_segment_create(
        user=None, name="Leeds", filters={"city": "Leeds"}, department=org.sales
    )
    return saved


# ---- pages ------------------------------------------------------------------------------------

PAGES = ["segments", "cohorts", "saved-segments"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_ask_anonymous_to_sign_in(client, scored, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_segments_page_counts_within_the_department(client, org, scored):
    # Given Sales' manager, when they open Customers › Segments
    client.force_login(org.sales_manager)
    page = client.get(reverse("segments")).content.decode()
    # Then the table counts Sales' two customers, and the moves since March are listed
    assert 'id="segment-table"' in page
    assert 'All customers</th><th class="num">2<' in page
    assert 'id="rfm-data"' in page and 'id="rfm-chart"' in page
    assert "Moves since 31 Mar 2026" in page
    # And Customer Service's manager counts one customer, their own
    client.force_login(org.service_manager)
    page = client.get(reverse("segments")).content.decode()
    assert 'All customers</th><th class="num">1<' in page


def test_segments_page_other_date_and_bad_dates(client, org, scored):
    client.force_login(org.sales_manager)
    march = client.get(reverse("segments") + "?as_of=2026-03-31").content.decode()
    assert "These are the first scores stored" in march
    assert client.get(reverse("segments") + "?as_of=2026-02-28").status_code == 404
    assert client.get(reverse("segments") + "?as_of=soon").status_code == 400


def test_segments_page_without_scores_says_how_to_compute(client, org):
    client.force_login(org.sales_manager)
    page = client.get(reverse("segments")).content.decode()
    assert "No RFM scores yet" in page


def test_cohorts_page_is_scoped(client, org, scored):
    # Given Sales' manager, then January's cohort has Sales' two customers
    client.force_login(org.sales_manager)
    page = client.get(reverse("cohorts")).content.decode()
    assert 'id="cohort-data"' in page
    assert '<td>2026-01</td><td class="num">2</td>' in page
    # And Customer Service's has one
    client.force_login(org.service_manager)
    page = client.get(reverse("cohorts")).content.decode()
    assert '<td>2026-01</td><td class="num">1</td>' in page


def test_cohorts_page_says_when_they_were_computed(client, org, scored):
    # Given the cohorts stored (by the fixture), when Sales' manager opens the page
    client.force_login(org.sales_manager)
    page = client.get(reverse("cohorts")).content.decode()
    # Then it says as of when, and how they are computed
    assert 'id="cohorts-as-of"' in page and "As of " in page
    assert "not computed yet" not in page


def test_cohorts_page_before_the_first_refresh_says_how_to_compute(client, org):
    # Given a customer who bought, but no cohorts stored yet
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    customer = CustomerFactory(external_id="S1", department=org.sales, acquired_at=jan)
    OrderFactory(customer=customer, ordered_at=jan)
    # When Sales' manager opens the cohorts page
    client.force_login(org.sales_manager)
    page = client.get(reverse("cohorts")).content.decode()
    # Then it says they are not computed yet and what to run, and shows no table of zeros
    assert "Cohorts not computed yet" in page
    assert "crm-scorecard segments cohorts --refresh" in page
    assert 'id="retention-table"' not in page and 'id="cohort-data"' not in page
    # And the API says so too: no cohorts, computed_at null
    body = client.get("/api/segments/cohorts", **_bearer(org.sales_manager)).json()
    assert (body["computed_at"], body["cohorts"]) == (None, [])


def test_saved_segment_export_is_formula_safe_and_scoped(client, org, scored):
    # Given Sales' analyst, when they export the Leeds segment
    client.force_login(org.sales_analyst)
    listing = client.get(reverse("saved-segments")).content.decode()
    assert "Leeds" in listing
    response = client.get(reverse("saved-segment-csv", args=[scored.pk]))
    # Then a CSV file of its one customer, the formula-like name written as text
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "customer_id"
    assert rows[1][:2] == ["S1", "'=HYPERLINK(1)"]
    # And Customer Service neither lists it nor exports it (as if it did not exist)
    client.force_login(org.service_manager)
    assert "Leeds" not in client.get(reverse("saved-segments")).content.decode()
    assert client.get(reverse("saved-segment-csv", args=[scored.pk])).status_code == 404


def test_saving_a_segment_from_the_page(client, org, scored):
    # Given Sales' manager, when they save "Champions" for Sales
    client.force_login(org.sales_manager)
    response = client.post(
        reverse("saved-segments"),
        {"name": "Best", "owner": org.sales.pk, "rfm_segment": "champions", "city": "Leeds"},
    )
    # Then it is saved with its two conditions
    assert response.status_code == 302
    assert SavedSegment.objects.get(name="Best").filters == {
        "city": "Leeds",
        "rfm_segment": "champions",
    }


def test_saving_is_refused_to_agents_and_for_other_departments(client, org, scored):
    # Given an agent, and a manager naming another department
    client.force_login(org.field_agent)
    refused = client.post(
        reverse("saved-segments"), {"name": "X", "owner": org.sales.pk, "city": "A"}
    )
    assert refused.status_code == 403
    client.force_login(org.service_manager)
    other = client.post(
        reverse("saved-segments"), {"name": "Y", "owner": org.sales.pk, "city": "A"}
    )
    assert other.status_code == 400
    # Then nothing was saved
    assert list(SavedSegment.objects.values_list("name", flat=True)) == ["Leeds"]


# ---- API --------------------------------------------------------------------------------------


def _bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t').key}"}


@pytest.mark.parametrize(
    "path", ["/api/segments/rfm", "/api/segments/cohorts", "/api/segments/saved"]
)
def test_api_requires_a_token(client, scored, path):
    assert client.get(path).status_code == 401


def test_api_rfm_and_cohorts_are_scoped(client, org, scored):
    # Given Sales' and Customer Service's managers' tokens
    sales = client.get("/api/segments/rfm", **_bearer(org.sales_manager)).json()
    service = client.get("/api/segments/rfm", **_bearer(org.service_manager)).json()
    # Then each counts their own customers, at the latest date, with moves since March
    assert (sales["as_of"], sales["previous"], sales["customers"]) == (
        "2026-04-30",
        "2026-03-31",
        2,
    )
    assert service["customers"] == 1
    assert sum(m["customers"] for m in sales["moves"]) == 2
    cohorts = client.get("/api/segments/cohorts", **_bearer(org.service_manager)).json()
    assert [(c["month"], c["customers"]) for c in cohorts["cohorts"]] == [("2026-01", 1)]
    assert cohorts["computed_at"] is not None
    # And a date never scored is not found
    missing = client.get("/api/segments/rfm?as_of=2026-01-31", **_bearer(org.sales_manager))
    assert missing.status_code == 404


def test_api_saved_segments_are_scoped(client, org, scored):
    sales = client.get("/api/segments/saved", **_bearer(org.sales_manager)).json()
    assert [s["name"] for s in sales] == ["Leeds"]
    assert client.get("/api/segments/saved", **_bearer(org.service_manager)).json() == []
    path = f"/api/segments/saved/{scored.pk}/customers"
    ok = client.get(path, **_bearer(org.sales_manager))
    assert ok.status_code == 200 and ok["Content-Type"].startswith("text/csv")
    assert client.get(path, **_bearer(org.service_manager)).status_code == 404


# ---- CLI --------------------------------------------------------------------------------------


def test_cli_rfm_json_cohorts_and_export(org, scored, tmp_path):
    # When RFM is scored again at the end of April, as JSON
    out = io.StringIO()
    call_command("segments", "rfm", "--as-of", "2026-04-30", "--json", stdout=out)
    data = json.loads(out.getvalue())
    # Then all three customers, with the moves since March
    assert (data["as_of"], data["previous"], data["customers"]) == ("2026-04-30", "2026-03-31", 3)
    assert RfmScore.objects.filter(as_of=APR).count() == 3
    # And cohorts as JSON, and the saved segment exported
    out = io.StringIO()
    call_command("segments", "cohorts", "--json", stdout=out)
    assert json.loads(out.getvalue())["cohorts"][0]["customers"] == 3
    target = tmp_path / "leeds.csv"
    call_command("segments", "export", "Leeds", "-o", str(target), stdout=io.StringIO())
    rows = list(csv.reader(io.StringIO(target.read_text("utf-8-sig"))))
    assert [r[0] for r in rows] == ["customer_id", "S1"]


def test_cli_cohorts_refresh(org):
    # Given a customer who bought in January and February, and no cohorts stored
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    customer = CustomerFactory(external_id="S1", department=org.sales, acquired_at=jan)
    for day in ("2026-01-05", "2026-02-05"):
        order = OrderFactory(
            customer=customer, ordered_at=datetime.fromisoformat(day).replace(tzinfo=UTC)
        )
        OrderLine.objects.create(order=order, line_no=1, amount=Decimal("25"))
    # When `segments cohorts` runs, then it says how to compute them
    out = io.StringIO()
    call_command("segments", "cohorts", stdout=out)
    assert "not computed yet: run `crm-scorecard segments cohorts --refresh`" in out.getvalue()
    # When `segments cohorts --refresh` runs
    out = io.StringIO()
    call_command("segments", "cohorts", "--refresh", stdout=out)
    # Then it stored and printed them: January's one customer bought in both months
    assert "cohorts as of " in out.getvalue()
    assert "2026-01        1  100% 100%" in out.getvalue()
    out = io.StringIO()
    call_command("segments", "cohorts", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["computed_at"] is not None
    assert data["cohorts"] == [
        {
            "month": "2026-01",
            "customers": 1,
            "retention": [1.0, 1.0],
            "revenue_per_customer": [25.0, 25.0],
        }
    ]


def test_cli_save_and_unknown_export(org, scored, tmp_path):
    from django.core.management.base import CommandError

    out = io.StringIO()
    call_command(
        "segments", "save", "Lost ones", "--filter", "rfm=lost", "--department", "Sales", stdout=out
    )
    assert SavedSegment.objects.get(name="Lost ones").filters == {"rfm_segment": "lost"}
    with pytest.raises(CommandError, match="No saved segment"):
        call_command("segments", "export", "Nobody", "-o", str(tmp_path / "x.csv"))
    assert not (tmp_path / "x.csv").exists()
