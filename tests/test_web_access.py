"""Every page requires login and answers only within the user's departments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from crm_scorecard.crm import models as m

from .factories import CustomerFactory, InteractionFactory, OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(org):
    customer = CustomerFactory(external_id="C100", full_name="Ann Able", department=org.service)
    order = OrderFactory(customer=customer, external_id="O-1")
    m.OrderLine.objects.create(order=order, line_no=1, amount=12)
    m.OrderLine.objects.create(order=order, line_no=2, amount=30)
    InteractionFactory(customer=customer, topics="billing", topic_count=1)
    m.Feedback.objects.create(
        external_id="F1",
        customer=customer,
        rating=4,
        recommend=9,
        submitted_at=datetime(2026, 1, 3, tzinfo=UTC),
        comment="Lovely people",
    )
    m.Complaint.objects.create(
        external_id="K1",
        customer=customer,
        category="billing",
        opened_at=datetime(2026, 1, 4, tzinfo=UTC),
        department=org.service,
        description="Charged twice",
    )
    return customer


PAGES = ["home", "customer-search", "customer-detail", "customer-search-csv", "complaint-queue-csv"]


def url_for(name: str) -> str:
    if name == "customer-detail":
        return reverse(name, args=["C100"])
    if name in ("customer-search", "customer-search-csv"):
        return reverse(name) + "?q=ann"
    return reverse(name)


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_login(client, ann, page):
    # Given no login, when opening the page, then it redirects to sign in
    response = client.get(url_for(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("who", "page", "status", "sees_ann"),
    [
        ("service_agent", "customer-detail", 200, True),
        ("service_manager", "customer-detail", 200, True),
        ("executive", "customer-detail", 200, True),
        ("sales_manager", "customer-detail", 404, False),
        ("field_agent", "customer-detail", 404, False),
        ("sales_analyst", "customer-detail", 404, False),
        ("service_agent", "customer-search", 200, True),
        ("executive", "customer-search", 200, True),
        ("sales_manager", "customer-search", 200, False),
        ("field_agent", "customer-search", 200, False),
        ("service_agent", "home", 200, False),
        ("sales_manager", "home", 200, False),
        ("service_agent", "customer-search-csv", 200, True),
        ("executive", "customer-search-csv", 200, True),
        ("sales_manager", "customer-search-csv", 200, False),
        ("field_agent", "customer-search-csv", 200, False),
        ("service_manager", "complaint-queue-csv", 200, True),
        ("executive", "complaint-queue-csv", 200, True),
        ("sales_manager", "complaint-queue-csv", 200, False),
        ("sales_analyst", "complaint-queue-csv", 200, False),
    ],
)
def test_pages_are_scoped_to_departments(client, org, ann, who, page, status, sees_ann):
    # Given a signed-in user
    client.force_login(getattr(org, who))
    # When opening the page
    response = client.get(url_for(page))
    # Then the answer and what it shows depend on their departments
    assert response.status_code == status
    assert ("Ann Able" in response.content.decode("utf-8-sig")) is sees_ann


def test_out_of_scope_answers_like_missing(client, org, ann):
    # Given the Sales manager
    client.force_login(org.sales_manager)
    # When opening a customer of another department and one that does not exist
    hidden = client.get(reverse("customer-detail", args=["C100"]))
    missing = client.get(reverse("customer-detail", args=["NOPE"]))
    # Then both answer the same 404
    assert hidden.status_code == missing.status_code == 404


def test_customer_360_shows_the_whole_story(client, org, ann):
    # Given the service agent
    client.force_login(org.service_agent)
    # When opening Ann's page
    html = client.get(reverse("customer-detail", args=["C100"])).content.decode()
    # Then profile, purchases with total, contacts, feedback and complaints are all there
    for text in ["Ann Able", "O-1", "42.00", "billing", "Lovely people", "4/5", "Charged twice"]:
        assert text in html


def test_customer_360_query_count_does_not_grow_with_history(
    client, org, ann, django_assert_max_num_queries
):
    # Given a customer with many orders and contacts
    for i in range(20):
        order = OrderFactory(customer=ann)
        m.OrderLine.objects.create(order=order, line_no=1, amount=i + 1)
        InteractionFactory(customer=ann)
    client.force_login(org.service_agent)
    # When opening the page, then a fixed number of queries serves it
    with django_assert_max_num_queries(14):
        assert client.get(reverse("customer-detail", args=["C100"])).status_code == 200


def test_search_as_you_type_returns_a_fragment(client, org, ann):
    # Given the agent typing in the search box (htmx sends HX-Request)
    client.force_login(org.service_agent)
    # When the fragment is requested
    response = client.get(reverse("customer-search") + "?q=ann", headers={"HX-Request": "true"})
    # Then only the results table comes back, not the whole page
    html = response.content.decode()
    assert "Ann Able" in html and "<html" not in html


def test_admin_is_for_staff_only(client, org):
    # Given a manager who is not staff
    client.force_login(org.sales_manager)
    # When opening the admin, then they are sent to the admin login
    assert client.get("/admin/").status_code == 302
    # And a staff user gets in
    org.executive.is_staff = org.executive.is_superuser = True
    org.executive.save()
    client.force_login(org.executive)
    assert client.get("/admin/crm/customer/").status_code == 200


def test_login_page_signs_in(client, org):
    # Given the login page, when posting right credentials, then the user lands home
    response = client.post(reverse("login"), {"username": "exec", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    # And wrong credentials are refused with a message
    response = client.post(reverse("login"), {"username": "exec", "password": "nope"})
    assert (
        "didn&#x27;t match" in response.content.decode()
        or "didn't match" in response.content.decode()
    )
