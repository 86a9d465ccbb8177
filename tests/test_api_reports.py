"""The report export through the API: GET /api/scorecards/{id}/report answers the same file
as the page's buttons, within the caller's departments, with the refusals in OpenAPI."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator
from crm_scorecard.scorecards.services import scorecard_import

pytestmark = pytest.mark.django_db

CARD = {
    "name": "Api / report card",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Keep customers",
                    "indicators": [
                        {
                            "name": "Survey",
                            "values": {"2026-01": 3},
                            "baseline": 1,
                            "target": 5,
                        },
                    ],
                }
            ],
        }
    ],
}


@pytest.fixture
def card(org):
    return scorecard_import(card=files.parse(CARD), department=org.sales)


def _report(client, card, query: str):
    return client.get(f"/api/scorecards/{card.pk}/report?{query}")


def test_csv_pdf_and_excel_are_the_scorecard_as_a_file(client, org, card):
    # Given Sales' manager, signed in
    client.force_login(org.sales_manager)
    # When they export January's tree as CSV, the board pack and the workbook
    tree = _report(client, card, "format=csv&period=2026-01&table=tree")
    pack = _report(client, card, "format=pdf&period=2026-01")
    book = _report(client, card, "format=xlsx&period=2026-01")
    # Then each is an attachment named after the scorecard, department and month
    assert tree.status_code == pack.status_code == book.status_code == 200
    assert tree["Content-Type"] == "text/csv; charset=utf-8"
    assert tree["Content-Disposition"] == (
        'attachment; filename="api-report-card-sales-2026-01-tree.csv"'
    )
    assert pack["Content-Type"] == "application/pdf"
    assert pack["Content-Disposition"] == 'attachment; filename="api-report-card-sales-2026-01.pdf"'
    assert book["Content-Disposition"].endswith('-2026-01.xlsx"')
    # And the CSV holds the indicator scored by hand: (3 - 1) / (5 - 1) = 0.5
    rows = list(csv.DictReader(io.StringIO(tree.content.decode("utf-8-sig"))))
    survey = next(r for r in rows if r["name"] == "Survey")
    assert (float(survey["value"]), float(survey["score"])) == (3.0, 0.5)
    # And the PDF and workbook are readable documents naming the indicator
    assert "Survey" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(pack.content)).pages)
    sheet_text = [
        str(cell.value)
        for ws in load_workbook(io.BytesIO(book.content)).worksheets
        for row in ws.iter_rows()
        for cell in row
    ]
    assert "Survey" in sheet_text


def test_a_scorecard_outside_the_callers_departments_is_not_found(client, org, card):
    # Given Customer Service's manager, signed in, and an anonymous caller
    client.force_login(org.service_manager)
    # When they export Sales' scorecard, and one that does not exist
    other = _report(client, card, "format=csv&period=2026-01")
    missing = client.get(f"/api/scorecards/{card.pk + 1000}/report?format=csv")
    client.logout()
    anonymous = _report(client, card, "format=csv&period=2026-01")
    # Then both answer the same 404 and nothing of it is sent; anonymous is 401
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json() == {"detail": "No such scorecard."}
    assert anonymous.status_code == 401


def test_bad_period_format_table_and_dimension_answer_422_with_the_reason(client, org, card):
    # Given Sales' manager, signed in
    client.force_login(org.sales_manager)
    # When they ask for a future month, a month that is not one, a Word file, an unknown
    # table and a breakdown by an unknown dimension
    future = _report(client, card, "format=pdf&period=2999-01")
    month = _report(client, card, "format=pdf&period=January")
    word = _report(client, card, "format=docx")
    table = _report(client, card, "format=csv&table=pivot")
    dimension = _report(client, card, "format=xlsx&period=2026-01&by=colour")
    # Then each is refused with 422 and why
    assert future.status_code == 422 and "2999-01 is in the future" in future.json()["detail"]
    assert month.status_code == 422 and "'January'" in month.json()["detail"]
    assert word.status_code == table.status_code == 422
    assert word.json()["detail"][0]["loc"] == ["query", "format"]
    assert table.json()["detail"][0]["loc"] == ["query", "table"]
    assert dimension.status_code == 422
    assert "unknown dimension 'colour'" in dimension.json()["detail"]


def test_an_unscorable_scorecard_answers_409_with_why(client, org, card):
    # Given an edit written past the services that makes the scorecard unscorable
    Indicator.objects.filter(goal__perspective__scorecard=card).update(baseline=5)
    client.force_login(org.sales_manager)
    # When it is exported
    response = _report(client, card, "format=pdf&period=2026-01")
    # Then the answer is 409 with the reason
    assert response.status_code == 409
    assert "cannot be scored" in response.json()["detail"]


def test_the_report_operation_documents_its_files_and_refusals():
    # Given the API's OpenAPI description
    from crm_scorecard.api.endpoints import api

    operation = api.get_openapi_schema()["paths"]["/api/scorecards/{pk}/report"]["get"]
    # Then it lists its three kinds of file and each refusal
    assert set(operation["responses"][200]["content"]) == {
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/csv",
    }
    assert {int(s) for s in operation["responses"]} >= {200, 404, 409, 422}
