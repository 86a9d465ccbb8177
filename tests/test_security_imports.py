"""Imports under hostile or broken input: quoting, huge cells, NUL bytes, formulas, crashes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.http import Http404

from crm_scorecard.crm import imports
from crm_scorecard.crm import models as m
from crm_scorecard.crm.selectors import customer_360, customer_search
from crm_scorecard.errors import NotFound

from .factories import CustomerFactory, DepartmentFactory

pytestmark = pytest.mark.django_db


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip(), encoding="utf-8", newline="")
    return path


def run(entity: str, path: Path, *extra: str) -> tuple[int, str, str]:
    """Run the import command; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import", entity, str(path), "--no-progress", *extra, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def last_line(out: str) -> str:
    return out.strip().splitlines()[-1]


# ---- 1. standard CSV quoting --------------------------------------------------------------------


def test_doubled_quotes_inside_a_quoted_field_are_one_quote(tmp_path):
    # Given an unquoted header and a name written with standard CSV quoting
    DepartmentFactory(name="Sales")
    path = write(
        tmp_path,
        "c.csv",
        'customer_id,full_name,department\nC1,"John ""Johnny"" Smith",Sales\n',
    )
    # When it is imported
    code, out, err = run("customers", path)
    # Then the name is stored exactly as a spreadsheet shows it
    assert (code, last_line(out)) == (0, "imported 1, updated 0, rejected 0"), err
    assert m.Customer.objects.get().full_name == 'John "Johnny" Smith'


def test_doubled_quotes_in_a_semicolon_file(tmp_path):
    # Given a semicolon-separated file whose quoted field holds the delimiter and a quote
    DepartmentFactory(name="Sales")
    path = write(
        tmp_path,
        "c.csv",
        'customer_id;full_name;department\nC1;"Smith; ""Jr"" John";Sales\n',
    )
    # When it is imported
    code, _, err = run("customers", path)
    # Then the delimiter is still sniffed and the quoting is standard
    assert code == 0, err
    assert m.Customer.objects.get().full_name == 'Smith; "Jr" John'


# ---- 2. huge fields and the summary line -------------------------------------------------------


def test_a_field_longer_than_the_cap_is_a_row_error_and_the_rest_imports(tmp_path):
    # Given 50 good rows, one with a 200 KiB note, and 50 more good rows
    DepartmentFactory(name="Sales")
    CustomerFactory(external_id="C1")
    lines = ["interaction_id,customer_id,department,channel,started_at,note"]
    lines += [f"I{n},C1,Sales,call,2026-01-05,ok" for n in range(50)]
    lines.append("IBIG,C1,Sales,call,2026-01-05," + "x" * 200_000)
    lines += [f"J{n},C1,Sales,call,2026-01-05,ok" for n in range(50)]
    path = write(tmp_path, "i.csv", "\n".join(lines) + "\n")
    # When it is imported
    code, out, err = run("interactions", path)
    # Then only the huge row is rejected, with row, column and reason, and a rejects file
    assert code == 1
    assert last_line(out) == "imported 100, updated 0, rejected 1"
    assert (
        f"row 52, column note: is longer than {imports.MAX_CELL_CHARS:,} characters "
        "(it has 200,000)" in err
    )
    assert not m.Interaction.objects.filter(external_id="IBIG").exists()
    assert (tmp_path / "i.rejects.csv").exists()


def test_summary_is_the_last_line_even_when_the_import_stops_unexpectedly(tmp_path, monkeypatch):
    # Given a file of good rows and a writer that fails on the second batch
    DepartmentFactory(name="Sales")
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    path = write(
        tmp_path,
        "c.csv",
        "customer_id,full_name,department\nC1,A,Sales\nC2,B,Sales\nC3,C,Sales\nC4,D,Sales\n",
    )
    real = imports._Importer.write
    calls = []

    def failing_write(self, batch):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(self, batch)

    monkeypatch.setattr(imports._Importer, "write", failing_write)
    # When it is imported
    code, out, err = run("customers", path)
    # Then the run says what went wrong and ends with what was committed
    assert code == 2
    assert "disk on fire" in err
    assert last_line(out) == "imported 2, updated 0, rejected 0"
    assert m.Customer.objects.count() == 2


def test_a_field_the_reader_cannot_hold_stops_the_file_with_a_summary(tmp_path, monkeypatch):
    # Given a reader that gives up on fields over 5,000 characters, and a file with three
    # good rows, one such field, and a good row after it
    DepartmentFactory(name="Sales")
    monkeypatch.setattr(imports, "READ_LIMIT", 5000)
    lines = ["customer_id,full_name,department,note"]
    lines += [f"C{n},Name {n},Sales," for n in range(3)]
    lines += ["CX,Big,Sales," + "x" * 6000, "C9,Last,Sales,"]
    path = write(tmp_path, "c.csv", "\n".join(lines) + "\n")
    # When it is imported
    code, out, err = run("customers", path)
    # Then the run stops there, saying where and why, and ends with what was written
    assert code == 2
    assert "row 5: a field is longer than 5,000 characters; the file cannot be read past it" in err
    assert last_line(out) == "imported 3, updated 0, rejected 0"
    assert m.Customer.objects.count() == 3


