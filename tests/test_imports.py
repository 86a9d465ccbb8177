"""Importing from the systems a company already has."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from crm_scorecard.accounts.models import Department
from crm_scorecard.crm import models as m
from crm_scorecard.crm.imports import ImportFileError, records_import

from .factories import CustomerFactory, DepartmentFactory, EmployeeFactory, ProductFactory

pytestmark = pytest.mark.django_db


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip(), encoding="utf-8")
    return path


def run(entity: str, path: Path | str, *extra: str) -> tuple[int, str, str]:
    """Run the import command; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import", entity, str(path), "--no-progress", *extra, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


CUSTOMERS = """
customer_id,full_name,email,department,birth_date,status,acquired_at
C1,Ann Able,ann@example.com,Sales,1980-02-03,customer,2025-06-01T10:00:00
C2,Bob Baker,not-an-email,Sales,,,
C3,Cy Cole,cy@example.com,Nowhere,,,
C1,Ann Again,,Sales,,,
C4,Dee Dunn,,Sales,1990-13-01,bogus,
C5,Eve Esk,eve@example.com,sales,,former,2025-01-01
"""


def test_bad_rows_are_reported_with_row_column_and_reason_and_good_rows_imported(tmp_path):
    # Given a Sales department and a file with three good-looking and four bad rows
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "customers.csv", CUSTOMERS)
    # When it is imported
    code, out, err = run("customers", path)
    # Then good rows are in, bad rows are out, each reason names row and column
    assert code == 1
    assert out.strip().splitlines()[-1] == "imported 2, updated 0, rejected 4"
    assert sorted(m.Customer.objects.values_list("external_id", flat=True)) == ["C1", "C5"]
    assert "row 3, column email: Enter a valid email address." in err
    assert "row 4, column department: no department with name 'Nowhere'" in err
    assert "row 5, column customer_id: C1 appears again (first on row 2)" in err
    assert "row 6, column birth_date: Enter a valid date." in err
    assert "row 6, column status:" in err
    # And the first C1 row won, with its timestamp aware in UTC
    ann = m.Customer.objects.get(external_id="C1")
    assert ann.full_name == "Ann Able"
    assert ann.acquired_at == datetime(2025, 6, 1, 10, tzinfo=UTC)


def test_rejects_file_holds_the_bad_rows_as_given(tmp_path):
    # Given a Sales department and the file
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "customers.csv", CUSTOMERS)
    rejects = tmp_path / "out" / "bad.csv"
    rejects.parent.mkdir()
    # When it is imported with --rejects
    run("customers", path, "--rejects", str(rejects))
    # Then the rejects file has each bad row, its number and reasons
    rows = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert [r["row"] for r in rows] == ["3", "4", "5", "6"]
    assert rows[0]["email"] == "not-an-email"
    assert rows[0]["errors"] == "email: Enter a valid email address."
    assert rows[3]["error_columns"] == "birth_date; status"


def test_rejects_file_defaults_to_beside_the_input(tmp_path):
    # Given the file
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "customers.csv", CUSTOMERS)
    # When imported without --rejects, then rejects land beside it
    run("customers", path)
    assert (tmp_path / "customers.rejects.csv").exists()


def test_reimport_updates_instead_of_duplicating(tmp_path):
    # Given a file imported once
    DepartmentFactory(name="Sales")
    path = write(
        tmp_path, "c.csv", "customer_id,full_name,department\nC1,Ann,Sales\nC2,Bob,Sales\n"
    )
    assert run("customers", path)[0] == 0
    # When a changed version is imported again
    path.write_text(
        "customer_id,full_name,department\nC1,Ann Able,Sales\nC2,Bob,Sales\nC3,Cy,Sales\n"
    )
    code, out, _ = run("customers", path)
    # Then nothing is duplicated and the change is applied
    assert code == 0
    assert out.strip().splitlines()[-1] == "imported 1, updated 2, rejected 0"
    assert m.Customer.objects.count() == 3
    assert m.Customer.objects.get(external_id="C1").full_name == "Ann Able"


def test_dry_run_validates_without_writing(tmp_path):
    # Given the file
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "customers.csv", CUSTOMERS)
    # When imported with --dry-run
    code, out, _ = run("customers", path, "--dry-run")
    # Then the counts are reported but nothing is written
    assert code == 1
    assert "dry run: nothing was written" in out
    assert out.strip().splitlines()[-1] == "imported 2, updated 0, rejected 4"
    assert m.Customer.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "c.csv",
            "name,mail\nAnn,a@x\n",
            "missing required column(s) customer_id, full_name, department",
        ),
        ("c.csv", "", "the file is empty"),
        ("c.xlsx", "this is not a zip file", "not a readable Excel workbook"),
        ("c.json", "{}", "unsupported file type .json"),
        (
            "c.csv",
            "customer_id,customer_id,full_name,department\n",
            "column(s) named twice: customer_id",
        ),
    ],
)
def test_unusable_file_exits_2_and_writes_nothing(tmp_path, name, content, message):
    # Given an unusable file
    DepartmentFactory(name="Sales")
    path = tmp_path / name
    path.write_text(content)
    # When imported
    code, out, err = run("customers", path)
    # Then exit 2, a clear message, and nothing written
    assert code == 2
    assert message in err
    assert out.strip().splitlines()[-1] == "imported 0, updated 0, rejected 0"
    assert m.Customer.objects.count() == 0


def test_non_utf8_file_is_refused(tmp_path):
    # Given a Latin-1 encoded file
    path = tmp_path / "c.csv"
    path.write_bytes("customer_id,full_name,department\nC1,Zoë Öst,Sales\n".encode("latin-1"))
    # When imported, then it is refused as a whole with the fix named
    with pytest.raises(ImportFileError, match="not UTF-8"):
        records_import(entity="customers", path=path)


def test_missing_file_is_refused(tmp_path):
    # Given no file, when imported, then exit 2
    assert run("customers", tmp_path / "nope.csv")[0] == 2


def test_wrong_entity_is_refused(tmp_path):
    # Given a customers file imported as orders
    path = write(tmp_path, "c.csv", "customer_id,full_name,department\nC1,Ann,Sales\n")
    # When imported as orders, then exit 2 naming what is missing
    code, _, err = run("orders", path)
    assert code == 2
    assert "missing required column(s) order_id, ordered_at, amount for orders" in err


