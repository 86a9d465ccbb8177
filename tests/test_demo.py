"""`crm-scorecard demo`: a company that looks like one, and only where a demo belongs."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max

from crm_scorecard.accounts.models import Department, User
from crm_scorecard.crm import models as m
from crm_scorecard.crm.seed_comments import COMMENT_THEMES
from crm_scorecard.periods import shift_months
from crm_scorecard.scorecards import scoring
from crm_scorecard.scorecards.models import Indicator, Initiative, ManualValue, Scorecard
from crm_scorecard.scorecards.selectors import latest_period
from crm_scorecard.scorecards.services import scorecard_scoring
from crm_scorecard.voc.models import Theme, ThemeMember
from crm_scorecard.voc.services import member_move

DATED = {
    m.Order: ["ordered_at"],
    m.Interaction: ["started_at"],
    m.Feedback: ["submitted_at"],
    m.Complaint: ["opened_at", "resolved_at", "first_response_at"],
    m.Lead: ["created_at", "converted_at", "lost_at"],
    m.Customer: ["acquired_at"],
    m.EngagementAnswer: ["answered_at"],
}


def run_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", "--no-serve", *args, stdout=out, verbosity=0)
    return out.getvalue()


def indicator_scores(period: str) -> dict[str, scoring.Result]:
    """Every indicator of every stored scorecard, scored for `period`, by indicator id."""
    found: dict[str, scoring.Result] = {}
    for card in Scorecard.objects.all():
        result = scoring.evaluate(scorecard_scoring(card), period=period)
        found.update({n.key: n for n in result.walk() if n.kind == "indicator"})
    return found


@pytest.mark.django_db(transaction=True)
def test_demo_looks_like_a_company():
    # Given an empty database
    # When a small demo is prepared
    run_demo("--customers", "300", "--months", "14")
    # Then every department and sub-department has a scorecard of its own
    departments = set(Department.objects.values_list("name", flat=True))
    with_cards = set(Scorecard.objects.values_list("department__name", flat=True))
    assert len(departments) == 9 and with_cards == departments
    # And every leaf department looks after customers
    for leaf in Department.objects.filter(children__isnull=True):
        assert m.Customer.objects.filter(department=leaf).count() >= 5, leaf.name
    # And the latest complete month shows about a third of the indicators in each colour
    period = latest_period()
    assert period == shift_months(f"{date.today():%Y-%m}", -1)
    latest = indicator_scores(period)
    mix = Counter(n.status for n in latest.values())
    total = len(latest)
    assert total == Indicator.objects.count()
    assert mix[scoring.Status.GREY] <= 0.1 * total, mix
    for colour in (scoring.Status.GREEN, scoring.Status.YELLOW, scoring.Status.RED):
        assert 0.2 * total <= mix[colour] <= 0.5 * total, mix
    # And no indicator scores exactly 0 or 1 in every one of the last 12 months, but for a
    # theme's complaints in a company this small: none, one or two a month can only be on
    # or off a target (at the demo's 5,000 customers none is stuck)
    months = [shift_months(period, -back) for back in range(12)]
    by_month = {month: indicator_scores(month) for month in months}
    history: dict[str, list[float]] = defaultdict(list)
    values: dict[str, list[float]] = defaultdict(list)
    for month in months:
        for key, node in by_month[month].items():
            if node.score is not None:
                history[key].append(node.score)
                values[key].append(node.value)
    rare = {
        str(pk)
        for pk in Indicator.objects.filter(
            filter_dimension="voc_theme", metric="complaints"
        ).values_list("pk", flat=True)
    }
    stuck = [
        (latest[key].name, values[key])
        for key, scores in history.items()
        if set(scores) <= {0.0, 1.0} and not (key in rare and max(values[key]) <= 2)
    ]
    assert not stuck
    # And some goals have initiatives with owners and due dates, and manual indicators
    # have values entered for the last months
    initiatives = Initiative.objects.all()
    assert initiatives.count() >= 5
    assert all(i.owner and i.start and i.due and i.due >= i.start for i in initiatives)
    manual = Indicator.objects.filter(metric="")
    assert manual.count() >= 5
    for indicator in manual:
        entered = ManualValue.objects.filter(indicator=indicator)
        assert entered.count() >= 6, indicator.name
        assert entered.aggregate(x=Max("period_start"))["x"].strftime("%Y-%m") == period
    # And every metric indicator's headline on every scorecard equals the metric computed
    # live for that scorecard's department (`metrics show KEY --filter department=D`), or
    # for the company where the indicator says so
    from crm_scorecard.metrics.api import engine_for
    from crm_scorecard.scorecards.selectors import indicator_filters

    start = date(int(period[:4]), int(period[5:]), 1)
    checked = 0
    with engine_for() as engine:
        for indicator in Indicator.objects.exclude(metric="").select_related(
            "goal__perspective__scorecard__department"
        ):
            node = latest[str(indicator.pk)]
            if node.value_period != period or indicator.update_interval != "month":
                continue  # shown as the latest earlier value (stale): nothing to compare
            live = engine.compute(
                indicator.metric,
                filters=indicator_filters(indicator=indicator),
                since=start,
                until=start,
            )
            assert [v for *_, v in live] == [pytest.approx(node.value)], indicator.name
            checked += 1
    assert checked >= 0.6 * Indicator.objects.exclude(metric="").count()
    # And the affinity board is ready for the walk-through
    board_walk_through(by_month)
    # And no record is dated after today
    today = date.today()
    for model, fields in DATED.items():
        for name in fields:
            newest = model.objects.aggregate(x=Max(name))["x"]
            assert newest is None or newest.date() <= today, (model.__name__, name, newest)


@pytest.mark.django_db(transaction=True)
def test_demo_is_refused_on_a_database_with_real_users():
    # Given a database holding a real user
    User.objects.create_user(username="alice", password="a-long-Pass-phrase")
    # When the demo is asked for, then it is refused, naming the user
    with pytest.raises(CommandError, match="alice"):
        run_demo("--customers", "20", "--months", "2")
    # And nothing was added: no demo users, no company, no scorecards
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
    assert not m.Customer.objects.exists() and not m.Employee.objects.exists()
    assert not Department.objects.exists() and not Scorecard.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_demo_is_refused_under_production_settings(settings):
    # Given settings that forbid the demo, as production's do
    settings.DEMO_ALLOWED = False
    # When the demo is asked for, then it is refused with the reason
    with pytest.raises(CommandError, match="refused under these settings"):
        run_demo("--customers", "20", "--months", "2")
    # And nothing was added
    assert not User.objects.exists() and not m.Customer.objects.exists()


def live_series(engine, indicator: Indicator) -> dict[str, float | None]:
    """The indicator's metric computed live by month, as `metrics show` computes it."""
    from crm_scorecard.scorecards.selectors import indicator_filters

    points = engine.compute(indicator.metric, filters=indicator_filters(indicator=indicator))
    return {f"{start:%Y-%m}": value for start, _, value in points}