# ---- 3. an order is in or out as a whole ----------------------------------------------------------


class Killed(BaseException):
    """Stands in for the process dying: nothing in the importer catches it."""


ORDERS = """
order_id,customer_id,ordered_at,amount
O1,C1,2026-01-05,1
O1,C1,2026-01-05,2
O1,C1,2026-01-05,3
O2,C1,2026-01-06,4
O2,C1,2026-01-06,5
O3,C1,2026-01-07,6
"""


def test_a_crash_between_batches_never_leaves_half_an_order(tmp_path, monkeypatch):
    # Given an orders file with a three-line order, batches smaller than an order,
    # and a process that dies on its second write of order lines
    CustomerFactory(external_id="C1")
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    path = write(tmp_path, "o.csv", ORDERS)
    real = imports.records_upsert
    calls = []

    def dying_upsert(model, *args, **kwargs):
        if model is m.OrderLine:
            calls.append(1)
            if len(calls) == 2:
                raise Killed
        return real(model, *args, **kwargs)

    monkeypatch.setattr(imports, "records_upsert", dying_upsert)
    # When it is imported and dies
    with pytest.raises(Killed):
        imports.records_import(entity="orders", path=path)
    # Then every order that is in has all its lines, and at least one order made it
    in_file = {"O1": 3, "O2": 2, "O3": 1}
    stored = {o.external_id: o.lines.count() for o in m.Order.objects.all()}
    assert stored
    assert stored == {k: in_file[k] for k in stored}


def test_an_order_with_a_bad_line_is_rejected_whole(tmp_path):
    # Given an order whose second line is invalid
    CustomerFactory(external_id="C1")
    path = write(
        tmp_path,
        "o.csv",
        """
order_id,customer_id,ordered_at,amount
O1,C1,2026-01-05,1
O1,C1,2026-01-05,-2
O1,C1,2026-01-05,3
O2,C1,2026-01-06,4
""",
    )
    # When it is imported
    code, out, err = run("orders", path)
    # Then none of O1's lines go in; each is in the rejects file with a reason
    assert code == 1
    assert last_line(out) == "imported 1, updated 0, rejected 3"
    assert "row 3, column amount:" in err
    assert "row 2, column order_id: order O1 is not imported: its line on row 3 is rejected" in err
    assert list(m.Order.objects.values_list("external_id", flat=True)) == ["O2"]
    rows = list(csv.DictReader((tmp_path / "o.rejects.csv").open(encoding="utf-8")))
    assert [r["row"] for r in rows] == ["2", "3", "4"]


def test_lines_of_one_order_far_apart_in_the_file_are_written_together(tmp_path, monkeypatch):
    # Given an order whose lines are separated by other orders, and tiny batches
    CustomerFactory(external_id="C1")
    monkeypatch.setattr(imports, "BATCH_SIZE", 1)
    path = write(
        tmp_path,
        "o.csv",
        """
order_id,customer_id,ordered_at,amount
O1,C1,2026-01-05,1
O2,C1,2026-01-06,4
O3,C1,2026-01-07,5
O1,C1,2026-01-05,3
""",
    )
    transactions = []
    real = imports._Importer._write_orders

    def recording(self, batch):
        transactions.append(sorted(values["order_id"] for _, _, values in batch))
        return real(self, batch)

    monkeypatch.setattr(imports._Importer, "_write_orders", recording)
    # When it is imported
    code, _, err = run("orders", path)
    # Then O1's two lines were written in one batch
    assert code == 0, err
    assert ["O1", "O1"] in transactions
    assert m.Order.objects.get(external_id="O1").lines.count() == 2


def test_an_order_the_database_refuses_a_line_of_stays_out_whole(tmp_path, monkeypatch):
    # Given two orders, and a database that refuses any line of amount 13
    from django.db import IntegrityError

    CustomerFactory(external_id="C1")
    path = write(
        tmp_path,
        "o.csv",
        """
order_id,customer_id,ordered_at,amount
O1,C1,2026-01-05,1
O1,C1,2026-01-05,13
O2,C1,2026-01-06,4
""",
    )
    real = imports.records_upsert

    def refusing(model, unique, records):
        if model is m.OrderLine and any(line["amount"] == 13 for line in records):
            raise IntegrityError("amount 13 refused")
        return real(model, unique, records)

    monkeypatch.setattr(imports, "records_upsert", refusing)
    # When it is imported
    code, out, err = run("orders", path)
    # Then O1 is out with both its lines rejected, and O2 is in
    assert code == 1
    assert last_line(out) == "imported 1, updated 0, rejected 2"
    assert "row 2: order O1 refused by the database: amount 13 refused" in err
    assert list(m.Order.objects.values_list("external_id", flat=True)) == ["O2"]
    assert m.OrderLine.objects.count() == 1