ORDERS = """
order_id,customer_id,ordered_at,product_sku,quantity,unit_price,amount,salesperson,channel
O1,C1,2026-01-05 10:00,SKU1,2,10.00,20.00,E1,online
O1,C1,2026-01-05 10:00,SKU2,1,5.50,5.50,E1,online
O2,C1,2026-02-01,,,,99.90,,
O3,C9,2026-02-01,,,,10,,
O4,C1,2026-02-01,NOPE,,,10,,
O5,C1,2026-02-01,,,,-3,,
O7,C2,2026-01-05 10:00,SKU1,1,10,10,E1,online
O7,C1,2026-01-05 10:00,SKU1,1,10,10,E1,online
"""


def test_orders_one_row_per_line(tmp_path):
    # Given customers, products and a salesperson
    dept = DepartmentFactory(name="Sales")
    CustomerFactory(external_id="C1", department=dept)
    CustomerFactory(external_id="C2", department=dept)
    ProductFactory(sku="SKU1")
    ProductFactory(sku="SKU2")
    EmployeeFactory(external_id="E1", department=dept)
    path = write(tmp_path, "orders.csv", ORDERS)
    # When imported
    code, out, err = run("orders", path)
    # Then orders and lines are in; bad lines are out with reasons, and an order with a
    # bad line is out as a whole
    assert code == 1
    assert out.strip().splitlines()[-1] == "imported 3, updated 0, rejected 5"
    assert "row 5, column customer_id: no customer with id 'C9'" in err
    assert "row 6, column product_sku: no product with sku 'NOPE'" in err
    assert "row 7, column amount: Ensure this value is greater than or equal to 0." in err
    assert "row 9, column customer_id: order O7 has a different customer" in err
    assert "row 8, column order_id: order O7 is not imported: its line on row 9 is rejected" in err
    assert not m.Order.objects.filter(external_id="O7").exists()
    o1 = m.Order.objects.get(external_id="O1")
    assert o1.salesperson.external_id == "E1"
    assert o1.channel == "online"
    assert [
        (line.line_no, line.product.sku, line.amount) for line in o1.lines.order_by("line_no")
    ] == [(1, "SKU1", Decimal("20.00")), (2, "SKU2", Decimal("5.50"))]
    o2_line = m.OrderLine.objects.get(order__external_id="O2")
    assert o2_line.product is None and o2_line.quantity == 1 and o2_line.amount == Decimal("99.90")
    # And re-importing creates no duplicate lines
    code, out, _ = run("orders", path)
    assert out.strip().splitlines()[-1] == "imported 0, updated 3, rejected 5"
    assert m.OrderLine.objects.count() == 3
    assert m.Order.objects.count() == 2


def test_interactions_topics_and_yes_no(tmp_path):
    # Given a customer
    dept = DepartmentFactory(name="Call Centre")
    CustomerFactory(external_id="C1", department=dept)
    path = write(
        tmp_path,
        "i.csv",
        """
interaction_id,customer_id,department,channel,started_at,handle_seconds,topics,resolved_first_contact
I1,C1,Call Centre,Call,2026-01-05 10:00,300,billing; delivery ;,yes
I2,C1,Call Centre,chat,2026-01-06 10:00,-5,,maybe
""",
    )
    # When imported
    code, _, err = run("interactions", path)
    # Then the good one is in with its topics counted; the bad one says why
    assert code == 1
    i1 = m.Interaction.objects.get(external_id="I1")
    assert (i1.channel, i1.topics, i1.topic_count, i1.resolved_first_contact) == (
        "call",
        "billing;delivery",
        2,
        True,
    )
    assert "row 3, column handle_seconds:" in err
    assert "row 3, column resolved_first_contact: Enter yes or no" in err


def test_cross_field_rules(tmp_path):
    # Given a customer
    dept = DepartmentFactory(name="Service")
    CustomerFactory(external_id="C1", department=dept)
    path = write(
        tmp_path,
        "k.csv",
        """
complaint_id,customer_id,category,opened_at,resolved_at,department
K1,C1,billing,2026-01-05,2026-01-04,Service
K2,C1,Billing,2026-01-05,2026-01-07,Service
""",
    )
    # When imported
    code, _, err = run("complaints", path)
    # Then the complaint resolved before it opened is refused
    assert code == 1
    assert "row 2, column resolved_at: is before opened_at" in err
    assert list(m.Complaint.objects.values_list("external_id", "category")) == [("K2", "billing")]


def test_every_entity_imports(tmp_path):
    # Given one valid file per entity
    DepartmentFactory(name="Sales")
    files = {
        "employees": "employee_id,full_name,department,hired_at,left_at\nE1,Sam Seller,Sales,2020-01-01,\n",
        "products": "sku,name,category,tier,list_price\nP1,Phone,Devices,Premium,999.00\n",
        "customers": "customer_id,full_name,department,owner\nC1,Ann,Sales,E1\n",
        "leads": "lead_id,created_at,department,stage,converted_at,customer_id,owner\nL1,2026-01-01,Sales,won,2026-01-10,C1,E1\n",
        "orders": "order_id,customer_id,ordered_at,amount,product_sku\nO1,C1,2026-01-11,999,P1\n",
        "interactions": "interaction_id,customer_id,department,channel,started_at\nI1,C1,Sales,visit,2026-01-12\n",
        "feedback": "feedback_id,customer_id,submitted_at,rating,recommend,source\nF1,C1,2026-01-13,5,10,Rating sheet\n",
        "complaints": "complaint_id,customer_id,category,opened_at,department\nK1,C1,warranty,2026-01-14,Sales\n",
    }
    for entity, content in files.items():
        # When each is imported, then each succeeds
        code, out, err = run(entity, write(tmp_path, f"{entity}.csv", content))
        assert (code, out.strip().splitlines()[-1]) == (0, "imported 1, updated 0, rejected 0"), (
            entity,
            err,
        )
    assert m.Customer.objects.get().owner.external_id == "E1"
    assert m.Product.objects.get().tier == "premium"
    assert m.Feedback.objects.get().source == "rating_sheet"
    assert m.Lead.objects.get().customer.external_id == "C1"


def test_xlsx_import(tmp_path):
    # Given an Excel workbook with a real date cell and a numeric id
    from openpyxl import Workbook

    DepartmentFactory(name="Sales")
    book = Workbook()
    sheet = book.active
    sheet.append(["Customer ID", "Full Name", "Department", "Birth Date", "Phone"])
    sheet.append([1001, "Ann Able", "Sales", datetime(1980, 2, 3), "+44 1"])
    sheet.append(["1002", "Bob", "Sales", "not a date", None])
    path = tmp_path / "customers.xlsx"
    book.save(path)
    # When imported
    code, _out, err = run("customers", path)
    # Then header names are normalised, the good row is in and the bad one reported
    assert code == 1
    ann = m.Customer.objects.get(external_id="1001")
    assert ann.birth_date.isoformat() == "1980-02-03"
    assert "row 3, column birth_date: Enter a valid date." in err


