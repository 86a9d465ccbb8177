"""Front-line agents find customers as they type, within their departments only."""

from __future__ import annotations

import pytest

from crm_scorecard.crm.selectors import customer_search

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(org):
    return {
        "ann": CustomerFactory(
            external_id="C100",
            full_name="Ann Able",
            email="ann@shop.example",
            phone="+44 161 555 0101",
            department=org.service,
        ),
        "bob": CustomerFactory(
            external_id="C200",
            full_name="Bob Annand",
            email="bob@corp.example",
            phone="+49 30 1234",
            department=org.field_sales,
        ),
        "cy": CustomerFactory(
            external_id="X300",
            full_name="Cy Cole",
            email="cy@corp.example",
            phone="+33 1 999",
            department=org.sales,
        ),
    }


def names(results):
    return [c.full_name for c in results]


def test_matches_name_case_insensitively_in_any_position(org, people):
    # Given the executive, when searching "ANN", then both names containing it match
    assert names(customer_search(user=org.executive, query="ANN")) == ["Ann Able", "Bob Annand"]


def test_matches_email_phone_and_id_prefix(org, people):
    # Given the executive
    user = org.executive
    # When searching by email part, phone part and id prefix, then the right customer matches
    assert names(customer_search(user=user, query="corp.exa")) == ["Bob Annand", "Cy Cole"]
    assert names(customer_search(user=user, query="555 01")) == ["Ann Able"]
    assert names(customer_search(user=user, query="x3")) == ["Cy Cole"]


def test_too_short_query_returns_nothing(org, people):
    # Given the executive, when typing one letter, then nothing is searched yet
    assert customer_search(user=org.executive, query=" a ") == []


def test_agent_finds_only_own_department(org, people):
    # Given the Customer Service agent, when searching a name in both departments
    results = customer_search(user=org.service_agent, query="ann")
    # Then only their department's customer is found
    assert names(results) == ["Ann Able"]


def test_manager_finds_sub_departments(org, people):
    # Given the Sales manager, when searching all, then Sales and Field Sales customers match
    assert names(customer_search(user=org.sales_manager, query="example")) == [
        "Bob Annand",
        "Cy Cole",
    ]


def test_field_agent_does_not_see_parent_department(org, people):
    # Given the Field Sales agent, when searching, then the parent Sales customer is hidden
    assert names(customer_search(user=org.field_agent, query="example")) == ["Bob Annand"]


def test_limit(org):
    # Given 30 matching customers
    for i in range(30):
        CustomerFactory(full_name=f"Match {i:02d}", department=org.service)
    # When searching with the default limit, then 20 come back in name order
    results = customer_search(user=org.executive, query="match")
    assert len(results) == 20 and results[0].full_name == "Match 00"
