"""POST /api/interactions, /api/feedback and /api/complaints write records by their import
file's rules, only for customers and departments of the caller; each refusal says why."""

from __future__ import annotations

import pytest

from crm_scorecard.crm.models import Complaint, Feedback, Interaction

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customers(org):
    return {
        "service": CustomerFactory(external_id="S-1", department=org.service),
        "sales": CustomerFactory(external_id="C-1", department=org.sales),
    }


def _post(client, entity: str, records: list[dict], query: str = ""):
    return client.post(f"/api/{entity}{query}", {entity: records}, content_type="application/json")


def test_an_agent_logs_interactions_of_their_customers_only(client, org, customers):
    # Given Customer Service's agent
    client.force_login(org.service_agent)
    call = {"channel": "call", "started_at": "2026-01-05T09:00:00Z", "wait_seconds": 30}
    # When they send a call with their customer, one with Sales' customer, one for Sales'
    # department, and one with a negative wait
    response = _post(
        client,
        "interactions",
        [
            {
                **call,
                "interaction_id": "I-1",
                "customer_id": "S-1",
                "department": "Customer Service",
            },
            {
                **call,
                "interaction_id": "I-2",
                "customer_id": "C-1",
                "department": "Customer Service",
            },
            {**call, "interaction_id": "I-3", "customer_id": "S-1", "department": "Sales"},
            {
                **call,
                "interaction_id": "I-4",
                "customer_id": "S-1",
                "department": "Customer Service",
                "wait_seconds": -1,
            },
        ],
    )
    # Then only the first is written; the others are refused naming the field and why
    data = response.json()
    assert response.status_code == 200 and (data["imported"], data["rejected"]) == (1, 3)
    reasons = {r["id"]: r["errors"] for r in data["refused"]}
    assert reasons["I-2"] == [{"field": "customer_id", "reason": "no customer 'C-1' among yours"}]
    assert reasons["I-3"][0]["field"] == "department"
    assert "no department named 'Sales' among yours" in reasons["I-3"][0]["reason"]
    assert [e["field"] for e in reasons["I-4"]] == ["wait_seconds"]
    assert list(Interaction.objects.values_list("external_id", "wait_seconds")) == [("I-1", 30)]


def test_complaints_follow_the_import_rules(client, org, customers):
    # Given Customer Service's manager
    client.force_login(org.service_manager)
    complaint = {"customer_id": "S-1", "department": "Customer Service"}
    # When they send a complaint, and one of a category that does not exist
    response = _post(
        client,
        "complaints",
        [
            {
                **complaint,
                "complaint_id": "K-1",
                "category": "billing",
                "opened_at": "2026-01-05T09:00:00Z",
            },
            {
                **complaint,
                "complaint_id": "K-2",
                "category": "weather",
                "opened_at": "2026-01-05T09:00:00Z",
            },
        ],
    )
    # Then the first is written and the second refused naming the category
    data = response.json()
    assert (data["imported"], data["rejected"]) == (1, 1)
    assert [e["field"] for e in data["refused"][0]["errors"]] == ["category"]
    assert list(Complaint.objects.values_list("external_id", flat=True)) == ["K-1"]


def test_feedback_of_another_departments_customer_is_not_theirs_to_write(client, org, customers):
    # Given feedback F-1 of Sales' customer
    Feedback.objects.create(
        external_id="F-1",
        customer=customers["sales"],
        submitted_at="2026-01-05T09:00:00Z",
        rating=5,
    )
    client.force_login(org.service_agent)
    # When Customer Service's agent sends F-1 again as their customer's
    response = _post(
        client,
        "feedback",
        [{"feedback_id": "F-1", "customer_id": "S-1", "submitted_at": "2026-01-06", "rating": 1}],
    )
    # Then it is refused, and F-1 is unchanged
    assert response.json()["refused"][0]["errors"] == [
        {"field": "feedback_id", "reason": "'F-1' is not yours to write"}
    ]
    assert Feedback.objects.get().rating == 5


def test_an_analyst_writes_no_records(client, org, customers):
    # Given Sales' analyst
    client.force_login(org.sales_analyst)
    # When they send feedback for Sales' customer
    response = _post(
        client,
        "feedback",
        [{"feedback_id": "F-9", "customer_id": "C-1", "submitted_at": "2026-01-06", "rating": 4}],
    )
    # Then it is refused and nothing is written
    assert response.status_code == 403
    assert response.json() == {"detail": "Only managers, agents and executives may write feedback."}
    assert not Feedback.objects.exists()


def test_a_refusal_names_the_right_record_after_text_with_line_breaks(client, org, customers):
    # Given Customer Service's agent
    client.force_login(org.service_agent)
    call = {"customer_id": "S-1", "department": "Customer Service", "channel": "call"}
    # When a call whose note spans three lines comes before one with no start, and one with
    # a lone surrogate (not text any database stores) and a wait given as text
    response = client.post(
        "/api/interactions",
        '{"interactions": ['
        '{"interaction_id": "I-1", "customer_id": "S-1", "department": "Customer Service",'
        ' "channel": "call", "started_at": "2026-01-05T09:00:00Z", "note": "a\\nb\\u0085c"},'
        '{"interaction_id": "I-2", "customer_id": "S-1", "department": "Customer Service",'
        ' "channel": "call", "started_at": ""},'
        '{"interaction_id": "I-3", "customer_id": "S-1", "department": "Customer Service",'
        ' "channel": "call", "started_at": "2026-01-05T09:00:00Z", "note": "\\ud800"}]}',
        content_type="application/json",
    )
    strict = _post(client, "interactions", [{**call, "interaction_id": "I-4",
                                              "started_at": "2026-01-05", "wait_seconds": "3"}])  # fmt: skip
    # Then the second and third are refused under their own index, naming the field
    data = response.json()
    assert (data["imported"], data["rejected"]) == (1, 2)
    assert [(r["index"], [e["field"] for e in r["errors"]]) for r in data["refused"]] == [
        (1, ["started_at"]),
        (2, ["note"]),
    ]
    assert Interaction.objects.get().note == "a\nb\x85c"
    # And a number given as text is refused by the description's types
    assert strict.status_code == 422 and strict.json()["detail"][0]["loc"][-1] == "wait_seconds"