def test_semicolon_csv_is_understood(tmp_path):
    # Given a semicolon-separated file, as Excel writes in many countries
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "c.csv", "customer_id;full_name;department\nC1;Ann;Sales\n")
    # When imported, then it goes in
    assert run("customers", path)[0] == 0
    assert m.Customer.objects.get().full_name == "Ann"


# ---- dates: ISO always, other layouts only when named, never guessed ---------------------------

US_DATES = """
customer_id,full_name,department,birth_date,acquired_at
D1,Ann,Sales,03/15/1980,11/02/2023 09:30
D2,Bob,Sales,1990-04-15,2023-11-02T09:30:00+01:00
"""


def test_a_date_that_is_not_iso_is_a_row_error_naming_the_layout_and_the_flag(tmp_path):
    # Given US-style dates in one row and ISO ones in the other
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "c.csv", US_DATES)
    # When imported without --date-format
    code, out, err = run("customers", path)
    # Then the US row is refused (never read month first by a guess), saying what is expected
    assert (code, out.strip().splitlines()[-1]) == (1, "imported 1, updated 0, rejected 1")
    assert (
        "row 2, column birth_date: Enter a valid date. '03/15/1980' is not YYYY-MM-DD; "
        "for another layout give --date-format, e.g. %d/%m/%Y or %m/%d/%Y "
        "(day-first and month-first are never guessed)." in err
    )
    assert (
        "row 2, column acquired_at: Enter a valid date/time. '11/02/2023 09:30' is not ISO" in err
    )
    bob = m.Customer.objects.get(external_id="D2")
    assert bob.acquired_at == datetime(2023, 11, 2, 8, 30, tzinfo=UTC)


def test_date_format_reads_the_layout_it_names_and_nothing_else(tmp_path):
    # Given the same file
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "c.csv", US_DATES)
    # When imported saying the dates are month first
    code, out, err = run("customers", path, "--date-format", "%m/%d/%Y")
    # Then both rows are in: US dates as said, ISO ones as always
    assert (code, out.strip().splitlines()[-1]) == (0, "imported 2, updated 0, rejected 0"), err
    ann = m.Customer.objects.get(external_id="D1")
    assert ann.birth_date.isoformat() == "1980-03-15"
    assert ann.acquired_at == datetime(2023, 11, 2, 9, 30, tzinfo=UTC)
    # And read day first instead, 03/15/1980 has no 15th month: refused, not swapped
    m.Customer.objects.all().delete()
    code, _, err = run("customers", path, "--date-format", "%d/%m/%Y")
    assert code == 1
    assert (
        "row 2, column birth_date: Enter a valid date. '03/15/1980' is not YYYY-MM-DD or "
        "%d/%m/%Y (the --date-format given)." in err
    )


# ---- --set fills blanks; departments made only when asked ---------------------------------------


def test_set_fills_blank_cells_and_missing_columns_only(tmp_path):
    # Given two departments and a file where one row names its department and one does not
    DepartmentFactory(name="Sales")
    DepartmentFactory(name="Service")
    path = write(
        tmp_path,
        "c.csv",
        "customer_id,full_name,department\nS1,Ann,Service\nS2,Bob,\n",
    )
    # When imported with defaults for department and for a column the file lacks
    code, _, err = run("customers", path, "--set", "department=Sales", "--set", "segment=Retail")
    # Then the blank is filled, the given value kept, the absent column set for every row
    assert code == 0, err
    assert sorted(m.Customer.objects.values_list("external_id", "department__name", "segment")) == [
        ("S1", "Service", "Retail"),
        ("S2", "Sales", "Retail"),
    ]


def test_an_unknown_department_is_a_row_error_naming_the_known_ones(tmp_path):
    # Given two departments and a row naming a third
    DepartmentFactory(name="Sales")
    DepartmentFactory(name="Service")
    path = write(tmp_path, "c.csv", "customer_id,full_name,department\nC1,Ann,Marketing\n")
    # When imported without --create-departments
    code, _, err = run("customers", path)
    # Then the row is refused with the known names and the way to add it
    assert code == 1
    assert (
        "row 2, column department: no department with name 'Marketing' "
        "(known: Sales, Service; or add it with --create-departments)" in err
    )
    assert not Department.objects.filter(name="Marketing").exists()


def test_create_departments_makes_the_new_ones_once_and_only_for_good_rows(tmp_path):
    # Given one department and rows naming two new ones (one in two letter cases) and a bad row
    DepartmentFactory(name="Sales")
    path = write(
        tmp_path,
        "c.csv",
        "customer_id,full_name,department,email\n"
        "C1,Ann,Marketing,\nC2,Bob,marketing,\nC3,Cy,Sales,\nC4,Dee,Logistics,not-an-email\n",
    )
    # When imported with --create-departments
    code, out, err = run("customers", path, "--create-departments")
    # Then Marketing is made once, Logistics not (its only row is bad), and rows are filed
    assert (code, out.strip().splitlines()[-1]) == (1, "imported 3, updated 0, rejected 1")
    assert "created department(s): Marketing" in err
    assert sorted(Department.objects.values_list("name", flat=True)) == ["Marketing", "Sales"]
    assert m.Customer.objects.get(external_id="C2").department.name == "Marketing"


# ---- dry run, --json and standard input ---------------------------------------------------------


def _folder(path: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in path.iterdir()}


def test_dry_run_leaves_the_folder_and_the_database_as_they_were(tmp_path):
    # Given a file with good and bad rows, naming a department that does not exist yet
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "customers.csv", CUSTOMERS)
    before_folder = _folder(tmp_path)
    before_departments = list(Department.objects.values_list("name", flat=True))
    # When it is validated with --dry-run, even with leave to create departments
    code, out, err = run("customers", path, "--dry-run", "--create-departments")
    # Then it says what would happen, and no file and no row, department included, changed
    assert code == 1
    assert "would create department(s): Nowhere" in err
    assert out.strip().splitlines()[-1] == "imported 3, updated 0, rejected 3"
    assert _folder(tmp_path) == before_folder
    assert list(Department.objects.values_list("name", flat=True)) == before_departments
    assert m.Customer.objects.count() == 0


