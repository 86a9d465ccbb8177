from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.services import department_create, department_move, department_rename
from crm_scorecard.cli.base import ProductCommand


def _find(name: str) -> Department:
    found = Department.objects.filter(name__iexact=name.strip()).first()
    if found is None:
        known = ", ".join(Department.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No department named {name!r}. Known: {known}.")
    return found


def _refused(exc: ValidationError) -> CommandError:
    return CommandError(" ".join(exc.messages))


class Command(ProductCommand):
    help = (
        "The company's departments (a tree): list them, add one, move one under another "
        "(or to the top), rename one. Exit status 1 when refused, with the reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="list the departments as a tree")
        listing.add_argument(
            "--json", action="store_true", help='print [{"name": ..., "parent": ... or null}]'
        )
        add = sub.add_parser("add", help="add a department")
        add.add_argument("name")
        add.add_argument("--parent", help="the department it belongs to (default: at the top)")
        move = sub.add_parser("move", help="put a department under another, or at the top")
        move.add_argument("name")
        where = move.add_mutually_exclusive_group(required=True)
        where.add_argument("--parent", help="the department to put it under")
        where.add_argument("--root", action="store_true", help="put it at the top")
        rename = sub.add_parser("rename", help="give a department a new name")
        rename.add_argument("old")
        rename.add_argument("new")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"do_{options['action']}")(options)
        except ValidationError as exc:
            raise _refused(exc) from None

    def do_list(self, options: dict[str, Any]) -> None:
        departments = list(Department.objects.select_related("parent").order_by("name"))
        if options["json"]:
            rows = [
                {"name": d.name, "parent": d.parent.name if d.parent else None} for d in departments
            ]
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not departments:
            self.stdout.write("no departments yet: `crm-scorecard departments add NAME` adds one")
            return
        children: dict[int | None, list[Department]] = {}
        for d in departments:
            children.setdefault(d.parent_id, []).append(d)

        def show(parent: int | None, depth: int) -> None:
            for d in children.get(parent, []):
                self.stdout.write("  " * depth + d.name)
                show(d.pk, depth + 1)

        show(None, 0)

    def do_add(self, options: dict[str, Any]) -> None:
        parent = _find(options["parent"]) if options["parent"] else None
        dept = department_create(name=options["name"], parent=parent)
        self.stdout.write(f"added {dept.name}" + (f" under {parent.name}" if parent else ""))

    def do_move(self, options: dict[str, Any]) -> None:
        dept = _find(options["name"])
        parent = None if options["root"] else _find(options["parent"])
        department_move(department=dept, parent=parent)
        self.stdout.write(
            f"moved {dept.name} " + (f"under {parent.name}" if parent else "to the top")
        )

    def do_rename(self, options: dict[str, Any]) -> None:
        dept = _find(options["old"])
        old = dept.name
        department_rename(department=dept, name=options["new"])
        self.stdout.write(f"renamed {old} to {dept.name}")
