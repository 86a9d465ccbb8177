"""The synthetic company generator."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from django.db.models import Max

from crm_scorecard.accounts.models import Department
from crm_scorecard.crm import models as m
from crm_scorecard.crm.seed import (
    DEPARTMENTS,
    CrmDataExists,
    SeedPlan,
    crm_data_clear,
    crm_seed,
)
from crm_scorecard.crm.seed_comments import (
    COMMENT_THEMES,
    CommentTheme,
    CommentWriter,
    theme_for_label,
)

pytestmark = pytest.mark.django_db

TABLES = {
    m.Customer: (
        "external_id",
        "full_name",
        "email",
        "city",
        "birth_date",
        "segment",
        "status",
        "acquired_at",
    ),
    m.Order: ("external_id", "customer__external_id", "ordered_at", "channel"),
    m.OrderLine: ("order__external_id", "line_no", "product__sku", "amount"),
    m.Interaction: (
        "external_id",
        "started_at",
        "handle_seconds",
        "topics",
        "resolved_first_contact",
    ),
    m.Feedback: ("external_id", "rating", "recommend", "comment"),
    m.Complaint: ("external_id", "category", "opened_at", "resolved_at"),
    m.Lead: ("external_id", "stage", "created_at"),
    m.Employee: ("external_id", "full_name", "hired_at"),
}


def snapshot() -> dict[str, list[tuple]]:
    return {
        model.__name__: list(model.objects.order_by(*fields).values_list(*fields))
        for model, fields in TABLES.items()
    }


PLAN = {"customers": 60, "months": 6, "end": date(2026, 6, 1)}


def test_same_seed_gives_the_same_company():
    # Given a company generated with seed 7
    crm_seed(plan=SeedPlan(seed=7, **PLAN))
    first = snapshot()
    # When it is cleared and generated again with the same seed
    crm_data_clear()
    crm_seed(plan=SeedPlan(seed=7, **PLAN))
    # Then every row is the same
    assert snapshot() == first
    assert len(first["Customer"]) == 60


def test_other_seed_gives_another_company():
    # Given companies from seeds 7 and 8
    crm_seed(plan=SeedPlan(seed=7, **PLAN))
    first = snapshot()
    crm_data_clear()
    crm_seed(plan=SeedPlan(seed=8, **PLAN))
    # Then their customers differ
    assert snapshot()["Customer"] != first["Customer"]


def test_structure_is_realistic():
    # Given a generated company
    crm_seed(plan=SeedPlan(seed=1, customers=400, months=12, end=date(2026, 6, 1)))
    # Then history stays inside the window and has the expected shape
    orders = m.Order.objects.all()
    assert orders.exists()
    assert min(o.ordered_at for o in orders).date() >= date(2025, 7, 1)
    assert max(o.ordered_at for o in orders).date() < date(2026, 7, 1)
    assert m.Customer.objects.filter(status="former").exists()  # some churn
    assert m.Customer.objects.values("country").distinct().count() >= 3
    assert (
        m.Product.objects.filter(tier="premium").exists()
        and m.Product.objects.filter(tier="standard").exists()
    )
    assert m.Interaction.objects.filter(channel="visit").exists()
    assert m.Feedback.objects.exclude(comment="").exists()
    assert (
        m.Complaint.objects.filter(resolved_at__isnull=True).exists()
        or m.Complaint.objects.exists()
    )
    assert (
        m.Lead.objects.filter(stage="lost").exists() and m.Lead.objects.filter(stage="won").exists()
    )
    # Agents differ in their handle times
    per_agent = {}
    for agent_id, seconds in m.Interaction.objects.filter(channel="call").values_list(
        "agent_id", "handle_seconds"
    ):
        per_agent.setdefault(agent_id, []).append(seconds)
    means = [sum(v) / len(v) for v in per_agent.values() if len(v) >= 20]
    assert max(means) > 1.3 * min(means)


def test_refuses_to_mix_two_companies():
    # Given a generated company
    crm_seed(plan=SeedPlan(seed=1, customers=5, months=2, end=date(2026, 6, 1)))
    # When seeding again without clearing, then it is refused
    with pytest.raises(CrmDataExists):
        crm_seed(plan=SeedPlan(seed=1, customers=5, months=2, end=date(2026, 6, 1)))


def test_every_leaf_department_owns_customers_and_their_events():
    # Given a generated company
    crm_seed(plan=SeedPlan(seed=3, customers=400, months=6, end=date(2026, 6, 1)))
    # When records are counted by the department they belong to
    leaves = Department.objects.filter(children__isnull=True)
    owned = {
        model: Counter(model.objects.values_list("department__name", flat=True))
        for model in (m.Customer, m.Interaction, m.Complaint)
    }
    orders = Counter(m.Order.objects.values_list("customer__department__name", flat=True))
    leads = Counter(m.Lead.objects.values_list("department__name", flat=True))
    # Then every leaf department, Digital Marketing and HR included, has customers who
    # buy, and contacts handled by its own people
    assert {d.name for d in leaves} == {
        "Field Sales",
        "Inside Sales",
        "Call Centre",
        "Service Desk",
        "Digital Marketing",
        "HR",
    }
    for department in leaves:
        assert owned[m.Customer][department.name] >= 8, department.name
        assert orders[department.name] > 0, department.name
        assert owned[m.Interaction][department.name] > 0, department.name
    # And no department holds most of the customers
    assert max(owned[m.Customer].values()) < 0.4 * 400
    # And leads are worked by the sales teams and Digital Marketing, complaints answered
    # by the service teams and whoever looks after the account
    assert set(leads) == {"Field Sales", "Inside Sales", "Digital Marketing"}
    assert {"Call Centre", "Service Desk", "Inside Sales"} <= set(owned[m.Complaint])


def test_nothing_is_dated_after_the_day_it_runs():
    # Given a company generated on the 10th of a month, ending with that month
    today = date(2026, 6, 10)
    crm_seed(plan=SeedPlan(seed=5, customers=300, months=4, end=date(2026, 6, 1), today=today))
    # When the latest date of every dated record is read
    latest = {
        "order": m.Order.objects.aggregate(x=Max("ordered_at"))["x"],
        "interaction": m.Interaction.objects.aggregate(x=Max("started_at"))["x"],
        "feedback": m.Feedback.objects.aggregate(x=Max("submitted_at"))["x"],
        "complaint": m.Complaint.objects.aggregate(x=Max("opened_at"))["x"],
        "resolved": m.Complaint.objects.aggregate(x=Max("resolved_at"))["x"],
        "lead": m.Lead.objects.aggregate(x=Max("created_at"))["x"],
        "converted": m.Lead.objects.aggregate(x=Max("converted_at"))["x"],
        "lost": m.Lead.objects.aggregate(x=Max("lost_at"))["x"],
        "acquired": m.Customer.objects.aggregate(x=Max("acquired_at"))["x"],
        "answered": m.EngagementAnswer.objects.aggregate(x=Max("answered_at"))["x"],
    }
    left = m.Employee.objects.aggregate(x=Max("left_at"))["x"]
    # Then none is after that day, and the month under way has its first days' records
    assert all(v is not None for v in latest.values()), latest
    assert all(v.date() <= today for v in latest.values()), latest
    assert left is None or left <= today
    assert latest["order"].date() >= date(2026, 6, 1)
    # And the month under way holds about a third of a month's orders, not a whole month's
    june = m.Order.objects.filter(ordered_at__date__gte=date(2026, 6, 1)).count()
    may = m.Order.objects.filter(
        ordered_at__date__gte=date(2026, 5, 1), ordered_at__date__lt=date(2026, 6, 1)
    ).count()
    assert 0 < june < 0.7 * may


def sentence_themes() -> dict[str, CommentTheme]:
    return {s: t for t in COMMENT_THEMES for s in t.sentences()}


def test_comment_themes_say_each_thing_many_ways_and_belong_to_a_department():
    # Given the themes the demo's customers write about
    departments = set(DEPARTMENTS) | {d for children in DEPARTMENTS.values() for d in children}
    # Then each is said in a dozen or more ways, hundreds in all, no sentence in two themes
    for theme in COMMENT_THEMES:
        assert len(set(theme.sentences())) >= 12, theme.name
        assert theme.department in departments, theme.name
    everything = [s for t in COMMENT_THEMES for s in t.sentences()]
    assert len(everything) == len(set(everything)) >= 300
    # And there is praise and grievance, and every complaint category has a theme
    assert {t.praise for t in COMMENT_THEMES} == {True, False}
    for category in m.ComplaintCategory.values:
        assert any(category in t.categories for t in COMMENT_THEMES), category
    assert all(not t.categories for t in COMMENT_THEMES if t.praise)


def test_comments_come_from_the_themes_with_ratings_that_fit():
    # Given a generated company
    crm_seed(plan=SeedPlan(seed=1, customers=400, months=12, end=date(2026, 6, 1)))
    themes = sentence_themes()
    # When its comments are read back
    feedback = list(m.Feedback.objects.exclude(comment="").values_list("rating", "comment"))
    complaints = list(m.Complaint.objects.values_list("category", "description"))
    # Then every feedback comment is a theme's sentence, praise rated 4 or 5, grievances
    # below, and every complaint describes a grievance of its own category
    assert len(feedback) > 100 and len(complaints) > 20
    for rating, comment in feedback:
        assert themes[comment].praise == (rating >= 4), (rating, comment)
    for category, description in complaints:
        assert category in themes[description].categories, (category, description)
    # And the customers use many different sentences about most of the themes
    assert len({c for _, c in feedback} | {d for _, d in complaints}) >= 100
    assert len({themes[c].name for _, c in feedback}) >= 12


def test_what_customers_write_changes_nothing_else(monkeypatch):
    # Given a company generated with seed 7
    crm_seed(plan=SeedPlan(seed=7, **PLAN))
    first = snapshot()
    crm_data_clear()
    # When it is generated again by a writer that writes something else
    monkeypatch.setattr(CommentWriter, "feedback", lambda self, rating: "(comment)")
    monkeypatch.setattr(CommentWriter, "complaint", lambda self, category: "(complaint)")
    crm_seed(plan=SeedPlan(seed=7, **PLAN))
    again = snapshot()
    # Then only the comments differ: what they say draws nothing from the company's stream
    assert {c for *_, c in again["Feedback"]} == {"", "(comment)"}
    strip = {"Feedback": lambda r: r[:-1]}
    for table, rows in first.items():
        keep = strip.get(table, lambda r: r)
        assert [keep(r) for r in rows] == [keep(r) for r in again[table]], table
    described = m.Complaint.objects.values_list("description", flat=True).distinct()
    assert set(described) <= {"(complaint)"}


def test_a_label_is_read_as_the_theme_its_words_stand_for():
    # Given labels a grouping might draw
    # When each is read, then the theme whose own words they are is found
    assert theme_for_label("delivery / parcel / late").name == "Late or damaged deliveries"
    assert theme_for_label("hold / minutes / hotline").name == "Long waits on the phone"
    assert theme_for_label("refund / warranty / returned").name == "Returns and refunds"
    # And a label whose words belong to no theme, or to two as much, is left alone
    assert theme_for_label("the / and / was") is None
    assert theme_for_label("shows / error / invoice") is None