def test_json_prints_the_summary_and_every_rejected_row(tmp_path):
    # Given the file with four bad rows
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "customers.csv", CUSTOMERS)
    # When imported with --json
    code, out, _ = run("customers", path, "--json", "--dry-run")
    # Then stdout is one JSON document with the counts and each rejected row with its reasons
    report = json.loads(out)
    assert code == 1
    assert (report["imported"], report["updated"], report["rejected"]) == (2, 0, 4)
    assert report["dry_run"] is True and report["exit_status"] == 1
    assert [r["row"] for r in report["rejected_rows"]] == [3, 4, 5, 6]
    assert report["rejected_rows"][0]["values"]["email"] == "not-an-email"
    assert report["rejected_rows"][3]["errors"] == [
        {
            "row": 6,
            "column": "birth_date",
            "file_column": "birth_date",
            "reason": "Enter a valid date. '1990-13-01' is not YYYY-MM-DD; for another layout "
            "give --date-format, e.g. %d/%m/%Y or %m/%d/%Y (day-first and month-first are "
            "never guessed).",
        },
        {
            "row": 6,
            "column": "status",
            "file_column": "status",
            "reason": "'bogus' is not one of: lead, customer, former.",
        },
    ]


def test_json_reports_an_unusable_file_as_json_too(tmp_path):
    # Given a file of another entity
    path = write(tmp_path, "c.csv", "name,mail\nAnn,a@x\n")
    # When imported with --json, then the error is in the document and the status is 2
    code, out, _ = run("customers", path, "--json")
    report = json.loads(out)
    assert (code, report["exit_status"], report["imported"]) == (2, 2, 0)
    assert "missing required column(s)" in report["error"]


def test_dash_reads_the_file_from_standard_input(tmp_path, monkeypatch):
    # Given a CSV arriving on standard input
    DepartmentFactory(name="Sales")
    data = b"customer_id,full_name,department\nC1,Ann,Sales\nC2,Bob,Nowhere\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    monkeypatch.chdir(tmp_path)
    # When imported from -
    code, out, err = run("customers", "-")
    # Then the good row is in, the bad one printed, and no rejects file appears anywhere
    assert (code, out.strip().splitlines()[-1]) == (1, "imported 1, updated 0, rejected 1")
    assert "row 3, column department: no department with name 'Nowhere'" in err
    assert not list(tmp_path.rglob("*.csv"))
    assert m.Customer.objects.get().full_name == "Ann"


def test_an_excel_workbook_from_standard_input(tmp_path, monkeypatch):
    # Given an Excel workbook arriving on standard input
    from openpyxl import Workbook

    DepartmentFactory(name="Sales")
    book = Workbook()
    book.active.append(["Customer ID", "Full Name", "Department"])
    book.active.append([7, "Gus", "Sales"])
    buffer = io.BytesIO()
    book.save(buffer)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(buffer.getvalue())))
    # When imported from -, then it is read as a workbook
    code, _, err = run("customers", "-")
    assert code == 0, err
    assert m.Customer.objects.get().external_id == "7"


# ---- the fast path: whole batches validated by column, written with one upsert ----------------

MIXED = (
    "customer_id,full_name,email,phone,birth_date,acquired_at,status,department,segment\n"
    "M1,  Ann Able ,ann@example.com,+1 1,1980-02-03,2024-03-15 10:22,Customer,Sales,retail\n"
    "M2,Bob,bob@example,,,,,Sales,\n"
    "M3,Cy,,,03/15/1980,,,Sales,\n"
    "M4,Dee,,,,2024-03-15T10:22:00+02:00,former,sales,\n"
    "M5," + "x" * 201 + ",,,,,,Sales,\n"
    "M6,Eve\x00,,,,,,Sales,\n"
    "M1,Ann Again,,,,,,Sales,\n"
    "M7,Fay,,,,,bogus,Sales,\n"
    "M8,,,,,,,Sales,\n"
    "M9,Gus,,,,,,Nowhere,\n"
    "M10,Hal,,,,,,Sales,,extra\n"
    "M11,Ivy,ivy@EXAMPLE.org,,,2024-02-29,lead,Sales\n"
    "M12,Jo,jo@example.com,,1990-02-30,,,Sales,\n"
    "M13,Kim,kim@example.com,,,2024-03-15T10:22:31.000Z,,Sales,smb\n"
)


def _snapshot() -> list[tuple]:
    return list(
        m.Customer.objects.order_by("external_id").values_list(
            "external_id",
            "full_name",
            "email",
            "phone",
            "birth_date",
            "acquired_at",
            "status",
            "department__name",
            "segment",
        )
    )


def _both_ways(path: Path, **options: Any) -> tuple[Any, Any, list[tuple]]:
    """The file imported row by row (as before), then, after the rows are deleted, in
    batches: (row-by-row report, batch report, the rows row by row stored). Asserts that
    both keep the same rows out with the same reasons and store the same values."""
    slow = records_import(entity="customers", path=path, fast=False, **options)
    slow_rows = _snapshot()
    m.Customer.objects.all().delete()
    fast = records_import(entity="customers", path=path, **options)
    assert [str(e) for e in fast.errors] == [str(e) for e in slow.errors]
    assert fast.rejected_rows == slow.rejected_rows
    assert _snapshot() == slow_rows
    return slow, fast, slow_rows


def test_the_fast_path_accepts_refuses_and_stores_exactly_what_row_by_row_does(tmp_path):
    # Given a file mixing good rows with every kind of bad one
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "mixed.csv", MIXED)
    # When it is imported row by row through the form fields (as before), then in batches
    # Then both keep the same rows out with the same reasons, and store the same values
    slow, fast, slow_rows = _both_ways(path)
    assert (fast.imported, fast.updated) == (slow.imported, slow.updated) == (4, 0)
    assert slow_rows[0][:3] == ("M1", "Ann Able", "ann@example.com")


GOOD = (
    "customer_id,full_name,email,phone,birth_date,acquired_at,status,department,segment\n"
    "G1,  Ann Able ,ann@example.com,+1 1,1980-02-03,2024-03-15 10:22,Customer,Sales,retail\n"
    "G2,Bob,,,,,,sales,\n"
    "G3,Cy, Cy.Cole+x@Example.ORG ,,2000-02-29,2024-03-15T10:22:00+02:00, lead ,SALES,smb\n"
    "G4,Dee,dee@mail.example.com,,,2024-03-15,FORMER,Sales,\n"
)


