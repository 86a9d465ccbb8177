from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm_scorecard.accounts.guards import demo_allowed
from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.cli.base import database_label, progress_bar
from crm_scorecard.clv import selectors as clv_selectors
from crm_scorecard.clv import services as clv_services
from crm_scorecard.crm.seed import SeedPlan, crm_has_data, crm_seed, departments_ensure
from crm_scorecard.crm.seed_comments import COMMENT_THEMES, CommentTheme, theme_for_label
from crm_scorecard.errors import Invalid
from crm_scorecard.jobs.models import Frequency, ReportFormat, ScheduledReport
from crm_scorecard.jobs.services import scheduled_report_create
from crm_scorecard.metrics.api import KpiValue, kpi_compute, registry
from crm_scorecard.scorecards.fitting import scorecards_fit
from crm_scorecard.scorecards.initiatives import initiative_create
from crm_scorecard.scorecards.models import Goal, Indicator, Initiative, Scorecard
from crm_scorecard.scorecards.scoring import Optimization
from crm_scorecard.scorecards.selectors import indicator_slices, latest_period
from crm_scorecard.scorecards.services import goal_save, indicator_save
from crm_scorecard.scorecards.templates import template_install, template_load
from crm_scorecard.segments import selectors as segment_selectors
from crm_scorecard.segments import services as segment_services
from crm_scorecard.voc import selectors as voc_selectors
from crm_scorecard.voc import services as voc_services

DEMO_PASSWORD = "demo"
# department -> the templates its demo scorecards come from: every department and
# sub-department gets the scorecards that fit its work.
DEMO_SCORECARDS = {
    "Sales": ["direct_sales", "conversion"],
    "Field Sales": ["direct_sales"],
    "Inside Sales": ["direct_sales"],
    "Customer Service": ["call_centre", "loyalty"],
    "Call Centre": ["call_centre"],
    "Service Desk": ["call_centre"],
    "Marketing": ["crm"],
    "Digital Marketing": ["acquisition"],
    "HR": ["erm"],
}
# HR looks after everyone's working life, not only its own team's: its scorecard reads the
# whole company's people and customers (a company-wide number the demo, as operator, sets).
COMPANY_WIDE = {("HR", "erm")}
# (department, template, goal, initiative, owner, months since start, months to due,
#  budget, status)
DEMO_INITIATIVES = [
    (
        "Sales",
        "direct_sales",
        "New business",
        "Referral programme for key accounts",
        "Maria Keller",
        3,
        3,
        "25000",
        Initiative.Status.ACTIVE,
    ),
    (
        "Sales",
        "conversion",
        "Convert leads",
        "Call every web lead within a day",
        "Tom Becker",
        2,
        1,
        "8000",
        Initiative.Status.ACTIVE,
    ),
    (
        "Field Sales",
        "direct_sales",
        "Bigger orders",
        "Bundle installation with premium devices",
        "Lena Fischer",
        1,
        5,
        "12000",
        Initiative.Status.ACTIVE,
    ),
    (
        "Inside Sales",
        "direct_sales",
        "Repeat business",
        "Renewal reminders 60 days ahead",
        "Oliver Grant",
        -1,
        4,
        "4000",
        Initiative.Status.PLANNED,
    ),
    (
        "Customer Service",
        "loyalty",
        "Fewer grievances",
        "Root-cause review of billing complaints",
        "Sophie Laurent",
        4,
        2,
        "15000",
        Initiative.Status.ACTIVE,
    ),
    (
        "Customer Service",
        "call_centre",
        "Engaged agents",
        "Coaching circles for new agents",
        "Daniel Moore",
        6,
        -1,
        "6000",
        Initiative.Status.DONE,
    ),
    (
        "Call Centre",
        "call_centre",
        "Fast answers",
        "Call-back instead of queueing at peak",
        "Hannah Wright",
        2,
        2,
        "20000",
        Initiative.Status.ACTIVE,
    ),
    (
        "Service Desk",
        "call_centre",
        "Solved first time",
        "Knowledge base for the ten top faults",
        "Jonas Weber",
        3,
        1,
        "9000",
        Initiative.Status.ON_HOLD,
    ),
    (
        "Marketing",
        "crm",
        "Retain customers",
        "Win-back campaign for lapsed customers",
        "Clara Dubois",
        1,
        3,
        "30000",
        Initiative.Status.ACTIVE,
    ),
    (
        "Digital Marketing",
        "acquisition",
        "Fill the funnel",
        "New landing pages for search ads",
        "Felix Martin",
        2,
        1,
        "18000",
        Initiative.Status.ACTIVE,
    ),
    (
        "HR",
        "erm",
        "Engaged employees",
        "Quarterly pulse survey and team action plans",
        "Grace Campbell",
        5,
        7,
        "10000",
        Initiative.Status.ACTIVE,
    ),
    (
        "HR",
        "erm",
        "Skilled people",
        "Product academy for front-line staff",
        "Amelia Scott",
        -2,
        6,
        "40000",
        Initiative.Status.PLANNED,
    ),
]
# The goal each department's first demo scorecard gets for the themes of the affinity diagram
# handed to it, with an indicator per theme: complaints about a grievance, feedback praising
# what it does well.
THEME_GOAL = "Act on what customers tell us"
THEME_PERSPECTIVE = "Customer"
# What a theme's indicator counts, by the theme's tone (praise?): its complaints, or its
# feedback; and the kind of comment that is on the board.
THEME_METRICS = {False: "complaints", True: "rated_feedback"}
THEME_COMMENTS = {False: "complaint", True: "feedback"}


