"""POST /api/customers writes customers by a customers file's rules, only into the caller's
departments, and only for managers and executives; each refused record says why."""

from __future__ import annotations

import pytest
from django.test import Client

from crm_scorecard.accounts.services import token_create
from crm_scorecard.crm.models import Customer

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _snapshot() -> list[tuple]:
    return list(
        Customer.objects.order_by("external_id").values_list(
            "external_id", "full_name", "email", "department__name"
        )
    )


def _post(client, records, query: str = "", **extra):
    return client.post(
        f"/api/customers{query}",
        {"customers": records},
        content_type="application/json",
        **extra,
    )


def test_a_manager_writes_customers_and_each_refusal_names_the_field(client, org):
    # Given Sales' customer C-1, and Customer Service's customer X-1
    CustomerFactory(external_id="C-1", full_name="Old name", department=org.sales)
    theirs = CustomerFactory(external_id="X-1", full_name="Service's", department=org.service)
    client.force_login(org.sales_manager)
    # When Sales' manager sends a new customer, a new name for C-1, a bad email, a customer
    # for Customer Service, and X-1 moved into Sales
    response = _post(
        client,
        [
            {"customer_id": "C-2", "full_name": "Ann New", "department": "sales"},
            {"customer_id": "C-1", "full_name": "New name", "department": "Field Sales"},
            {"customer_id": "C-3", "full_name": "Bad", "department": "Sales", "email": "x@"},
            {"customer_id": "C-4", "full_name": "Theirs", "department": "Customer Service"},
            {"customer_id": "X-1", "full_name": "Taken", "department": "Sales"},
        ],
    )
    # Then one is created and one updated, and three are refused naming the field and why
    assert response.status_code == 200
    data = response.json()
    assert (data["imported"], data["updated"], data["rejected"]) == (1, 1, 3)
    refused = {r["index"]: r for r in data["refused"]}
    assert sorted(refused) == [2, 3, 4]
    assert refused[2]["id"] == "C-3"
    assert [e["field"] for e in refused[2]["errors"]] == ["email"]
    assert refused[3]["errors"] == [
        {
            "field": "department",
            "reason": "no department named 'Customer Service' among yours (Field Sales, Sales)",
        }
    ]
    assert refused[4]["errors"] == [
        {"field": "customer_id", "reason": "'X-1' is not yours to write"}
    ]
    # And the database holds exactly that
    assert _snapshot() == [
        ("C-1", "New name", "", "Field Sales"),
        ("C-2", "Ann New", "", "Sales"),
        ("X-1", "Service's", theirs.email, "Customer Service"),
    ]


def test_a_dry_run_checks_and_writes_nothing(client, org):
    # Given Sales' manager and no customers
    client.force_login(org.sales_manager)
    # When they check two customers without writing
    response = _post(
        client,
        [
            {"customer_id": "C-1", "full_name": "Ann", "department": "Sales"},
            {"customer_id": "C-2", "full_name": "", "department": "Sales"},
        ],
        "?dry_run=true",
    )
    # Then the answer says what would happen, and nothing was written
    data = response.json()
    assert (data["dry_run"], data["imported"], data["rejected"]) == (True, 1, 1)
    assert data["refused"][0]["errors"][0]["field"] == "full_name"
    assert not Customer.objects.exists()


@pytest.mark.parametrize("caller", ["sales_analyst", "field_agent", "service_agent"])
def test_only_managers_and_executives_write_customers(client, org, caller):
    # Given someone who is not a manager, and the customers before
    before = _snapshot()
    client.force_login(getattr(org, caller))
    # When they send a customer for their own department
    department = "Customer Service" if caller == "service_agent" else "Sales"
    response = _post(client, [{"customer_id": "C-9", "full_name": "A", "department": department}])
    # Then it is refused and nothing changed
    assert response.status_code == 403
    assert response.json() == {"detail": "Only managers and executives may write customers."}
    assert _snapshot() == before


def test_anonymous_is_refused_and_a_token_writes_without_csrf(org):
    # Given a client that enforces CSRF, and a token of Customer Service's manager
    client = Client(enforce_csrf_checks=True)
    key = token_create(user=org.service_manager, name="Phone system").key
    record = [{"customer_id": "S-1", "full_name": "Sam", "department": "Customer Service"}]
    # When the records are sent without a token, then with it
    anonymous = _post(client, record)
    with_token = _post(client, record, HTTP_AUTHORIZATION=f"Bearer {key}")
    # Then the first is refused and writes nothing; the second creates the customer
    assert anonymous.status_code == 401
    assert with_token.status_code == 200 and with_token.json()["imported"] == 1
    assert _snapshot() == [("S-1", "Sam", "", "Customer Service")]


def test_malformed_bodies_are_refused_naming_the_field(client, org):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    # When they send no customers, a customer without a name, and text that is not JSON
    empty = _post(client, [])
    nameless = _post(client, [{"customer_id": "C-1", "department": "Sales"}])
    garbage = client.post("/api/customers", "{", content_type="application/json")
    # Then each is refused with where the problem is, and nothing was written
    assert empty.status_code == nameless.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body", "body", "customers"]
    assert nameless.json()["detail"][0]["loc"][-1] == "full_name"
    assert garbage.status_code == 400
    assert not Customer.objects.exists()


def test_a_nul_character_is_refused_naming_the_field(client, org):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    # When they send a customer whose id and name hold a NUL (PostgreSQL cannot store one)
    response = _post(
        client, [{"customer_id": "C\x00", "full_name": "A\x00", "department": "Sales"}]
    )
    # Then it is refused naming both fields, and nothing was written
    reason = "contains a NUL character (\\x00), which cannot be stored"
    assert response.status_code == 200
    assert response.json()["refused"][0]["errors"] == [
        {"field": "customer_id", "reason": reason},
        {"field": "full_name", "reason": reason},
    ]
    assert not Customer.objects.exists()