def test_a_file_of_good_rows_with_blanks_goes_in_by_column_as_row_by_row(tmp_path):
    # Given a file whose every cell is good, optional cells blank in some rows (so each
    # column is converted whole, blanks and all), another with a duplicate id and an
    # unknown department in it
    DepartmentFactory(name="Sales")
    good = write(tmp_path, "good.csv", GOOD)
    mixed = write(tmp_path, "dup.csv", GOOD + "G2,Bob Again,,,,,,Sales,\nG5,Eve,,,,,,Nowhere,\n")
    for path in (good, mixed):
        # When it is imported row by row, then in batches
        # Then both store the same values and keep out the same rows with the same reasons
        slow, fast, slow_rows = _both_ways(path)
        assert (fast.imported, fast.updated) == (slow.imported, slow.updated) == (4, 0)
        m.Customer.objects.all().delete()
    assert slow_rows == [
        (
            "G1",
            "Ann Able",
            "ann@example.com",
            "+1 1",
            date(1980, 2, 3),
            datetime(2024, 3, 15, 10, 22, tzinfo=UTC),
            "customer",
            "Sales",
            "retail",
        ),
        ("G2", "Bob", "", "", None, None, "customer", "Sales", ""),  # blank: the default
        (
            "G3",
            "Cy",
            "Cy.Cole+x@Example.ORG",
            "",
            date(2000, 2, 29),
            datetime(2024, 3, 15, 8, 22, tzinfo=UTC),
            "lead",
            "Sales",
            "smb",
        ),
        (
            "G4",
            "Dee",
            "dee@mail.example.com",
            "",
            None,
            datetime(2024, 3, 15, tzinfo=UTC),
            "former",
            "Sales",
            "",
        ),
    ]
    assert [str(e) for e in slow.errors] == [
        "row 6, column customer_id: G2 appears again (first on row 3)",
        "row 7, column department: no department with name 'Nowhere' (known: Sales; or add "
        "it with --create-departments)",
    ]


def test_mapped_values_and_defaults_go_in_by_column_as_row_by_row(tmp_path, monkeypatch):
    # Given a mapping that translates another system's statuses and fills blank
    # departments and segments, a file whose every row it makes good, and the same file
    # with a status it does not know; and a record of the rows read cell by cell
    from crm_scorecard.crm import imports
    from crm_scorecard.crm.import_mapping import ColumnMapping

    by_cell: list[int] = []
    real_value = imports._Importer.value

    def value(self, cells, planned):
        if cells:  # (a column the file lacks is read once for the batch, from no cells)
            by_cell.append(1)
        return real_value(self, cells, planned)

    monkeypatch.setattr(imports._Importer, "value", value)

    DepartmentFactory(name="Sales")
    DepartmentFactory(name="Service")
    mapping = ColumnMapping(
        values={"status": {"marketing qualified lead": "lead", "evangelist": "customer"}},
        defaults={"department": "Sales", "segment": "retail"},
    )
    header = "customer_id,full_name,status,department,segment\n"
    rows = "P1,Ann, Marketing Qualified Lead ,,\nP2,Bob,EVANGELIST,Service,smb\nP3,Cy,former, ,\n"
    good = write(tmp_path, "good.csv", header + rows)
    bad = write(tmp_path, "bad.csv", header + rows + "P4,Dee,Subscriber,,\n")
    stored = []
    for path in (good, bad):
        # When each is imported row by row, then in batches
        slow = records_import(entity="customers", path=path, fast=False, mapping=mapping)
        slow_rows = _snapshot()
        m.Customer.objects.all().delete()
        by_cell.clear()
        fast = records_import(entity="customers", path=path, mapping=mapping)
        # Then both store the same values and keep out the same rows with the same reasons,
        # and in batches a row was read cell by cell only when it was bad: the mapped
        # columns were translated and defaulted a column at a time
        assert [str(e) for e in fast.errors] == [str(e) for e in slow.errors]
        assert fast.rejected_rows == slow.rejected_rows
        assert (fast.imported, fast.updated) == (slow.imported, slow.updated) == (3, 0)
        assert _snapshot() == slow_rows
        assert len(by_cell) == (0 if path == good else 16)  # P4 alone: our 16 columns
        stored.append([(r[0], r[6], r[7], r[8]) for r in slow_rows])
        m.Customer.objects.all().delete()
    assert (
        stored[0]
        == stored[1]
        == [
            ("P1", "lead", "Sales", "retail"),
            ("P2", "customer", "Service", "smb"),
            ("P3", "former", "Sales", "retail"),
        ]
    )
    assert [str(e) for e in slow.errors] == [
        "row 5, column status: 'Subscriber' is not one of: lead, customer, former."
    ]


def _converter(field_name: str, required: bool = False):
    from crm_scorecard.crm.imports import SPECS, _fast_converter

    field = SPECS["customers"].columns[field_name]
    field.required = required
    try:
        return _fast_converter(field)
    finally:
        field.required = field_name in SPECS["customers"].required


Z = UTC


@pytest.mark.parametrize(
    ("column", "required", "cells", "expected"),
    [
        (
            "email",
            False,
            ["ann@example.com", " Bob@Example.ORG ", ""],
            ["ann@example.com", "Bob@Example.ORG", ""],
        ),
        ("email", False, ["", " "], ["", ""]),
        ("email", False, ["ann@example.com", "bob@example"], None),
        ("email", False, ["a@b.com\nc@d.com"], None),
        ("email", False, ["a@b@c.com"], None),
        ("email", False, ["ann.example.com"], None),
        ("email", False, ["a..b@c.com"], None),
        ("email", False, [5], None),
        (
            "birth_date",
            False,
            ["1980-02-03", "", " 2024-02-29 "],
            [date(1980, 2, 3), None, date(2024, 2, 29)],
        ),
        ("birth_date", False, ["2023-02-29"], None),
        ("birth_date", False, ["03/15/1980"], None),
        ("birth_date", False, ["2024-3-5"], None),
        ("birth_date", False, ["2024-01-01\n2024-01-02"], None),
        ("birth_date", True, ["2024-01-01", ""], None),
        (
            "acquired_at",
            False,
            ["2024-03-15 10:22", "", "2024-03-15T10:22:00+02:00", "2024-03-15T10:22:31.000Z"],
            [
                datetime(2024, 3, 15, 10, 22, tzinfo=Z),
                None,
                datetime(2024, 3, 15, 8, 22, tzinfo=Z),
                datetime(2024, 3, 15, 10, 22, 31, tzinfo=Z),
            ],
        ),
        ("acquired_at", False, ["2024-13-01"], None),
        (
            "status",
            False,
            ["Customer", " lead ", "FORMER", ""],
            ["customer", "lead", "former", None],
        ),
        ("status", True, ["lead", ""], None),
        ("status", False, ["lead", "bogus"], None),
        ("full_name", True, ["Ann", " "], None),
        ("full_name", False, ["Ann", "a\x00b"], None),
    ],
)
def test_a_whole_column_converts_as_its_cells_do_or_goes_cell_by_cell(
    column, required, cells, expected
):
    # Given a column's fast converter (with or without a required value)
    convert = _converter(column, required)
    # When a whole column of cells is converted at once, and cell by cell
    whole = convert.whole_column(cells)
    one_by_one = [convert(cell) for cell in cells]
    # Then the column gives what its cells give, or (a cell not plainly good) nothing, so
    # it goes cell by cell, where that cell goes the slow way
    from crm_scorecard.crm.imports import SLOW

    if expected is None:
        assert whole is None
        assert any(value is SLOW for value in one_by_one)
    else:
        assert whole == one_by_one == expected


