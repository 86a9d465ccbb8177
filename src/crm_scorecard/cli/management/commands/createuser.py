from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.accounts.services import user_create
from crm_scorecard.cli.base import ProductCommand


class Command(ProductCommand):
    help = "Add a user with a level and the departments they belong to."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--level", required=True, choices=Level.values)
        parser.add_argument(
            "--department",
            action="append",
            default=[],
            dest="departments",
            help="department name; repeat for several",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="default: asked for at the prompt")
        parser.add_argument("--staff", action="store_true", help="may open the admin")

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["departments"]
        departments = list(Department.objects.filter(name__in=names))
        missing = sorted(set(names) - {d.name for d in departments})
        if missing:
            known = ", ".join(Department.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"Unknown department(s): {', '.join(missing)}. Known: {known}.")
        if options["level"] != Level.EXECUTIVE and not departments:
            raise CommandError(
                "Give at least one --department: only executives see every department."
            )
        if User.objects.filter(username=options["username"]).exists():
            raise CommandError(f"A user named {options['username']!r} exists already.")
        password = options["password"] or getpass.getpass("Password: ")
        try:
            validate_password(password)
            user = user_create(
                username=options["username"],
                password=password,
                level=options["level"],
                departments=departments,
                email=options["email"],
                is_staff=options["staff"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(
            f"created {user.username} ({user.level}) in {', '.join(names) or 'all departments'}"
        )
