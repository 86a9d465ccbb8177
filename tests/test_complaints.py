"""Complaints worked through: logged from the customer 360, moved open → in progress →
resolved → closed → reopened with every step recorded, refused moves that write nothing,
the responsible department's queue (overdue first, scoped), and who may move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from crm_scorecard.accounts.models import Level
from crm_scorecard.crm import complaints as svc
from crm_scorecard.crm.models import Complaint, ComplaintEvent, ComplaintStatus

from .factories import CustomerFactory, DepartmentFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

S = ComplaintStatus
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world():
    sales = DepartmentFactory(name="Sales")
    billing = DepartmentFactory(name="Billing")
    customer = CustomerFactory(external_id="C-K1", full_name="Kim Complains", department=sales)
    outsider = CustomerFactory(external_id="C-K2", full_name="Otto Other", department=billing)
    return {
        "sales": sales,
        "billing": billing,
        "customer": customer,
        "outsider": outsider,
        "sales_agent": UserFactory(username="s-agent", level=Level.AGENT, departments=[sales]),
        "billing_agent": UserFactory(username="b-agent", level=Level.AGENT, departments=[billing]),
        "billing_manager": UserFactory(
            username="b-manager", level=Level.MANAGER, departments=[billing]
        ),
        "billing_analyst": UserFactory(
            username="b-analyst", level=Level.ANALYST, departments=[billing]
        ),
    }


def log(w, *, department=None, severity="high", at=T0, customer=None):
    return svc.complaint_log(
        actor=w["sales_agent"],
        customer=customer or w["customer"],
        category="billing",
        severity=severity,
        department=department or w["billing"],
        description="Charged twice",
        at=at,
    )


def snapshot():
    return (
        list(
            Complaint.objects.order_by("pk").values_list(
                "status", "resolved_at", "first_response_at", "reopened_count"
            )
        ),
        ComplaintEvent.objects.count(),
    )


def test_agent_logs_a_complaint_from_the_360_for_another_departments_queue(client, world):
    # Given Sales' agent on their customer's page, with an order the complaint is about
    order = OrderFactory(customer=world["customer"], external_id="O-K1")
    client.force_login(world["sales_agent"])
    page = client.get("/customers/C-K1/").content.decode()
    assert "/customers/C-K1/complaints/new/" in page
    # When they log a complaint for Billing to answer
    response = client.post(
        "/customers/C-K1/complaints/new/",
        {
            "category": "billing",
            "severity": "high",
            "department": world["billing"].pk,
            "description": "Charged twice",
            "order": order.pk,
        },
    )
    # Then it is open in Billing's queue, about that order, and its logging is recorded
    assert response.status_code == 302
    complaint = Complaint.objects.get()
    assert (complaint.status, complaint.department, complaint.order) == (
        S.OPEN,
        world["billing"],
        order,
    )
    assert complaint.logged_by == world["sales_agent"]
    event = complaint.events.get()
    assert (event.actor, event.from_status, event.to_status) == (world["sales_agent"], "", S.OPEN)
    # And the customer's page shows it with its history
    page = client.get("/customers/C-K1/").content.decode()
    assert complaint.external_id in page and "logged" in page


def test_logging_is_scoped_to_the_customers_one_sees(client, world):
    # Given Sales' agent and Billing's customer
    client.force_login(world["sales_agent"])
    before = snapshot()
    # When they open or post the form for that customer
    form = {"category": "billing", "severity": "low", "department": world["sales"].pk}
    get = client.get("/customers/C-K2/complaints/new/")
    post = client.post("/customers/C-K2/complaints/new/", {**form, "description": "x"})
    # Then both answer 404 and nothing is written
    assert (get.status_code, post.status_code) == (404, 404)
    assert snapshot() == before
    # And the service refuses too
    with pytest.raises(PermissionDenied):
        log(world, customer=world["outsider"])
    assert snapshot() == before


def test_an_order_of_another_customer_is_refused(world):
    # Given an order of Billing's customer
    order = OrderFactory(customer=world["outsider"])
    # When Sales' agent logs a complaint about it for their own customer
    with pytest.raises(ValidationError, match="not this customer's"):
        svc.complaint_log(
            actor=world["sales_agent"],
            customer=world["customer"],
            category="billing",
            severity="low",
            department=world["billing"],
            description="x",
            order=order,
        )
    # Then nothing is written
    assert snapshot() == ([], 0)


def test_full_path_records_every_step(world):
    # Given a complaint logged for Billing
    complaint = log(world)
    agent, manager = world["billing_agent"], world["billing_manager"]
    # When Billing works it through, closes it and the customer comes back
    steps = [
        (agent, S.IN_PROGRESS, "Looking into it", T0 + timedelta(hours=1)),
        (agent, S.RESOLVED, "Refunded", T0 + timedelta(hours=5)),
        (manager, S.CLOSED, "", T0 + timedelta(hours=6)),
        (manager, S.OPEN, "Refund never arrived", T0 + timedelta(days=2)),
    ]
    for actor, to, note, at in steps:
        svc.complaint_move(actor=actor, complaint=complaint, to_status=to, note=note, at=at)
    # Then each step is recorded with who, when, from, to and the note
    events = list(
        complaint.events.values_list("actor__username", "at", "from_status", "to_status", "note")
    )
    assert events == [
        ("s-agent", T0, "", S.OPEN, ""),
        ("b-agent", T0 + timedelta(hours=1), S.OPEN, S.IN_PROGRESS, "Looking into it"),
        ("b-agent", T0 + timedelta(hours=5), S.IN_PROGRESS, S.RESOLVED, "Refunded"),
        ("b-manager", T0 + timedelta(hours=6), S.RESOLVED, S.CLOSED, ""),
        ("b-manager", T0 + timedelta(days=2), S.CLOSED, S.OPEN, "Refund never arrived"),
    ]
    # And the first response is the first move, the resolution was cleared by the reopening
    complaint.refresh_from_db()
    assert complaint.status == S.OPEN
    assert complaint.first_response_at == T0 + timedelta(hours=1)
    assert complaint.resolved_at is None
    assert complaint.reopened_count == 1
    assert complaint.first_reopened_at == T0 + timedelta(days=2)


def test_resolve_stamps_resolution_and_a_first_note_is_the_first_response(world):
    # Given a complaint, when Billing's agent first writes a note, then moves it on
    complaint = log(world)
    svc.complaint_note(
        actor=world["billing_agent"],
        complaint=complaint,
        note="Called back",
        at=T0 + timedelta(minutes=30),
    )
    svc.complaint_move(
        actor=world["billing_agent"],
        complaint=complaint,
        to_status=S.IN_PROGRESS,
        at=T0 + timedelta(hours=2),
    )
    svc.complaint_move(
        actor=world["billing_agent"],
        complaint=complaint,
        to_status=S.RESOLVED,
        at=T0 + timedelta(hours=3),
    )
    # Then the note was the first response, and the resolution time is stamped
    complaint.refresh_from_db()
    assert complaint.first_response_at == T0 + timedelta(minutes=30)
    assert complaint.resolved_at == T0 + timedelta(hours=3)
    note = complaint.events.get(note="Called back")
    assert (note.from_status, note.to_status) == (S.OPEN, S.OPEN)


@pytest.mark.parametrize(
    ("path", "to", "message"),
    [
        ([], S.CLOSED, "open cannot move to closed; it can move to in progress"),
        ([], S.RESOLVED, "open cannot move to resolved"),
        ([S.IN_PROGRESS], S.OPEN, "in progress cannot move to open; it can move to resolved"),
        ([S.IN_PROGRESS, S.RESOLVED, S.CLOSED], S.RESOLVED, "closed cannot move to resolved"),
        ([], "archived", "cannot move to 'archived'"),
    ],
)
def test_invalid_transitions_are_refused_and_write_nothing(world, path, to, message):
    # Given a complaint some way along
    complaint = log(world)
    for step in path:
        svc.complaint_move(actor=world["billing_agent"], complaint=complaint, to_status=step)
    before = snapshot()
    # When a move it cannot make is asked for, then it is refused with the reason
    with pytest.raises(ValidationError, match=message):
        svc.complaint_move(actor=world["billing_agent"], complaint=complaint, to_status=to)
    # And nothing is written
    assert snapshot() == before


def test_invalid_transition_on_the_page_says_why(client, world):
    # Given Billing's agent on an open complaint's page
    complaint = log(world)
    client.force_login(world["billing_agent"])
    before = snapshot()
    # When they post a move to closed
    response = client.post(f"/complaints/{complaint.pk}/", {"to_status": "closed", "note": "x"})
    # Then the page answers 400 with the reason, and nothing is written
    assert response.status_code == 400
    assert "cannot move to closed" in response.content.decode()
    assert snapshot() == before


def test_analysts_and_other_departments_cannot_move(client, world):
    # Given an open complaint of Billing's
    complaint = log(world)
    before = snapshot()
    # When Billing's analyst tries on the page and through the service
    client.force_login(world["billing_analyst"])
    page = client.get(f"/complaints/{complaint.pk}/")
    post = client.post(f"/complaints/{complaint.pk}/", {"to_status": "in_progress"})
    # Then they read the page without the form, and the move is refused (403)
    assert page.status_code == 200 and 'name="to_status"' not in page.content.decode()
    assert post.status_code == 403
    with pytest.raises(PermissionDenied):
        svc.complaint_move(
            actor=world["billing_analyst"], complaint=complaint, to_status=S.IN_PROGRESS
        )
    with pytest.raises(PermissionDenied):
        svc.complaint_note(actor=world["billing_analyst"], complaint=complaint, note="hi")
    # And Sales' agent, who logged it, cannot see or move Billing's complaint
    client.force_login(world["sales_agent"])
    assert client.get(f"/complaints/{complaint.pk}/").status_code == 404
    assert (
        client.post(f"/complaints/{complaint.pk}/", {"to_status": "in_progress"}).status_code == 404
    )
    with pytest.raises(PermissionDenied):
        svc.complaint_move(actor=world["sales_agent"], complaint=complaint, to_status=S.IN_PROGRESS)
    # And nothing was written
    assert snapshot() == before


def test_page_move_by_the_departments_agent(client, world):
    # Given Billing's agent on the complaint's page, which offers the next step
    complaint = log(world)
    client.force_login(world["billing_agent"])
    page = client.get(f"/complaints/{complaint.pk}/").content.decode()
    assert 'value="in_progress"' in page and 'value="closed"' not in page
    # When they move it to in progress with a note
    response = client.post(
        f"/complaints/{complaint.pk}/", {"to_status": "in_progress", "note": "On it"}
    )
    # Then it moved and the history shows the step
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.status == S.IN_PROGRESS
    page = client.get(f"/complaints/{complaint.pk}/").content.decode()
    assert "On it" in page and "b-agent" in page


def test_queue_shows_overdue_first_and_only_the_departments_complaints(client, world):
    # Given Billing's complaints: a low one logged 10 days ago (due after 168 h: overdue),
    # a critical one logged 5 hours ago (due after 4 h: overdue), a high one logged an hour
    # ago (due in 23 h), and a resolved one; and a complaint for Sales
    now = timezone.now()
    low = log(world, severity="low", at=now - timedelta(days=10))
    critical = log(world, severity="critical", at=now - timedelta(hours=5))
    high = log(world, severity="high", at=now - timedelta(hours=1))
    done = log(world, severity="medium", at=now - timedelta(hours=3))
    svc.complaint_move(actor=world["billing_agent"], complaint=done, to_status=S.IN_PROGRESS)
    svc.complaint_move(actor=world["billing_agent"], complaint=done, to_status=S.RESOLVED)
    sales_own = log(
        world, department=world["sales"], severity="critical", at=now - timedelta(days=1)
    )
    # When Billing's agent reads the queue
    rows, total = svc.complaint_queue(user=world["billing_agent"], now=now)
    # Then the overdue come first, the one due soonest first, and nothing of Sales' or resolved
    assert [r.complaint.pk for r in rows] == [low.pk, critical.pk, high.pk]
    assert [r.overdue for r in rows] == [True, True, False]
    assert rows[0].due_at == low.opened_at + timedelta(hours=168)
    assert total == 3
    # And the page says "Overdue" in words, not only colour
    client.force_login(world["billing_agent"])
    page = client.get("/complaints/").content.decode()
    assert page.count(">Overdue</strong>") == 2 and "2 overdue" in page
    assert sales_own.external_id not in page and done.external_id not in page
    # And the other department's complaint's page answers 404
    assert client.get(f"/complaints/{sales_own.pk}/").status_code == 404


def test_the_360_shows_the_history_of_each_complaint(client, world):
    # Given a complaint moved once with a note
    complaint = log(world)
    svc.complaint_move(
        actor=world["billing_agent"],
        complaint=complaint,
        to_status=S.IN_PROGRESS,
        note="Checking the invoice",
    )
    # When Sales' agent (who sees the customer, not Billing's queue) opens the 360
    client.force_login(world["sales_agent"])
    page = client.get("/customers/C-K1/").content.decode()
    # Then the complaint's steps are there, without a link to a page they cannot open
    assert "Checking the invoice" in page and "b-agent" in page
    assert f"/complaints/{complaint.pk}/" not in page


def test_analysts_are_not_offered_logging(client, world):
    # Given Sales' analyst
    analyst = UserFactory(username="s-analyst", level=Level.ANALYST, departments=[world["sales"]])
    client.force_login(analyst)
    # Then the 360 has no log link, and the form answers 403 and writes nothing
    assert "/complaints/new/" not in client.get("/customers/C-K1/").content.decode()
    assert client.get("/customers/C-K1/complaints/new/").status_code == 403
    response = client.post(
        "/customers/C-K1/complaints/new/",
        {
            "category": "billing",
            "severity": "low",
            "department": world["sales"].pk,
            "description": "x",
        },
    )
    assert response.status_code == 403
    assert snapshot() == ([], 0)