def test_when_the_database_refuses_a_batch_its_rows_go_in_one_by_one(tmp_path, monkeypatch):
    # Given a database that refuses the one-statement upsert of a batch
    from django.db import DatabaseError

    from crm_scorecard.crm import imports

    def refusing(*args, **kwargs):
        raise DatabaseError("no upsert today")

    monkeypatch.setattr(imports, "records_upsert", refusing)
    DepartmentFactory(name="Sales")
    path = write(
        tmp_path, "c.csv", "customer_id,full_name,department\nC1,Ann,Sales\nC2,Bob,Sales\n"
    )
    # When the file is imported twice
    first = records_import(entity="customers", path=path)
    second = records_import(entity="customers", path=path)
    # Then every row still goes in (the row-by-row writer), counted as new, then as updated
    assert (first.imported, first.updated, first.rejected) == (2, 0, 0)
    assert (second.imported, second.updated, second.rejected) == (0, 2, 0)
    assert m.Customer.objects.count() == 2


def test_batches_take_the_databases_own_size_unless_one_is_set(tmp_path, monkeypatch):
    # Given 7 customers, no batch size set, and a size of 3 rows for this database
    from django.db import connection

    from crm_scorecard.crm import imports

    monkeypatch.setattr(imports, "BATCH_SIZE", None)
    monkeypatch.setattr(imports, "BATCH_SIZES", {connection.vendor: 3})
    sizes: list[int] = []
    real = imports.records_upsert

    def spy(model, unique, records):
        sizes.append(len(records))
        return real(model, unique, records)

    monkeypatch.setattr(imports, "records_upsert", spy)
    DepartmentFactory(name="Sales")
    lines = "".join(f"C{i},Name {i},Sales\n" for i in range(1, 8))
    path = write(tmp_path, "c.csv", "customer_id,full_name,department\n" + lines)
    # When it is imported, then imported again with one name changed in the middle batch
    first = records_import(entity="customers", path=path)
    path = write(
        tmp_path, "c.csv", "customer_id,full_name,department\n" + lines.replace("Name 5", "Eve")
    )
    second = records_import(entity="customers", path=path)
    # Then each import wrote batches of 3, 3 and 1 rows, the first all new, the second all
    # updated, and the customers are as the second file says
    assert sizes == [3, 3, 1, 3, 3, 1]
    assert (first.imported, first.updated, first.rejected) == (7, 0, 0)
    assert (second.imported, second.updated, second.rejected) == (0, 7, 0)
    assert list(m.Customer.objects.order_by("external_id").values_list("full_name", flat=True)) == [
        "Name 1",
        "Name 2",
        "Name 3",
        "Name 4",
        "Eve",
        "Name 6",
        "Name 7",
    ]