# ---- 4. formulas in the rejects file --------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["=1+1", "+cmd|' /C calc'!A0", "@SUM(A1:A2)", "-2+3", "\tx", "\rx"]
)
def test_formula_like_cells_are_neutralised_in_the_rejects_file(tmp_path, value):
    # Given a rejected row (unknown department) whose name looks like a formula
    DepartmentFactory(name="Sales")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["customer_id", "full_name", "department"])
    writer.writerow(["C1", value, "Nowhere"])
    writer.writerow(["C2", value, "Sales"])
    path = tmp_path / "c.csv"
    path.write_text(out.getvalue(), encoding="utf-8", newline="")
    # When it is imported
    run("customers", path)
    # Then the rejects file shows the cell prefixed with a quote, so no spreadsheet runs it
    rows = list(csv.DictReader((tmp_path / "c.rejects.csv").open(encoding="utf-8", newline="")))
    assert rows[0]["full_name"] == "'" + value
    # And the good row's value is stored exactly as typed
    assert m.Customer.objects.get(external_id="C2").full_name == value.strip()


# ---- 5. NUL bytes -------------------------------------------------------------------------------


def test_nul_in_an_imported_cell_is_a_row_error(tmp_path):
    # Given a file with a NUL byte in a name and a good row
    DepartmentFactory(name="Sales")
    path = write(
        tmp_path, "c.csv", "customer_id,full_name,department\nC1,An\x00n,Sales\nC2,Bob,Sales\n"
    )
    # When it is imported
    code, out, err = run("customers", path)
    # Then that row is rejected naming row, column and reason; the other goes in
    assert code == 1
    assert last_line(out) == "imported 1, updated 0, rejected 1"
    assert "row 2, column full_name: contains a NUL character" in err
    assert list(m.Customer.objects.values_list("external_id", flat=True)) == ["C2"]


def test_nul_in_a_referenced_id_is_a_row_error(tmp_path):
    # Given an orders file naming a customer id with a NUL byte
    CustomerFactory(external_id="C1")
    path = write(
        tmp_path, "o.csv", "order_id,customer_id,ordered_at,amount\nO1,C\x001,2026-01-05,1\n"
    )
    # When it is imported
    code, _, err = run("orders", path)
    # Then it is a row error, not a database error
    assert code == 1
    assert "row 2, column customer_id: contains a NUL character" in err


def test_nul_in_a_search_term_matches_nothing(org):
    # Given a customer the executive can see
    CustomerFactory(full_name="Ann Able", department=org.sales)
    # When searching with a NUL byte, then nothing matches and nothing fails
    assert customer_search(user=org.executive, query="An\x00n") == []
    assert customer_search(user=org.executive, query="\x00\x00") == []


def test_nul_in_a_customer_id_is_not_found(org):
    # Given a customer the executive can see
    CustomerFactory(external_id="C1", department=org.sales)
    # When asking for an id with a NUL byte, then it is not found (the domain's NotFound,
    # which every face answers as 404; Http404 before it), not a server error
    with pytest.raises((Http404, NotFound)):
        customer_360(user=org.executive, external_id="C\x001")


def test_nul_in_a_customer_url_answers_404(client, org):
    # Given a signed-in executive
    client.force_login(org.executive)
    # When opening a customer page whose id holds a NUL byte
    response = client.get("/customers/C%001/")
    # Then it answers 404
    assert response.status_code == 404


# ---- 6. dry run writes nothing, not even the rejects file ---------------------------------------

BAD = "customer_id,full_name,department\nC1,Ann,Sales\nC2,Bob,Nowhere\n"


def test_dry_run_writes_no_rejects_file_and_prints_every_error(tmp_path):
    # Given a file with a bad row
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "c.csv", BAD)
    # When it is validated with --dry-run
    code, out, err = run("customers", path, "--dry-run")
    # Then no rejects file appears; the errors are printed instead
    assert code == 1
    assert not (tmp_path / "c.rejects.csv").exists()
    assert "row 3, column department: no department with name 'Nowhere'" in err
    assert last_line(out) == "imported 1, updated 0, rejected 1"


def test_dry_run_writes_the_rejects_file_when_asked(tmp_path):
    # Given a file with a bad row
    DepartmentFactory(name="Sales")
    path = write(tmp_path, "c.csv", BAD)
    rejects = tmp_path / "bad.csv"
    # When it is validated with --dry-run --rejects PATH
    run("customers", path, "--dry-run", "--rejects", str(rejects))
    # Then the rejects file is written where asked, and nothing else
    assert [r["row"] for r in csv.DictReader(rejects.open(encoding="utf-8"))] == ["3"]
    assert m.Customer.objects.count() == 0
