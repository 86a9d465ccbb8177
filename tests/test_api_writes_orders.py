"""POST /api/orders (each order with its lines) and POST /api/leads write records by their
import files' rules, only for customers and departments of the caller, through the browser
session or a personal API token; PUT a manual indicator's value likewise. Each refusal says
which record, line and field, and why; a refused order leaves nothing of itself."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_scorecard.accounts.services import token_create
from crm_scorecard.crm.models import Lead, Order, OrderLine
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator, ManualValue
from crm_scorecard.scorecards.services import scorecard_import

from .factories import CustomerFactory, OrderFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customers(org):
    ProductFactory(sku="SKU-1")
    ProductFactory(sku="SKU-2")
    return {
        "sales": CustomerFactory(external_id="C-1", department=org.sales),
        "field": CustomerFactory(external_id="F-1", department=org.field_sales),
        "service": CustomerFactory(external_id="S-1", department=org.service),
    }


def _bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_create(user=user, name='ERP sync').key}"}


def _post(client, entity: str, records: list[dict], query: str = "", **headers):
    return client.post(
        f"/api/{entity}{query}", {entity: records}, content_type="application/json", **headers
    )


def _order(order_id: str, customer: str = "C-1", **changes) -> dict:
    return {
        "order_id": order_id,
        "customer_id": customer,
        "ordered_at": "2026-01-05T09:00:00Z",
        "channel": "online",
        "lines": [
            {"product_sku": "SKU-1", "quantity": 2, "unit_price": "10.00", "amount": 20},
            {"product_sku": "SKU-2", "quantity": 1, "unit_price": 5.5, "amount": 5.5},
        ],
        **changes,
    }


def _lines(order_id: str) -> list[tuple]:
    return list(
        OrderLine.objects.filter(order__external_id=order_id)
        .order_by("line_no")
        .values_list("line_no", "product__sku", "quantity", "amount")
    )


# ---- orders ----------------------------------------------------------------------------------


def test_a_token_writes_an_order_with_its_lines(client, org, customers):
    # Given Sales' manager's token
    headers = _bearer(org.sales_manager)
    # When it sends an order of a Sales customer with two lines
    response = _post(client, "orders", [_order("O-1")], headers=headers)
    # Then the order and both lines are written, counted as one order
    assert response.status_code == 200, response.content
    assert response.json() == {
        "dry_run": False,
        "imported": 1,
        "updated": 0,
        "rejected": 0,
        "refused": [],
    }
    order = Order.objects.get(external_id="O-1")
    assert (order.customer.external_id, order.channel) == ("C-1", "online")
    assert _lines("O-1") == [
        (1, "SKU-1", Decimal("2.000"), Decimal("20.00")),
        (2, "SKU-2", Decimal("1.000"), Decimal("5.50")),
    ]


def test_an_order_sent_again_has_the_lines_sent_and_no_others(client, org, customers):
    # Given an order of two lines
    client.force_login(org.sales_manager)
    _post(client, "orders", [_order("O-1")])
    # When it is sent again with one line of another amount
    again = _order("O-1", lines=[{"product_sku": "SKU-2", "amount": "7.25"}])
    response = _post(client, "orders", [again])
    # Then it is counted as updated and holds that one line only
    assert (response.json()["imported"], response.json()["updated"]) == (0, 1)
    assert _lines("O-1") == [(1, "SKU-2", Decimal("1.000"), Decimal("7.25"))]


def test_a_bad_line_refuses_its_whole_order_naming_the_line_and_field(client, org, customers):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    ok = {"product_sku": "SKU-1", "amount": 20}
    negative = _order("O-2", lines=[ok, {"product_sku": "SKU-1", "amount": -3}, ok])
    unknown = _order("O-3", lines=[ok, ok, {"product_sku": "NOPE", "amount": 1}])
    # When they send a good order, one whose second line's amount is negative and one
    # whose third line names a product there is not
    response = _post(client, "orders", [_order("O-1"), negative, unknown])
    # Then the good one is written; the others are refused whole, naming the line's field
    data = response.json()
    assert (data["imported"], data["rejected"]) == (1, 2)
    assert data["refused"] == [
        {
            "index": 1,
            "id": "O-2",
            "errors": [
                {
                    "field": "lines[1].amount",
                    "reason": "Ensure this value is greater than or equal to 0.",
                }
            ],
        },
        {
            "index": 2,
            "id": "O-3",
            "errors": [{"field": "lines[2].product_sku", "reason": "no product with sku 'NOPE'"}],
        },
    ]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["O-1"]
    assert not OrderLine.objects.exclude(order__external_id="O-1").exists()


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"customer_id": "S-1"}, "customer_id", "no customer 'S-1' among yours"),
        ({"channel": "carrier pigeon"}, "channel", "not one of"),
        ({"ordered_at": "yesterday"}, "ordered_at", "date"),
    ],
)
def test_an_order_refused_for_its_own_field_says_which(
    client, org, customers, changes, field, reason
):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    # When an order with a wrong value of its own (not of a line) is sent
    response = _post(client, "orders", [_order("O-1", **changes)])
    # Then it is refused naming that field, once, and nothing is written
    errors = response.json()["refused"][0]["errors"]
    assert [e["field"] for e in errors] == [field]
    assert reason in errors[0]["reason"].lower() or reason in errors[0]["reason"]
    assert not Order.objects.exists() and not OrderLine.objects.exists()


def test_the_same_order_twice_in_one_request_is_refused_the_second_time(client, org, customers):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    # When one request carries order O-1 twice
    response = _post(client, "orders", [_order("O-1"), _order("O-1", customer="F-1")])
    # Then the first is written and the second refused, saying where the first is
    data = response.json()
    assert data["refused"] == [
        {
            "index": 1,
            "id": "O-1",
            "errors": [{"field": "order_id", "reason": "'O-1' appears again (first at index 0)"}],
        }
    ]
    assert Order.objects.get().customer.external_id == "C-1" and len(_lines("O-1")) == 2


def test_an_order_of_another_department_is_not_the_tokens_to_write(client, org, customers):
    # Given an order of Customer Service's customer, and Sales' manager's token
    OrderFactory(external_id="O-9", customer=customers["service"])
    headers = _bearer(org.sales_manager)
    # When the token sends that order id for its own customer
    response = _post(client, "orders", [_order("O-9")], headers=headers)
    # Then it is refused as not theirs, and the order is unchanged
    assert response.json()["refused"][0]["errors"] == [
        {"field": "order_id", "reason": "'O-9' is not yours to write"}
    ]
    assert Order.objects.get(external_id="O-9").customer.external_id == "S-1"


def test_an_agent_writes_orders_of_their_sub_department_only(client, org, customers):
    # Given Field Sales' agent's token (Field Sales is inside Sales)
    headers = _bearer(org.field_agent)
    # When it sends an order of a Field Sales customer and one of a Sales customer
    response = _post(
        client, "orders", [_order("O-1", "F-1"), _order("O-2", "C-1")], headers=headers
    )
    # Then the first is written and the second refused: Sales is above the agent
    data = response.json()
    assert (data["imported"], data["rejected"]) == (1, 1)
    assert data["refused"][0]["errors"] == [
        {"field": "customer_id", "reason": "no customer 'C-1' among yours"}
    ]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["O-1"]


def test_an_analyst_writes_no_orders_and_without_a_token_nobody_does(client, org, customers):
    # Given Sales' analyst's token, and no token at all
    # When each sends an order
    analyst = _post(client, "orders", [_order("O-1")], headers=_bearer(org.sales_analyst))
    anonymous = _post(client, "orders", [_order("O-1")])
    # Then the analyst is refused with why, the anonymous caller is asked who they are,
    # and nothing is written
    assert analyst.status_code == 403
    assert analyst.json() == {"detail": "Only managers, agents and executives may write orders."}
    assert anonymous.status_code == 401
    assert not Order.objects.exists()


def test_a_dry_run_checks_orders_and_writes_nothing(client, org, customers):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    # When they check two orders, one with a line without its amount
    bad = _order("O-2", lines=[{"product_sku": "SKU-1", "amount": ""}])
    response = _post(client, "orders", [_order("O-1"), bad], query="?dry_run=true")
    # Then the answer says what would happen, and nothing is written
    data = response.json()
    assert (data["dry_run"], data["imported"], data["rejected"]) == (True, 1, 1)
    assert data["refused"][0]["errors"][0]["field"] == "lines[0].amount"
    assert not Order.objects.exists()


def test_an_order_without_lines_or_with_a_wrongly_typed_amount_is_malformed(client, org, customers):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    # When an order without lines, and one whose amount is true, are sent
    empty = _post(client, "orders", [_order("O-1", lines=[])])
    typed = _post(client, "orders", [_order("O-1", lines=[{"amount": True}])])
    # Then both are malformed requests (422) saying where, and nothing is written
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"][-1] == "lines"
    assert typed.status_code == 422 and "amount" in typed.json()["detail"][0]["loc"]
    assert not Order.objects.exists()


# ---- leads -----------------------------------------------------------------------------------


def _lead(lead_id: str, department: str = "Sales", **changes) -> dict:
    return {
        "lead_id": lead_id,
        "source": "webinar",
        "created_at": "2026-01-03T10:00:00Z",
        "stage": "qualified",
        "department": department,
        **changes,
    }


def test_a_token_writes_leads_of_its_departments_only(client, org, customers):
    # Given Sales' manager's token
    headers = _bearer(org.sales_manager)
    # When it sends a Sales lead, a Field Sales lead won on a day, one for Customer Service,
    # one of Customer Service's customer and one won before it was made
    response = _post(
        client,
        "leads",
        [
            _lead("L-1", customer_id="C-1"),
            _lead("L-2", "Field Sales", stage="won", closed_at="2026-01-20"),
            _lead("L-3", "Customer Service"),
            _lead("L-4", customer_id="S-1"),
            _lead("L-5", stage="won", converted_at="2026-01-01T00:00:00Z"),
        ],
        headers=headers,
    )
    # Then the first two are written (the won day becomes its conversion) and the others
    # are refused naming the field and why
    data = response.json()
    assert response.status_code == 200 and (data["imported"], data["rejected"]) == (2, 3)
    reasons = {r["id"]: r["errors"] for r in data["refused"]}
    assert reasons["L-3"][0]["field"] == "department"
    assert "no department named 'Customer Service' among yours" in reasons["L-3"][0]["reason"]
    assert reasons["L-4"] == [{"field": "customer_id", "reason": "no customer 'S-1' among yours"}]
    assert reasons["L-5"] == [{"field": "converted_at", "reason": "is before created_at"}]
    assert sorted(Lead.objects.values_list("external_id", flat=True)) == ["L-1", "L-2"]
    won = Lead.objects.get(external_id="L-2")
    assert (won.department.name, won.converted_at.isoformat()) == (
        "Field Sales",
        "2026-01-20T00:00:00+00:00",
    )


def test_a_lead_of_another_department_is_not_the_tokens_to_update(client, org, customers):
    # Given Customer Service's lead, and Sales' manager's token
    _post(client, "leads", [_lead("L-9", "Customer Service")], headers=_bearer(org.service_agent))
    # When the token sends that lead id for Sales
    response = _post(client, "leads", [_lead("L-9")], headers=_bearer(org.sales_manager))
    # Then it is refused and the lead stays Customer Service's
    assert response.json()["refused"][0]["errors"] == [
        {"field": "lead_id", "reason": "'L-9' is not yours to write"}
    ]
    assert Lead.objects.get().department.name == "Customer Service"


def test_an_analyst_writes_no_leads(client, org, customers):
    # Given Sales' analyst's token
    # When it sends a lead
    response = _post(client, "leads", [_lead("L-1")], headers=_bearer(org.sales_analyst))
    # Then it is refused and nothing is written
    assert response.status_code == 403 and not Lead.objects.exists()


# ---- manual indicator values -----------------------------------------------------------------

CARD = {
    "name": "Service card",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Keep customers",
                    "indicators": [{"name": "Survey", "baseline": 1, "target": 5}],
                }
            ],
        }
    ],
}


@pytest.mark.parametrize(
    ("who", "status"),
    [("service_manager", 200), ("sales_manager", 404), ("service_agent", 403), (None, 401)],
)
def test_a_manual_value_is_written_by_a_token_of_the_indicators_manager_only(
    client, org, who, status
):
    # Given a manual indicator of Customer Service, and a caller's token (or none)
    scorecard_import(card=files.parse(CARD), department=org.service)
    indicator = Indicator.objects.get(name="Survey")
    headers = _bearer(getattr(org, who)) if who else {}
    # When the caller enters January's value
    response = client.put(
        f"/api/indicators/{indicator.pk}/values/2026-01",
        {"value": 4.5},
        content_type="application/json",
        headers=headers,
    )
    # Then only the department's manager writes it; another department's manager finds no
    # such indicator, the agent is refused, nobody anonymous gets in; refused, nothing is kept
    assert response.status_code == status, response.content
    written = list(ManualValue.objects.values_list("value", flat=True))
    assert written == ([4.5] if status == 200 else [])


# ---- every caller ----------------------------------------------------------------------------

# What a write of Sales' order or lead answers each caller: (status, written)
WALK = {
    "anonymous": (401, False),
    "service_manager": (200, False),  # another department: the record is refused
    "field_agent": (200, False),  # the department below: Sales' customer is not theirs
    "sales_analyst": (403, False),
    "sales_manager": (200, True),
}


@pytest.mark.parametrize("entity", ["orders", "leads"])
@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("caller", list(WALK))
def test_each_caller_writes_sales_orders_and_leads_only_if_sales_is_theirs(
    client, org, customers, entity, by, caller
):
    # Given a caller, signed in or with a token (or neither)
    headers = {}
    if caller != "anonymous" and by == "session":
        client.force_login(getattr(org, caller))
    elif caller != "anonymous":
        headers = _bearer(getattr(org, caller))
    record = _order("O-1") if entity == "orders" else _lead("L-1", customer_id="C-1")
    # When they send a Sales order (of a Sales customer) or a Sales lead
    response = _post(client, entity, [record], headers=headers)
    # Then only Sales' writers write it; a refusal writes nothing
    status, written = WALK[caller]
    assert response.status_code == status, response.content
    if status == 200:
        assert response.json()["rejected"] == (0 if written else 1)
    model = Order if entity == "orders" else Lead
    assert model.objects.exists() is written
    assert OrderLine.objects.exists() is (written and entity == "orders")
