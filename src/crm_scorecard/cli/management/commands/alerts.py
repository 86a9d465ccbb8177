from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from crm_scorecard.accounts.models import Department
from crm_scorecard.alerts.models import DepartmentWebhook
from crm_scorecard.alerts.services import alerts_check
from crm_scorecard.cli.base import ProductCommand


def _count(n: int) -> str:
    return f"{n} alert{'' if n == 1 else 's'}"


class Command(ProductCommand):
    help = (
        "Alerts: check now (colour changes, manual values due, complaints past their service "
        "level) and send each follower one digest; or set a department's webhook."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("check", help="check every rule and send what changed")
        check.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would be sent; send and record nothing",
        )
        check.add_argument("--json", action="store_true", help="print the run as JSON")
        hook = sub.add_parser("webhook", help="set (or, with --off, stop) a department's webhook")
        hook.add_argument("--department", required=True)
        hook.add_argument("--url", help="https:// address that takes Slack-style JSON")
        hook.add_argument("--off", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _check(self, options: dict[str, Any]) -> None:
        report = alerts_check(dry_run=options["dry_run"])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
            return
        verb = "would send" if report.dry_run else "sent"
        self.stdout.write(f"{_count(len(report.events))}; {verb}:")
        for username, items in report.digests.items():
            self.stdout.write(f"  digest to {username} ({_count(len(items))})")
            for item in items:
                self.stdout.write(f"    - {item['name']} {item['change']}: {item['detail']}")
        for address in report.emails:
            self.stdout.write(f"  email to {address}")
        for department in report.webhooks:
            self.stdout.write(f"  webhook of {department}")
        for failure in report.failures:
            self.stderr.write(f"  failed (retried next run): {failure}")

    def _webhook(self, options: dict[str, Any]) -> None:
        department = Department.objects.filter(name=options["department"]).first()
        if department is None:
            raise CommandError(f"--department: no department named {options['department']!r}")
        if options["off"]:
            DepartmentWebhook.objects.filter(department=department).update(active=False)
            self.stdout.write(f"{department.name}: webhook off")
            return
        if not options["url"]:
            raise CommandError("--url: give the address to post to (or --off)")
        hook = DepartmentWebhook.objects.filter(department=department).first() or DepartmentWebhook(
            department=department
        )
        hook.url, hook.active = options["url"], True
        try:
            hook.full_clean()
        except ValidationError as exc:
            raise CommandError(
                f"--url: {'; '.join(exc.message_dict.get('url', exc.messages))}"
            ) from None
        hook.save()
        self.stdout.write(f"{department.name}: alerts posted to {hook.url}")
