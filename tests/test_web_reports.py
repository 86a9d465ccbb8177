"""The pages' download buttons: a scorecard's board pack, workbook and CSV tables, an
indicator's history and breakdown, the customer search results and the complaints queue as
CSV. Each holds what its page shows its reader, and nothing of another department."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from crm_scorecard.accounts.models import Level
from crm_scorecard.crm.models import Complaint
from crm_scorecard.reports.exports import report_export
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator
from crm_scorecard.scorecards.services import scorecard_import

from .factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

NAME = 'Board "ü" card'  # typed by a person: a quote and a letter beyond ASCII
CARD = {
    "name": NAME,
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "=Keep",
                    "indicators": [
                        {
                            "name": "Survey",
                            "values": {"2025-12": 2, "2026-01": 3},
                            "baseline": 1,
                            "target": 5,
                        },
                        {"name": "@Calls", "baseline": 0, "target": 10},
                    ],
                }
            ],
        }
    ],
}
# Scored by hand for 2026-01: Survey (3 - 1) / (5 - 1) = 0.5; @Calls has no data, so the
# goal and the perspective are Survey's 0.5.


@pytest.fixture
def card(org):
    return scorecard_import(card=files.parse(CARD), department=org.sales)


def rows_of(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # the byte-order mark spreadsheets need
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def report_url(card, fmt: str, query: str = "period=2026-01") -> str:
    return f"/scorecards/{card.pk}/report.{fmt}?{query}"


# ---- the scorecard page ----------------------------------------------------------------------


def test_scorecard_page_offers_the_downloads_for_the_period_shown(client, org, card):
    # Given Sales' analyst (who may see, not edit)
    client.force_login(org.sales_analyst)
    # When they open the scorecard for January
    html = client.get(f"/scorecards/{card.pk}/?period=2026-01").content.decode()
    # Then the board pack, the workbook and the CSV tables are offered for January, each
    # saying what to show while it is prepared
    for fmt, query in [
        ("pdf", "period=2026-01"),
        ("xlsx", "period=2026-01"),
        ("csv", "period=2026-01&amp;table=tree"),
        ("csv", "period=2026-01&amp;table=fix-first"),
        ("csv", "period=2026-01&amp;table=history"),
    ]:
        assert f'href="{report_url(card, fmt, query)}" data-download="Preparing' in html
    assert "data-download-note" in html
    # And a scorecard of manual values only offers no workbook with breakdowns
    assert "Workbook with breakdowns" not in html


def test_board_pack_is_an_attachment_named_after_the_scorecard(client, org, card):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    # When they download January's board pack from the page
    response = client.get(report_url(card, "pdf"))
    # Then it is a PDF saved under the scorecard's name, department and month, the typed
    # name carried by the header's own encoding, and kept out of shared caches
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''board-%22%C3%BC%22-card-sales-2026-01.pdf"
    )
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert NAME in text and "Survey" in text


def test_workbook_holds_the_scored_tree_as_numbers(client, org, card):
    # Given Sales' manager, when downloading January's workbook
    client.force_login(org.sales_manager)
    response = client.get(report_url(card, "xlsx"))
    # Then its tree holds Survey's value, target and score as numbers, @Calls as "no data"
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    ws = load_workbook(io.BytesIO(response.content))["Scorecard"]
    rows = {ws.cell(r, 2).value: r for r in range(1, ws.max_row + 1)}
    survey = [ws.cell(rows["Survey"], c).value for c in range(1, 6)]
    assert survey[2:5] == [3, 5, 0.5]
    assert ws.cell(rows["@Calls"], 3).value == "no data"


def test_csv_tree_is_the_report_table_with_raw_numbers_and_defused_names(client, org, card):
    # Given Sales' manager, when downloading January's tree as CSV
    client.force_login(org.sales_manager)
    response = client.get(report_url(card, "csv", "period=2026-01&table=tree"))
    # Then it is the report's tree table (the command's `--table tree`)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    core = report_export(user=org.sales_manager, pk=card.pk, fmt="csv", period="2026-01")
    assert response.content == core.content
    # Where the goal typed as "=Keep" stays text, Survey scores 0.5 and @Calls has no data
    by_name = {row[3]: row for row in rows_of(response.content)[1:]}
    assert by_name["'=Keep"][0] == "goal" and by_name["'=Keep"][8] == "0.5"
    assert by_name["Survey"][5:9] == ["3", "5", "", "0.5"]
    assert by_name["'@Calls"][5] == "no data" and by_name["'@Calls"][8] == "no data"


def test_csv_history_and_fix_first_tables(client, org, card):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    # When downloading January's history and what to fix first
    history = rows_of(client.get(report_url(card, "csv", "period=2026-01&table=history")).content)
    fix = rows_of(client.get(report_url(card, "csv", "period=2026-01&table=fix-first")).content)
    # Then Survey's last two months are 2 and 3 against target 5; an earlier one has no data
    survey = [r for r in history[1:] if r[2] == "Survey"]
    assert survey[-2:] == [
        ["Customer", "'=Keep", "Survey", "2025-12", "2", "5", ""],
        ["Customer", "'=Keep", "Survey", "2026-01", "3", "5", ""],
    ]
    assert survey[0][4] == "no data"
    # And Survey, half way to target with the whole weight, is first to fix: gain 0.5
    assert fix[1][:3] == ["1", "Survey", "0.5"]


@pytest.mark.parametrize(
    ("fmt", "query", "reason"),
    [
        ("docx", "period=2026-01", "format: &#x27;docx&#x27; is not one of pdf, xlsx, csv"),
        ("csv", "period=2026-01&table=pie", "table: &#x27;pie&#x27; is not one of"),
        ("pdf", "period=2026-13", "period:"),
        ("pdf", "period=2999-01", "is in the future"),
        ("xlsx", "period=2026-01&by=colour", "unknown dimension &#x27;colour&#x27;"),
    ],
)
def test_a_bad_request_answers_400_with_the_reason(client, org, card, fmt, query, reason):
    # Given Sales' manager, when asking for a file the rules refuse
    client.force_login(org.sales_manager)
    response = client.get(report_url(card, fmt, query))
    # Then the 400 page says why, and no file is sent
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert "Content-Disposition" not in response


def test_an_unscorable_scorecard_answers_409_with_why(client, org, card):
    # Given an edit written past the services that leaves the scorecard unscorable
    Indicator.objects.filter(name="Survey").update(baseline=5)
    client.force_login(org.sales_manager)
    # When its board pack is asked for
    response = client.get(report_url(card, "pdf"))
    # Then the page says it cannot be scored and why, and sends no file
    assert response.status_code == 409
    html = response.content.decode()
    assert "cannot be scored" in html and "baseline and target" in html
    assert "Content-Disposition" not in response


EXPORTS = [
    ("pdf", "period=2026-01"),
    ("xlsx", "period=2026-01"),
    ("csv", "period=2026-01&table=tree"),
    ("csv", "period=2026-01&table=history"),
]


@pytest.mark.parametrize(("fmt", "query"), EXPORTS)
def test_another_departments_scorecard_exports_answer_404(client, org, card, fmt, query):
    # Given the Customer Service manager, who sees none of Sales
    client.force_login(org.service_manager)
    # When they ask for Sales' scorecard as a file, and for one that does not exist
    theirs = client.get(report_url(card, fmt, query))
    missing = client.get(f"/scorecards/999999/report.{fmt}?{query}")
    # Then both answer the same 404 and no file is sent
    assert theirs.status_code == missing.status_code == 404
    assert "Content-Disposition" not in theirs
    assert NAME not in theirs.content.decode()


# ---- the indicator page -----------------------------------------------------------------------


def test_indicator_page_offers_its_history_as_csv(client, org, card):
    # Given Sales' analyst on Survey's page for January
    client.force_login(org.sales_analyst)
    survey = Indicator.objects.get(name="Survey")
    html = client.get(f"/indicators/{survey.pk}/?period=2026-01").content.decode()
    # Then the history is offered for download for January
    assert f'href="/indicators/{survey.pk}/history.csv?period=2026-01"' in html
    # When they download it
    response = client.get(f"/indicators/{survey.pk}/history.csv?period=2026-01")
    # Then it holds the page's 24 months, oldest first, with "no data" written out
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''board-%22%C3%BC%22-card-survey-2026-01-history.csv"
    )
    rows = rows_of(response.content)
    assert rows[0] == ["perspective", "goal", "indicator", "period", "value", "target", "unit"]
    assert len(rows) == 1 + 24
    assert rows[1][3:5] == ["2024-02", "no data"]
    assert rows[-2:] == [
        ["Customer", "'=Keep", "Survey", "2025-12", "2", "5", ""],
        ["Customer", "'=Keep", "Survey", "2026-01", "3", "5", ""],
    ]


def test_indicator_csvs_of_another_department_answer_404(client, org, card):
    # Given the Customer Service manager, and Sales' Survey indicator
    client.force_login(org.service_manager)
    survey = Indicator.objects.get(name="Survey")
    # When they ask for its history and a breakdown
    history = client.get(f"/indicators/{survey.pk}/history.csv?period=2026-01")
    breakdown = client.get(f"/indicators/{survey.pk}/breakdown.csv?period=2026-01&by=region")
    # Then both answer 404, as for an indicator that does not exist
    assert history.status_code == breakdown.status_code == 404
    assert client.get("/indicators/999999/history.csv").status_code == 404


def test_breakdown_of_a_manual_indicator_or_an_unknown_dimension_is_refused(client, org, card):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    survey = Indicator.objects.get(name="Survey")
    # When asking for a breakdown of values people enter, and a history for a bad month
    manual = client.get(f"/indicators/{survey.pk}/breakdown.csv?period=2026-01&by=region")
    month = client.get(f"/indicators/{survey.pk}/history.csv?period=2026-13")
    # Then each answers 400 saying why
    assert manual.status_code == month.status_code == 400
    assert "has no metric to break down" in manual.content.decode()
    assert "period:" in month.content.decode()


REVENUE_CARD = {
    "name": "Revenue card",
    "perspectives": [
        {
            "name": "Financial",
            "goals": [
                {
                    "name": "Sell",
                    "indicators": [
                        {
                            "name": "Revenue",
                            "metric": "revenue",
                            "scope": "company",
                            "baseline": 0,
                            "target": 1000,
                        }
                    ],
                }
            ],
        }
    ],
}


@pytest.mark.django_db(transaction=True)  # the engine reads committed rows, over its own connection
def test_breakdown_csv_holds_what_the_page_shows_its_reader(client):
    from . import metrics_data

    # Given the tiny company (February revenue: M-Sales' customers bought Devices for 300,
    # an M-Service customer Devices for 70; no accessories) and an M-Sales scorecard with a
    # company-wide revenue indicator
    departments = metrics_data.build()
    card = scorecard_import(card=files.parse(REVENUE_CARD), department=departments["sales"])
    revenue = Indicator.objects.get(goal__perspective__scorecard=card)
    manager = UserFactory(level=Level.MANAGER, departments=[departments["sales"]])
    boss = UserFactory(level=Level.EXECUTIVE)
    url = f"/indicators/{revenue.pk}/breakdown.csv?period=2026-02&by=product_category"

    def breakdown(user):
        client.force_login(user)
        page = client.get(f"/indicators/{revenue.pk}/?period=2026-02&by=product_category")
        assert url.replace("&", "&amp;") in page.content.decode()  # the page's button
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Disposition"] == (
            'attachment; filename="revenue-card-revenue-2026-02-by-product_category.csv"'
        )
        return rows_of(response.content)

    # When the manager and an executive download the breakdown by product category
    mine, company = breakdown(manager), breakdown(boss)
    # Then the manager's holds only their department's sales, the executive's the company's,
    # in raw numbers with the unit
    header = ["indicator", "dimension", "dimension_value", "value", "unit", "error"]
    assert mine == [
        header,
        ["Revenue", "product_category", "Accessories", "0", "currency", ""],
        ["Revenue", "product_category", "Devices", "300", "currency", ""],
    ]
    assert company == [
        header,
        ["Revenue", "product_category", "Accessories", "0", "currency", ""],
        ["Revenue", "product_category", "Devices", "370", "currency", ""],
    ]
    # And the scorecard page offers the workbook with breakdowns; it holds the same split
    client.force_login(manager)
    assert "Workbook with breakdowns" in client.get(f"/scorecards/{card.pk}/").content.decode()
    book = client.get(f"/scorecards/{card.pk}/report.xlsx?period=2026-02&by=product_category")
    ws = load_workbook(io.BytesIO(book.content))["Breakdowns"]
    assert [ws.cell(3, c).value for c in range(1, 5)] == [
        "Revenue",
        "product_category",
        "Devices",
        300,
    ]


# ---- customer search and the complaints queue ---------------------------------------------------


@pytest.fixture
def customers(org):
    sally = CustomerFactory(
        external_id="C-S1", full_name="=Sally Sales", email="s1@example.com", department=org.sales
    )
    CustomerFactory(
        external_id="C-F1",
        full_name="Sam Field",
        email="f1@example.com",
        department=org.field_sales,
    )
    sam = CustomerFactory(
        external_id="C-V1", full_name="Sam Service", email="v1@example.com", department=org.service
    )
    return sally, sam


def test_search_results_csv_holds_only_the_rows_the_page_shows(client, org, customers):
    # Given Sales' manager (Sales and its Field Sales team) searching for "sa"
    client.force_login(org.sales_manager)
    page = client.get("/customers/?q=sa").content.decode()
    assert 'href="/customers.csv?q=sa"' in page
    # When they download the results
    response = client.get("/customers.csv?q=sa")
    # Then it lists their two customers and not Customer Service's, the typed formula as text
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="customers-sa.csv"'
    rows = rows_of(response.content)
    assert rows[0] == ["customer_id", "name", "email", "phone", "city", "status", "department"]
    assert sorted(r[0] for r in rows[1:]) == ["C-F1", "C-S1"]
    sally = next(r for r in rows if r[0] == "C-S1")
    assert sally[1] == "'=Sally Sales" and sally[6] == "Sales"
    assert "Sam Service" not in response.content.decode("utf-8-sig")
    # And the executive, who sees the whole company, gets all three
    client.force_login(org.executive)
    assert len(rows_of(client.get("/customers.csv?q=sa").content)) == 1 + 3


def test_queue_csv_holds_only_the_departments_complaints(client, org, customers):
    # Given a high-severity Sales complaint (24 h to resolve), a Service one, and one of a
    # severity without a service level
    sally, sam = customers
    opened = datetime(2026, 1, 4, 9, 30, tzinfo=UTC)
    for external_id, customer, severity in [("K-S1", sally, "high"), ("K-V1", sam, "low")]:
        Complaint.objects.create(
            external_id=external_id,
            customer=customer,
            category="billing",
            severity=severity,
            department=customer.department,
            opened_at=opened,
        )
    Complaint.objects.create(
        external_id="K-S2",
        customer=sally,
        category="billing",
        severity="unheard-of",
        department=org.sales,
        opened_at=opened,
    )
    # When Sales' manager downloads their queue
    client.force_login(org.sales_manager)
    assert 'href="/complaints.csv"' in client.get("/complaints/").content.decode()
    response = client.get("/complaints.csv")
    # Then it holds Sales' two complaints, soonest due first, and nothing of Service's
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="complaints-')
    rows = rows_of(response.content)
    assert rows[0] == [
        "due_at",
        "overdue",
        "complaint",
        "customer",
        "customer_id",
        "category",
        "severity",
        "status",
        "department",
        "opened_at",
    ]
    assert [r[2] for r in rows[1:]] == ["K-S1", "K-S2"]
    assert rows[1][:2] == ["2026-01-05T09:30+00:00", "yes"]
    assert rows[1][3] == "'=Sally Sales" and rows[1][8:] == ["Sales", "2026-01-04T09:30+00:00"]
    assert rows[2][:2] == ["no service level", "no"]
    assert "K-V1" not in response.content.decode("utf-8-sig")


@pytest.mark.parametrize("url", ["/customers.csv?q=sa", "/complaints.csv"])
def test_anonymous_is_sent_to_sign_in_for_the_csvs(client, customers, url):
    # Given no one signed in, when asking for a CSV, then they are sent to sign in
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
