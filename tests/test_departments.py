"""Departments from the command line and from a file: the tree the whole scope hangs on."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.services import (
    department_create,
    department_move,
    department_rename,
    departments_import,
)

from .factories import DepartmentFactory

pytestmark = pytest.mark.django_db


def departments(*args: str) -> str:
    out = io.StringIO()
    call_command("departments", *args, stdout=out)
    return out.getvalue()


def tree() -> dict[str, str | None]:
    return {d.name: d.parent.name if d.parent else None for d in Department.objects.all()}


def run_import(path: Path, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(
            "import", "departments", str(path), "--no-progress", *extra, stdout=out, stderr=err
        )
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "departments.csv"
    path.write_text(text.lstrip(), encoding="utf-8")
    return path


# ---- list ---------------------------------------------------------------------------------------


def test_list_shows_the_tree_indented():
    # Given Sales with a sub-team, and Service
    sales = DepartmentFactory(name="Sales")
    DepartmentFactory(name="Field Sales", parent=sales)
    DepartmentFactory(name="Service")
    # When listed
    out = departments("list")
    # Then each sub-department is indented under its parent
    assert out.splitlines() == ["Sales", "  Field Sales", "Service"]


def test_list_json_names_each_parent():
    # Given Sales with a sub-team
    sales = DepartmentFactory(name="Sales")
    DepartmentFactory(name="Field Sales", parent=sales)
    # When listed as JSON
    rows = json.loads(departments("list", "--json"))
    # Then each department names its parent, or null at the top
    assert rows == [{"name": "Field Sales", "parent": "Sales"}, {"name": "Sales", "parent": None}]


def test_list_with_no_departments_says_how_to_add_one():
    # Given no departments, when listed, then the way to add one is shown
    assert "departments add NAME" in departments("list")
    # And as JSON it is an empty list
    assert json.loads(departments("list", "--json")) == []


# ---- add ----------------------------------------------------------------------------------------


def test_add_at_the_top_and_under_a_parent():
    # Given nothing
    # When Sales is added, and Field Sales under it (parent named in another case)
    out = departments("add", "Sales") + departments("add", "Field Sales", "--parent", "sales")
    # Then both exist, one inside the other
    assert tree() == {"Sales": None, "Field Sales": "Sales"}
    assert "added Field Sales under Sales" in out


def test_add_under_an_unknown_parent_is_refused():
    # Given Sales only
    DepartmentFactory(name="Sales")
    # When adding under a department that does not exist, then it is refused naming the known ones
    with pytest.raises(CommandError, match=r"No department named 'Nowhere'\. Known: Sales\."):
        departments("add", "Team", "--parent", "Nowhere")
    # And nothing was added
    assert tree() == {"Sales": None}


def test_add_a_name_taken_in_any_case_is_refused():
    # Given Sales
    DepartmentFactory(name="Sales")
    # When adding "SALES", then it is refused: the name is taken
    with pytest.raises(CommandError, match="A department named 'Sales' already exists"):
        departments("add", "SALES")
    assert Department.objects.count() == 1


def test_add_an_empty_name_is_refused():
    # Given nothing, when adding a blank name, then it is refused with the reason
    with pytest.raises(CommandError, match="needs a name"):
        departments("add", "  ")
    assert not Department.objects.exists()


def test_refused_command_exits_1():
    # Given Sales
    DepartmentFactory(name="Sales")
    # When the command is run as a user runs it and refused
    with pytest.raises(SystemExit) as exit_:
        from django.core.management import execute_from_command_line

        execute_from_command_line(["crm-scorecard", "departments", "add", "Sales"])
    # Then it exits 1
    assert exit_.value.code == 1


# ---- move ---------------------------------------------------------------------------------------


def test_move_under_a_parent_and_back_to_the_top():
    # Given Sales and Field Sales side by side
    DepartmentFactory(name="Sales")
    DepartmentFactory(name="Field Sales")
    # When Field Sales is moved under Sales
    assert "moved Field Sales under Sales" in departments(
        "move", "Field Sales", "--parent", "Sales"
    )
    # Then it is inside Sales
    assert tree()["Field Sales"] == "Sales"
    # When it is moved to the top, then it has no parent
    assert "moved Field Sales to the top" in departments("move", "Field Sales", "--root")
    assert tree()["Field Sales"] is None


def test_move_into_its_own_sub_department_is_refused():
    # Given Sales > Field Sales > Key Accounts
    sales = DepartmentFactory(name="Sales")
    field = DepartmentFactory(name="Field Sales", parent=sales)
    DepartmentFactory(name="Key Accounts", parent=field)
    # When Sales is moved under Key Accounts, then it is refused with the reason
    with pytest.raises(
        CommandError, match="Cannot move Sales under Key Accounts, which is inside it"
    ):
        departments("move", "Sales", "--parent", "Key Accounts")
    # And the tree is unchanged
    assert tree() == {"Sales": None, "Field Sales": "Sales", "Key Accounts": "Field Sales"}


def test_move_under_itself_is_refused():
    # Given Sales, when moved under itself, then it is refused
    DepartmentFactory(name="Sales")
    with pytest.raises(CommandError, match="Cannot move Sales under itself"):
        departments("move", "Sales", "--parent", "Sales")
    assert tree() == {"Sales": None}


def test_move_needs_a_parent_or_root():
    # Given Sales, when moved without saying where, then the command refuses
    DepartmentFactory(name="Sales")
    with pytest.raises(CommandError, match="one of the arguments --parent --root is required"):
        departments("move", "Sales")


def test_move_an_unknown_department_is_refused():
    # Given Sales, when moving one that does not exist, then it is refused
    DepartmentFactory(name="Sales")
    with pytest.raises(CommandError, match="No department named 'Ghost'"):
        departments("move", "Ghost", "--root")


# ---- rename -------------------------------------------------------------------------------------


def test_rename_keeps_the_place_in_the_tree():
    # Given Sales > Field Sales
    sales = DepartmentFactory(name="Sales")
    DepartmentFactory(name="Field Sales", parent=sales)
    # When Sales is renamed
    assert "renamed Sales to Revenue" in departments("rename", "sales", "Revenue")
    # Then the sub-department is now under the new name
    assert tree() == {"Revenue": None, "Field Sales": "Revenue"}


def test_rename_to_a_taken_name_is_refused():
    # Given Sales and Service
    DepartmentFactory(name="Sales")
    DepartmentFactory(name="Service")
    # When Sales is renamed to "service", then it is refused
    with pytest.raises(CommandError, match="A department named 'Service' already exists"):
        departments("rename", "Sales", "service")
    assert sorted(tree()) == ["Sales", "Service"]


def test_rename_changing_only_letter_case_is_allowed():
    # Given Sales, when renamed to SALES, then that is its name
    DepartmentFactory(name="Sales")
    departments("rename", "Sales", "SALES")
    assert list(tree()) == ["SALES"]


def test_rename_an_unknown_department_is_refused():
    # Given nothing, when renaming a department that does not exist, then it is refused
    with pytest.raises(CommandError, match=r"No department named 'Ghost'\. Known: none yet\."):
        departments("rename", "Ghost", "Spirit")


# ---- the services -------------------------------------------------------------------------------


def test_services_refuse_with_validation_errors():
    # Given Sales > Field Sales
    sales = department_create(name="Sales")
    field = department_create(name="Field Sales", parent=sales)
    # When asked for a duplicate, a cycle and a taken name, then each is refused
    with pytest.raises(ValidationError):
        department_create(name="sales")
    with pytest.raises(ValidationError):
        department_move(department=sales, parent=field)
    with pytest.raises(ValidationError):
        department_rename(department=field, name="SALES")
    # And nothing changed
    sales.refresh_from_db()
    assert sales.parent is None and tree() == {"Sales": None, "Field Sales": "Sales"}


# ---- import departments FILE ---------------------------------------------------------------------


def test_import_with_parents_later_in_the_file(tmp_path):
    # Given a file naming children before their parents, and one parent that exists
    DepartmentFactory(name="Company")
    path = write(
        tmp_path,
        """