def _rewrites_counted() -> None:
    """A row trigger that counts the customers rewritten (in a table of its own)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_rewrites (n integer NOT NULL)")
        cursor.execute("INSERT INTO test_rewrites VALUES (0)")
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE TRIGGER test_rewrites AFTER UPDATE ON crm_customer FOR EACH ROW "
                "BEGIN UPDATE test_rewrites SET n = n + 1; END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION test_rewrite() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN UPDATE test_rewrites SET n = n + 1; RETURN NEW; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER test_rewrites AFTER UPDATE ON crm_customer FOR EACH ROW "
                "EXECUTE FUNCTION test_rewrite()"
            )


def _rewrites() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT n FROM test_rewrites")
        return int(cursor.fetchone()[0])


def test_a_reimport_rewrites_only_the_customers_that_changed(tmp_path):
    # Given three customers imported, and a trigger counting the rows rewritten
    DepartmentFactory(name="Sales")
    DepartmentFactory(name="Service")
    header = "customer_id,full_name,email,birth_date,acquired_at,status,department\n"
    lines = [
        "C1,Ann,ann@example.com,1980-02-03,2024-03-15 10:22,customer,Sales\n",
        "C2,Bob,,,,,Sales\n",
        "C3,Cy,cy@example.com,,2024-03-15T10:22:00+02:00,lead,Sales\n",
    ]
    path = write(tmp_path, "c.csv", header + "".join(lines))
    records_import(entity="customers", path=path)
    _rewrites_counted()
    # When the same file is imported again, then with C2 moved to Service and C3's email blank
    same = records_import(entity="customers", path=path)
    after_same = _rewrites()
    lines[1] = "C2,Bob,,,,,Service\n"
    lines[2] = lines[2].replace("cy@example.com", "")
    path = write(tmp_path, "c.csv", header + "".join(lines))
    changed = records_import(entity="customers", path=path)
    # Then both count every row as updated, but only the two changed rows were rewritten
    assert (same.imported, same.updated, same.rejected) == (0, 3, 0)
    assert (changed.imported, changed.updated, changed.rejected) == (0, 3, 0)
    assert after_same == 0
    assert _rewrites() == 2
    assert list(
        m.Customer.objects.order_by("external_id").values_list("email", "department__name")
    ) == [("ann@example.com", "Sales"), ("", "Service"), ("", "Sales")]


@pytest.mark.django_db(transaction=True)
def test_a_batch_naming_a_department_deleted_meanwhile_keeps_out_only_that_row(
    tmp_path, monkeypatch
):
    # Given an import outside any transaction (SQLite then writes a batch without its row
    # by row foreign key checks and checks the batch's references itself), and the
    # department "Gone" deleted after the importer has read the departments
    from django.db import connection

    from crm_scorecard.crm import imports

    DepartmentFactory(name="Sales")
    DepartmentFactory(name="Gone")
    real_init = imports._Importer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        Department.objects.filter(name="Gone").delete()

    monkeypatch.setattr(imports._Importer, "__init__", init)
    refused: list[str] = []
    real = imports.records_upsert

    def spy(model, unique, records):
        try:
            return real(model, unique, records)
        except Exception as exc:
            refused.append(str(exc))
            raise

    monkeypatch.setattr(imports, "records_upsert", spy)
    path = write(
        tmp_path,
        "c.csv",
        "customer_id,full_name,department\nC1,Ann,Sales\nC2,Bob,Gone\nC3,Cy,Sales\n",
    )
    # When it is imported
    report = records_import(entity="customers", path=path)
    # Then the batch was refused whole, and row by row only C2 is out, with its row and the
    # database's reason; C1 and C3 are in
    assert (report.imported, report.updated, report.rejected) == (2, 0, 1)
    assert [(e.row, e.column) for e in report.errors] == [(3, "")]
    assert str(report.errors[0]).startswith("row 3: refused by the database: ")
    assert list(
        m.Customer.objects.order_by("external_id").values_list("external_id", flat=True)
    ) == [
        "C1",
        "C3",
    ]
    if connection.vendor == "sqlite":
        # (SQLite: refused by the batch's own reference check, and the row by row checks
        # are on again afterwards)
        assert refused == [
            "FOREIGN KEY constraint failed: 1 value(s) of crm_customer.department_id "
            "name no department"
        ]
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys")
            assert cursor.fetchone()[0] == 1
    else:
        # (PostgreSQL: its deferred check refuses the batch as it commits, after the upsert)
        assert refused == []


def _workbook(tmp_path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Customer ID", "Full Name", "Department", "Birth Date", "Acquired At", "Phone"])
    sheet.append(
        [1001, "Ann Able", "Sales", datetime(1980, 2, 3), datetime(2024, 3, 15, 10, 22), 441]
    )
    sheet.append(["1002", "Bob", "Sales", "03/15/1980", None, None])
    sheet.append([None] * 6)
    sheet.append(["1003", "Cy", "Sales", "1990-04-15", "2024-03-15", "+44 2"])
    path = tmp_path / "customers.xlsx"
    book.save(path)
    return path


@pytest.mark.parametrize("reader", ["calamine", "openpyxl"])
def test_excel_rows_read_alike_with_calamine_and_with_openpyxl(tmp_path, monkeypatch, reader):
    # Given a workbook with real date cells, numbers in text columns and a blank row
    import sys

    if reader == "openpyxl":  # as on an installation without python-calamine
        monkeypatch.setitem(sys.modules, "python_calamine", None)
    DepartmentFactory(name="Sales")
    path = _workbook(tmp_path)
    # When imported
    code, out, err = run("customers", path)
    # Then the row numbers are the sheet's, the good rows are in with the same values
    assert (code, out.strip().splitlines()[-1]) == (1, "imported 2, updated 0, rejected 1")
    assert "row 3, column birth_date: Enter a valid date. '03/15/1980' is not YYYY-MM-DD" in err
    ann = m.Customer.objects.get(external_id="1001")
    assert (ann.birth_date.isoformat(), ann.phone) == ("1980-02-03", "441")
    assert ann.acquired_at == datetime(2024, 3, 15, 10, 22, tzinfo=UTC)
    assert m.Customer.objects.get(external_id="1003").acquired_at == datetime(
        2024, 3, 15, tzinfo=UTC
    )


def test_the_fast_path_reads_a_workbook_exactly_as_row_by_row_does(tmp_path):
    # Given a workbook with date cells, numbers in text columns and a bad row
    DepartmentFactory(name="Sales")
    path = _workbook(tmp_path)
    # When it is imported row by row, then in batches
    # Then the same rows are in with the same values, and the same one is out
    slow, fast, _ = _both_ways(path)
    assert (fast.imported, fast.rejected) == (slow.imported, slow.rejected) == (2, 1)


# ---- orders in batches -------------------------------------------------------------------------


def _orders_file(tmp_path: Path, lines: list[str]) -> Path:
    return write(
        tmp_path,
        "orders.csv",
        "order_id,customer_id,ordered_at,amount,product_sku\n" + "\n".join(lines) + "\n",
    )


def _two_lines_each(*bad: tuple[str, int, str]) -> list[str]:
    """Orders O1..O7 of two lines each (amounts 1 and 2), with some cells replaced:
    (order, line 1 or 2, 'amount=...' or 'customer=...' or 'sku=...')."""
    lines = []
    for order in range(1, 8):
        for line in (1, 2):
            cells = {"customer": "C1", "amount": str(line), "sku": ""}
            for which, at, change in bad:
                if which == f"O{order}" and at == line:
                    column, value = change.split("=")
                    cells[column] = value
            lines.append(
                f"O{order},{cells['customer']},2026-01-0{order},{cells['amount']},{cells['sku']}"
            )
    return lines


def _stored_lines() -> list[tuple[str, int, Decimal]]:
    return list(
        m.OrderLine.objects.order_by("order__external_id", "line_no").values_list(
            "order__external_id", "line_no", "amount"
        )
    )


def test_orders_are_written_a_batch_at_a_time_each_order_whole(tmp_path, monkeypatch):
    # Given 7 orders of two lines each (rows 2-15) and batches of 5 rows, so O3's lines
    # (rows 6 and 7) fall in two batches
    from crm_scorecard.crm import imports

    CustomerFactory(external_id="C1")
    monkeypatch.setattr(imports, "BATCH_SIZE", 5)
    calls: list[tuple[str, list]] = []
    real = imports.records_upsert

    def spy(model, unique, records):
        calls.append(
            (model.__name__, sorted({r.get("external_id", r.get("order_id")) for r in records}))
        )
        return real(model, unique, records)

    monkeypatch.setattr(imports, "records_upsert", spy)
    path = _orders_file(tmp_path, _two_lines_each())
    # When imported
    report = records_import(entity="orders", path=path)
    # Then each batch's complete orders are written with one upsert of orders and one of
    # lines; O3 waits for its second line and goes with the next batch
    assert [name for name, _ in calls] == ["Order", "OrderLine"] * 3
    assert [keys for name, keys in calls if name == "Order"] == [
        ["O1", "O2"],
        ["O3", "O4", "O5"],
        ["O6", "O7"],
    ]
    assert (report.imported, report.updated, report.rejected) == (14, 0, 0)
    assert _stored_lines() == [
        (f"O{o}", line, Decimal(line)) for o in range(1, 8) for line in (1, 2)
    ]
    # And a second run updates the same lines in place
    again = records_import(entity="orders", path=path)
    assert (again.imported, again.updated, again.rejected) == (0, 14, 0)
    assert m.OrderLine.objects.count() == 14


def test_errors_in_the_middle_of_a_batch_keep_out_only_their_orders(tmp_path, monkeypatch):
    # Given one batch of 7 orders in which O2 has an invalid amount on its second line,
    # O5 names an unknown product on its second line, and the database refuses O4's lines
    from django.db import IntegrityError

    from crm_scorecard.crm import imports

    CustomerFactory(external_id="C1")
    real = imports.records_upsert
    refused: list[int] = []

    def refusing(model, unique, records):
        if model is m.OrderLine and any(r["amount"] == Decimal("13") for r in records):
            refused.append(len(records))
            raise IntegrityError("amount 13 refused")
        return real(model, unique, records)

    monkeypatch.setattr(imports, "records_upsert", refusing)
    path = _orders_file(
        tmp_path,
        _two_lines_each(("O2", 2, "amount=-1"), ("O4", 1, "amount=13"), ("O5", 2, "sku=NOPE")),
    )
    # When imported
    report = records_import(entity="orders", path=path)
    # Then the batch was tried whole (O1, O3, O4, O6, O7: 10 lines), then order by order;
    # O2, O4 and O5 are out whole, each line with its row, column and reason
    assert refused == [10, 2]
    assert [str(e) for e in report.errors] == [
        "row 4, column order_id: order O2 is not imported: its line on row 5 is rejected",
        "row 5, column amount: Ensure this value is greater than or equal to 0.",
        "row 8: order O4 refused by the database: amount 13 refused",
        "row 9: order O4 refused by the database: amount 13 refused",
        "row 10, column order_id: order O5 is not imported: its line on row 11 is rejected",
        "row 11, column product_sku: no product with sku 'NOPE'",
    ]
    assert [number for number, _ in report.rejected_rows] == [4, 5, 8, 9, 10, 11]
    assert report.rejected_rows[1][1]["amount"] == "-1"
    assert (report.imported, report.updated, report.rejected) == (8, 0, 6)
    # And the other orders are in with all their lines, and nothing of the rejected ones
    assert _stored_lines() == [
        (f"O{o}", line, Decimal(line)) for o in (1, 3, 6, 7) for line in (1, 2)
    ]
    assert sorted(m.Order.objects.values_list("external_id", flat=True)) == ["O1", "O3", "O6", "O7"]


@pytest.mark.parametrize("batch", [2, 3, 5000])
def test_orders_in_batches_keep_out_and_store_exactly_what_row_by_row_does(
    tmp_path, monkeypatch, batch
):
    # Given customers, products and a salesperson, the orders file with good and bad
    # lines, and batches of several sizes (orders cut across batches or not)
    from crm_scorecard.crm import imports

    monkeypatch.setattr(imports, "BATCH_SIZE", batch)
    dept = DepartmentFactory(name="Sales")
    CustomerFactory(external_id="C1", department=dept)
    CustomerFactory(external_id="C2", department=dept)
    ProductFactory(sku="SKU1")
    ProductFactory(sku="SKU2")
    EmployeeFactory(external_id="E1", department=dept)
    path = write(tmp_path, "orders.csv", ORDERS)
    # When it is imported row by row (as before), then in batches
    slow = records_import(entity="orders", path=path, fast=False)
    slow_lines = list(
        m.OrderLine.objects.order_by("order__external_id", "line_no").values_list(
            "order__external_id",
            "order__customer__external_id",
            "order__ordered_at",
            "order__salesperson__external_id",
            "order__channel",
            "line_no",
            "product__sku",
            "quantity",
            "unit_price",
            "amount",
        )
    )
    m.Order.objects.all().delete()
    fast = records_import(entity="orders", path=path)
    # Then both keep the same rows out with the same reasons and store the same lines
    assert [str(e) for e in fast.errors] == [str(e) for e in slow.errors]
    assert fast.rejected_rows == slow.rejected_rows
    assert (fast.imported, fast.updated) == (slow.imported, slow.updated) == (3, 0)
    fast_lines = list(
        m.OrderLine.objects.order_by("order__external_id", "line_no").values_list(
            "order__external_id",
            "order__customer__external_id",
            "order__ordered_at",
            "order__salesperson__external_id",
            "order__channel",
            "line_no",
            "product__sku",
            "quantity",
            "unit_price",
            "amount",
        )
    )
    assert fast_lines == slow_lines
    assert [line[0] for line in fast_lines] == ["O1", "O1", "O2"]


def test_a_dry_run_of_orders_in_batches_writes_nothing(tmp_path, monkeypatch):
    # Given batches of 3 rows and an orders file
    from crm_scorecard.crm import imports

    monkeypatch.setattr(imports, "BATCH_SIZE", 3)
    CustomerFactory(external_id="C1")
    path = _orders_file(tmp_path, _two_lines_each(("O2", 2, "amount=-1")))
    # When it is imported as a dry run
    report = records_import(entity="orders", path=path, dry_run=True)
    # Then it counts what it would do and writes nothing
    assert (report.imported, report.updated, report.rejected) == (12, 0, 2)
    assert not m.Order.objects.exists() and not m.OrderLine.objects.exists()


def _customer_version() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM crm_tableversion WHERE \"table\" = 'crm_customer'")
        return int(cursor.fetchone()[0])


def _customer_triggers() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'crm_customer'"
        )
        return sorted(name for (name,) in cursor.fetchall())


def test_an_import_is_counted_once_and_outside_writes_after_it_still_are(tmp_path):
    # Given migration 0006's change triggers on the customers (row triggers on SQLite, which
    # the importer drops for a batch and puts back; a statement trigger on PostgreSQL)
    from django.db import connection

    from crm_scorecard.crm.changes import table_versions

    sqlite = connection.vendor == "sqlite"
    triggers = _customer_triggers() if sqlite else []
    if sqlite:
        assert len(triggers) == 3
    DepartmentFactory(name="Sales")
    path = write(
        tmp_path, "c.csv", "customer_id,full_name,department\nC1,Ann,Sales\nC2,Bob,Sales\n"
    )
    before = _customer_version()
    seen_before = table_versions(["crm_customer"])["crm_customer"]
    # When a batch of two customers is imported
    report = records_import(entity="customers", path=path)
    # Then the import counted one change (not one per row through the triggers)
    assert report.imported == 2
    assert _customer_version() == before + 1
    seen_after_import = table_versions(["crm_customer"])["crm_customer"]
    assert seen_after_import != seen_before
    # And a write from outside the product afterwards is still noticed by the triggers
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_customer SET city = 'Lyon'")
    assert table_versions(["crm_customer"])["crm_customer"] != seen_after_import
    if sqlite:
        # (SQLite: the row triggers are back, one count per row of the outside write)
        assert _customer_triggers() == triggers
        assert _customer_version() == before + 1 + 2


def test_a_batch_the_database_refuses_is_djangos_error_on_either_database():
    # Given a customer record the database cannot hold (no name: a NOT NULL column)
    from django.db import IntegrityError, transaction

    from crm_scorecard.crm.import_upsert import records_upsert

    dept = DepartmentFactory(name="Sales")
    record = {"external_id": "C1", "full_name": None, "department_id": dept.pk}
    # When the batch is upserted, then the refusal is Django's IntegrityError (what the
    # importer catches to write the batch row by row), not the driver's own error
    with pytest.raises(IntegrityError), transaction.atomic():
        records_upsert(m.Customer, "external_id", [record])
    # And nothing was written
    assert not m.Customer.objects.exists()