def shown(indicator: Indicator, month: str) -> float | None:
    """The value the indicator's scorecard shows for `month` (None: nothing that month)."""
    result = scoring.evaluate(scorecard_scoring(indicator.goal.perspective.scorecard), period=month)
    node = next(n for n in result.walk() if n.key == str(indicator.pk))
    return node.value if node.value_period == month else None


def board_walk_through(scores: dict[str, dict[str, scoring.Result]]) -> None:
    """What a manager finds on the demo's affinity board and scorecards, and what moving a
    card does to them. `scores`: every indicator scored, by month."""
    from crm_scorecard.metrics.api import engine_for, kpi_compute

    subject_of = {s: t for t in COMMENT_THEMES for s in t.sentences()}
    subjects = {t.name: t for t in COMMENT_THEMES}
    # The board's themes, each with the subjects its comments are about
    themes = list(Theme.objects.select_related("department"))
    about: dict[int, Counter[str]] = {}
    for theme in themes:
        texts = [
            (mm.feedback.comment if mm.feedback_id else mm.complaint.description)
            for mm in theme.members.select_related("feedback", "complaint")
        ]
        about[theme.pk] = Counter(subject_of[t].name for t in texts)
    # Then at least 5 of the subjects customers wrote about are each most of a theme
    recovered = {top for c in about.values() for top, n in c.most_common(1) if n > c.total() / 2}
    assert len(recovered) >= 5, about
    # And each theme named after a subject is mostly about it, in its department's hands
    named = [t for t in themes if t.label in subjects]
    assert len(named) >= 5, [t.label for t in themes]
    for theme in named:
        subject = subjects[theme.label]
        top, n = about[theme.pk].most_common(1)[0]
        assert top == theme.label and n > 0.7 * about[theme.pk].total(), (theme.label, about)
        assert theme.department is not None and theme.department.name == subject.department
    # And the department's scorecard counts the theme's comments month by month (complaints
    # about a grievance, feedback for praise), as the metric filtered to the theme computes
    # them live; a theme gets its indicator once it has such comments
    counted = [
        t
        for t in named
        if t.members.filter(kind="feedback" if subjects[t.label].praise else "complaint").exists()
    ]
    assert len(counted) >= 5 and Indicator.objects.filter(
        filter_dimension="voc_theme"
    ).count() == len(counted)
    indicators = {}
    with engine_for() as engine:
        for theme in counted:
            indicator = Indicator.objects.select_related(
                "goal__perspective__scorecard__department"
            ).get(filter_dimension="voc_theme", filter_value=theme.label)
            assert indicator.goal.perspective.scorecard.department == theme.department
            praise = subjects[theme.label].praise
            assert indicator.metric == ("rated_feedback" if praise else "complaints")
            indicators[theme.label] = indicator
            live = live_series(engine, indicator)
            months_shown = 0
            for month, nodes in scores.items():
                node = nodes[str(indicator.pk)]
                if node.value_period == month:
                    assert live.get(month) == pytest.approx(node.value), (theme.label, month)
                    months_shown += 1
                else:
                    assert live.get(month) is None, (theme.label, month, live)
            assert months_shown >= 3, theme.label
    # When a service manager moves the latest complaint of their largest grievance theme to
    # their next one, and the complaint KPIs are computed again
    manager = User.objects.get(username="service-manager")
    service = [
        t
        for t in counted
        if not subjects[t.label].praise and t.department.name in ("Call Centre", "Service Desk")
    ]
    assert len(service) >= 2, [t.label for t in service]
    source, target = sorted(service, key=lambda t: -about[t.pk].total())[:2]
    card = ThemeMember.objects.filter(theme=source, kind="complaint").latest("complaint__opened_at")
    month = f"{card.complaint.opened_at:%Y-%m}"
    before = {t.label: shown(indicators[t.label], month) for t in (source, target)}
    member_move(actor=manager, member=card, theme=target)
    kpi_compute(metrics=["complaints"], by=[None, "department", "voc_theme"])
    # Then the source theme's scorecard shows one complaint fewer that month, the target's
    # one more (it had none when it shows nothing before)
    assert before[source.label] is not None and before[source.label] >= 1
    assert shown(indicators[source.label], month) == before[source.label] - 1
    assert shown(indicators[target.label], month) == (before[target.label] or 0) + 1