name,parent
Field Sales,Sales
Key Accounts,Field Sales
Sales,company
Service,
""",
    )
    # When imported
    code, out, err = run_import(path)
    # Then the tree is as the file says
    assert (code, out.strip().splitlines()[-1]) == (0, "imported 4, updated 0, rejected 0"), err
    assert tree() == {
        "Company": None,
        "Field Sales": "Sales",
        "Key Accounts": "Field Sales",
        "Sales": "Company",
        "Service": None,
    }


def test_reimport_updates_parents_and_creates_no_duplicates(tmp_path):
    # Given a file imported once
    path = write(tmp_path, "name,parent\nSales,\nField Sales,Sales\nService,\n")
    assert run_import(path)[0] == 0
    # When a version moving Field Sales under Service is imported, names in another case
    path.write_text("name,parent\nsales,\nfield sales,SERVICE\nService,\n", encoding="utf-8")
    code, out, _ = run_import(path)
    # Then nothing is duplicated, the names keep their spelling, the parent changed
    assert (code, out.strip().splitlines()[-1]) == (0, "imported 0, updated 3, rejected 0")
    assert tree() == {"Field Sales": "Service", "Sales": None, "Service": None}


def test_import_unknown_parent_and_cycles_are_row_errors(tmp_path):
    # Given Sales > Field Sales in the database and a file with four problems and one good row
    sales = DepartmentFactory(name="Sales")
    DepartmentFactory(name="Field Sales", parent=sales)
    path = write(
        tmp_path,
        """
name,parent
A,B
B,A
Team,Nowhere
Sales,Field Sales
Self,Self
Good,Sales
good,
""",
    )
    # When imported
    code, out, err = run_import(path)
    # Then each bad row names row, column and reason; the good row goes in
    assert code == 1
    assert out.strip().splitlines()[-1] == "imported 1, updated 0, rejected 6"
    assert "row 2, column parent: A would be inside itself (A → B → A)" in err
    assert "row 3, column parent: its parent 'A' is refused" in err
    assert "row 4, column parent: no department named 'Nowhere' in the file or the database" in err
    assert "row 5, column parent: Sales would be inside itself (Sales → Field Sales → Sales)" in err
    assert "row 6, column parent: Self would be inside itself (Self → Self)" in err
    assert "row 8, column name: good appears again (first on row 7)" in err
    # And the tree is unchanged but for the good row
    assert tree() == {"Sales": None, "Field Sales": "Sales", "Good": "Sales"}


def test_import_dry_run_writes_nothing(tmp_path):
    # Given a file of two departments
    path = write(tmp_path, "name,parent\nSales,\nField Sales,Sales\n")
    # When validated with --dry-run
    code, out, _ = run_import(path, "--dry-run")
    # Then it counts them and writes nothing
    assert (code, out.strip().splitlines()[-1]) == (0, "imported 2, updated 0, rejected 0")
    assert not Department.objects.exists()


def test_departments_import_service_moves_two_at_once():
    # Given B under A in the database
    a = DepartmentFactory(name="A")
    DepartmentFactory(name="B", parent=a)
    # When the file swaps them (A under B, B at the top), which is a valid final tree
    result = departments_import(parents={"A": "B", "B": None})
    # Then both moved, nothing refused
    assert result.refused == {}
    assert tree() == {"A": "B", "B": None}
