from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.cli.base import database_label, progress_bar
from crm_scorecard.crm.seed import SeedPlan, crm_has_data, crm_seed, departments_ensure
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.models import KpiValue
from crm_scorecard.metrics.services import kpi_compute
from crm_scorecard.scorecards.models import Scorecard
from crm_scorecard.scorecards.templates import template_install, template_load

DEMO_PASSWORD = "demo"
# department -> the templates its demo scorecards come from
DEMO_SCORECARDS = {
    "Sales": ["direct_sales", "conversion"],
    "Customer Service": ["call_centre", "loyalty"],
    "Marketing": ["crm"],
    "HR": ["erm"],
}
# (username, level, department)
DEMO_USERS = [
    ("ceo", Level.EXECUTIVE, None),
    ("sales-manager", Level.MANAGER, "Sales"),
    ("sales-analyst", Level.ANALYST, "Sales"),
    ("sales-agent", Level.AGENT, "Inside Sales"),
    ("service-manager", Level.MANAGER, "Customer Service"),
    ("service-analyst", Level.ANALYST, "Customer Service"),
    ("service-agent", Level.AGENT, "Call Centre"),
    ("marketing-manager", Level.MANAGER, "Marketing"),
    ("marketing-analyst", Level.ANALYST, "Marketing"),
    ("marketing-agent", Level.AGENT, "Digital Marketing"),
    ("hr-manager", Level.MANAGER, "HR"),
    ("hr-analyst", Level.ANALYST, "HR"),
    ("hr-agent", Level.AGENT, "HR"),
]


class Command(BaseCommand):
    help = "Create (or reuse) a database with a demo company and demo users, then serve the app."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare everything but do not serve"
        )
        parser.add_argument("--customers", type=int, default=5000)
        parser.add_argument("--months", type=int, default=24)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Database: {database_label()}")
        call_command("migrate", interactive=False, verbosity=0)
        if crm_has_data():
            self.stdout.write("Reusing the demo company already in the database.")
        else:
            plan = SeedPlan(
                customers=options["customers"], months=options["months"], seed=options["seed"]
            )
            with progress_bar(
                "demo company", plan.customers, enabled=options["verbosity"] > 0
            ) as advance:
                result = crm_seed(plan=plan, progress=advance)
            self.stdout.write(
                f"Created a demo company: {result.rows.get('customer', 0):,} customers, "
                f"{result.total:,} rows over {plan.months} months."
            )
        self.ensure_users()
        self.ensure_scorecards(options["verbosity"] > 0)
        self.stdout.write("\nDemo logins (password for all: demo):")
        for username, level, dept in DEMO_USERS:
            self.stdout.write(f"  {username:<18} {level.label:<10} {dept or 'all departments'}")
        if options["no_serve"]:
            return
        self.stdout.write(f"\nOpen http://{options['host']}:{options['port']}/ and sign in.\n")
        call_command("serve", host=options["host"], port=options["port"])

    def ensure_scorecards(self, show_progress: bool) -> None:
        if not KpiValue.objects.exists():
            keys = [m.key for m in registry() if m.kind != "manual"]
            with progress_bar("KPIs", len(keys), enabled=show_progress) as advance:
                run = kpi_compute(metrics=keys, progress=lambda _key: advance(1))
            self.stdout.write(f"Computed {len(keys)} KPIs: {run.rows_written:,} monthly values.")
        for dept_name, templates in DEMO_SCORECARDS.items():
            department = Department.objects.get(name=dept_name)
            for name in templates:
                card = template_load(name)
                if not Scorecard.objects.filter(department=department, name=card.name).exists():
                    template_install(name=name, department=department)
        self.stdout.write(
            f"Scorecards: {Scorecard.objects.count()} across {len(DEMO_SCORECARDS)} departments."
        )

    def ensure_users(self) -> None:
        departments = departments_ensure()
        departments.update({d.name: d for d in Department.objects.all()})
        for username, level, dept_name in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "level": level,
                    "is_staff": level == Level.EXECUTIVE,
                    "is_superuser": level == Level.EXECUTIVE,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
                if dept_name:
                    user.departments.set([departments[dept_name]])