def theme_indicator_name(theme: CommentTheme) -> str:
    return f"{'Praise for' if theme.praise else 'Complaints about'} {theme.name.lower()}"


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
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="serve without the background worker (reports in the background then wait)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        refused = demo_allowed(demo_usernames=[username for username, _, _ in DEMO_USERS])
        if refused:
            raise CommandError(refused)
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
        self.ensure_themes(options["verbosity"] > 0)
        self.ensure_segments()
        self.ensure_values()
        self.ensure_scorecards(options["verbosity"] > 0, seed=options["seed"])
        self.ensure_schedule()
        self.stdout.write("\nDemo logins (password for all: demo):")
        for username, level, dept in DEMO_USERS:
            self.stdout.write(f"  {username:<18} {level.label:<10} {dept or 'all departments'}")
        if options["no_serve"]:
            return
        self.stdout.write(f"\nOpen http://{options['host']}:{options['port']}/ and sign in.\n")
        if options["no_worker"]:
            call_command("serve", host=options["host"], port=options["port"])
            return
        # The background worker beside the web server, as `crm-scorecard worker` in a second
        # terminal would run it: reports made in the background, the schedule.
        self.stdout.write("Background worker started (`crm-scorecard worker`).\n")
        worker = subprocess.Popen([sys.executable, "-m", "django", "worker"])
        try:
            call_command("serve", host=options["host"], port=options["port"])
        finally:
            worker.terminate()
            worker.wait(timeout=60)

    def ensure_schedule(self) -> None:
        """Sales' first scorecard mailed as a board pack on the 1st of every month to its
        manager and the CEO (each as they see it), as a manager would set it up under
        Scheduled reports; the demo's mail is printed by the worker (console backend)."""
        card = Scorecard.objects.filter(department__name="Sales").order_by("pk").first()
        if card is None or ScheduledReport.objects.filter(scorecard=card).exists():
            return
        people = list(User.objects.filter(username__in=["sales-manager", "ceo"]))
        for person in people:
            if not person.email:
                person.email = f"{person.username}@demo.example"
                person.save(update_fields=["email"])
        manager = next((p for p in people if p.username == "sales-manager"), None)
        if manager is not None:
            scheduled_report_create(
                actor=manager,
                scorecard=card,
                format=ReportFormat.PDF,
                frequency=Frequency.MONTHLY,
                recipients=people,
            )

    def ensure_segments(self) -> None:
        """RFM scores on the day of the last order and a month before, so Customers ›
        Segments shows the segments and the moves between them (scored before the KPIs, so
        the columnar mirror copies them with the rest)."""
        if not segment_selectors.rfm_dates(user=None):
            segment_services.rfm_refresh_latest()
        segment_services.cohorts_refresh()  # the cohorts page reads them stored

    def ensure_values(self) -> None:
        """Customer value fitted on every order, before the KPIs (so they and the columnar
        mirror have it). The demo's customers lapse and come back (crm/seed.py), so the
        model seldom believes one has left for good: here a big spender is at risk below a
        0.9 probability of still being a customer, not the default 0.5."""
        if clv_selectors.fit_latest() is not None:
            return
        try:
            fit = clv_services.customer_values_fit(at_risk_below=0.9)
        except Invalid as exc:  # a company too small to fit (a few customers, a month)
            self.stdout.write(f"Customer value: not fitted, {exc}.")
            return
        counts = clv_selectors.band_counts(fit=fit)
        self.stdout.write(
            "Customer value: " + ", ".join(f"{n:,} {band}" for band, n in counts.items())
        )

    def ensure_themes(self, show_progress: bool) -> None:
        """The affinity diagram as a manager leaves it after a first look: what customers
        wrote grouped into themes; each theme whose label stands for one of the subjects
        they write about named after it (two that say one thing merged) and handed to the
        department that acts on it."""
        if voc_selectors.themes_summary(user=None):
            return
        # The default pipeline (no model to load), drawing three times as many themes as
        # there are subjects the demo's customers write about: k-means then splits a large
        # subject rather than lumping two small ones together, and naming brings the parts
        # together. With twice as many, one demo in ten or so (by seed, or by the day it is
        # made, which moves its dates) lumped the praise for the value of a device in with
        # its warranty claims (7 of 11 comments about warranties); three times as many
        # named every subject, each theme at least 70% about it, in the 11 demos tried.
        with progress_bar("themes", 4, enabled=show_progress) as advance:
            voc_services.comments_group(
                themes=3 * len(COMMENT_THEMES), embeddings=False, progress=advance
            )
        departments = {d.name: d for d in Department.objects.all()}
        drawn: dict[str, list[int]] = {}
        for row in voc_selectors.themes_summary(user=None):  # largest first
            subject = theme_for_label(row["label"])
            if subject is not None:
                drawn.setdefault(subject.name, []).append(row["id"])
        for subject in COMMENT_THEMES:
            if subject.name not in drawn:
                continue
            keep, *same = [voc_selectors.theme_get(user=None, pk=pk) for pk in drawn[subject.name]]
            for theme in same:
                keep = voc_services.theme_merge(actor=None, theme=theme, into=keep)
            keep = voc_services.theme_rename(actor=None, theme=keep, label=subject.name)
            voc_services.theme_assign(
                actor=None, theme=keep, department=departments[subject.department]
            )
        self.stdout.write(
            f"Affinity diagram: {len(voc_selectors.themes_summary(user=None))} themes, "
            f"{len(drawn)} named and assigned to a department."
        )

    def ensure_scorecards(self, show_progress: bool, *, seed: int) -> None:
        installed: list[Scorecard] = []
        for dept_name, templates in DEMO_SCORECARDS.items():
            department = Department.objects.get(name=dept_name)
            for name in templates:
                card = template_load(name)
                if Scorecard.objects.filter(department=department, name=card.name).exists():
                    continue
                scorecard = template_install(name=name, department=department)
                if (dept_name, name) in COMPANY_WIDE:
                    for indicator in Indicator.objects.filter(
                        goal__perspective__scorecard=scorecard
                    ).exclude(metric=""):
                        indicator.scope = Indicator.Scope.COMPANY
                        indicator_save(indicator=indicator)
                installed.append(scorecard)
        if installed:
            self.add_theme_indicators(installed)
        if installed or not KpiValue.objects.exists():
            self.compute(show_progress)
        if installed:
            # Targets from each department's own track record, so the demo shows a mix.
            period = latest_period()
            summary = scorecards_fit(scorecards=installed, period=period, seed=seed)
            mix = summary.mix()
            self.stdout.write(
                f"Targets set from each department's history for {period}: "
                + ", ".join(f"{mix[c]} {c.value}" for c in sorted(mix))
                + (f" ({len(summary.skipped)} left as in the template)" if summary.skipped else "")
            )
            self.add_initiatives(installed)
        self.stdout.write(
            f"Scorecards: {Scorecard.objects.count()} across "
            f"{Scorecard.objects.values('department').distinct().count()} departments."
        )

    def compute(self, show_progress: bool) -> None:
        """Every metric, for the company and each department, with the breakdowns the
        scorecards' indicators read (as `compute` stores them)."""
        keys = [m.key for m in registry() if m.kind != "manual"]
        company, within = indicator_slices()
        by = [None, "department", *sorted(d for d in company if d != "department")]
        with progress_bar("KPIs", len(keys), enabled=show_progress) as advance:
            run = kpi_compute(metrics=keys, by=by, slices=within, progress=lambda _key: advance(1))
        self.stdout.write(f"Computed {len(keys)} KPIs: {run.rows_written:,} monthly values.")

    def add_theme_indicators(self, scorecards: list[Scorecard]) -> None:
        """On the first demo scorecard of each department that has themes of the affinity
        diagram: a goal with one indicator per theme, counting its comments. The count is
        the company's: a theme is its department's to act on wherever the comment came in,
        as the board shows the department every comment of its themes."""
        first: dict[str, Scorecard] = {}
        for scorecard in scorecards:
            first.setdefault(scorecard.department.name, scorecard)
        subjects = {t.name: t for t in COMMENT_THEMES}
        kinds = Counter(
            (c["theme_id"], c["kind"]) for c in voc_selectors.grouped_comments(user=None)
        )
        for row in voc_selectors.themes_summary(user=None):
            subject = subjects.get(row["label"])
            card = first.get(row["department"] or "")
            if subject is None or card is None:
                continue
            if not kinds[(row["id"], THEME_COMMENTS[subject.praise])]:
                continue  # nothing to count yet (a small company's rare complaint)
            goal = self.theme_goal(card)
            # Until targets are fitted to the track record: no complaints, or as much
            # praise as the theme gets in an average month.
            usual = max(1.0, float(round(row["count"] / max(1, len(row["months"])))))
            indicator_save(
                indicator=Indicator(
                    goal=goal,
                    name=theme_indicator_name(subject),
                    metric=THEME_METRICS[subject.praise],
                    scope=Indicator.Scope.COMPANY,
                    filter_dimension="voc_theme",
                    filter_value=row["label"],
                    optimization=(
                        Optimization.MAXIMIZE if subject.praise else Optimization.MINIMIZE
                    ),
                    baseline=0.0 if subject.praise else usual,
                    target=usual if subject.praise else 0.0,
                    owner=card.department.name,
                    position=goal.indicators.count(),
                )
            )

    def theme_goal(self, scorecard: Scorecard) -> Goal:
        found = Goal.objects.filter(perspective__scorecard=scorecard, name=THEME_GOAL).first()
        if found is not None:
            return found
        perspectives = scorecard.perspectives.order_by("position")
        perspective = perspectives.filter(name=THEME_PERSPECTIVE).first() or perspectives.first()
        assert perspective is not None  # every installed template has perspectives
        return goal_save(
            goal=Goal(perspective=perspective, name=THEME_GOAL, position=perspective.goals.count())
        )

    def add_initiatives(self, scorecards: list[Scorecard]) -> None:
        by_template = {(sc.department.name, sc.template): sc for sc in scorecards}
        today = date.today()
        for (
            dept,
            template,
            goal_name,
            name,
            owner,
            since,
            due_in,
            budget,
            status,
        ) in DEMO_INITIATIVES:
            scorecard = by_template.get((dept, template))
            if scorecard is None:
                continue
            goal = Goal.objects.get(perspective__scorecard=scorecard, name=goal_name)
            initiative_create(
                goal=goal,
                name=name,
                owner=owner,
                start=today - timedelta(days=30 * since),
                due=today + timedelta(days=30 * due_in),
                budget=Decimal(budget),
                status=status,
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
