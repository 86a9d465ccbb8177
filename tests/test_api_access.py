"""Every API operation added for integrations, walked as each kind of caller: nobody signed
in, another department's manager, a person of the department below it, the department's
analyst (sees, may not change) and its manager; by session and by token alike. A refused
write changes nothing."""

from __future__ import annotations

import pytest

from crm_scorecard.accounts.services import token_create
from crm_scorecard.crm.models import Customer
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.services import scorecard_import

pytestmark = pytest.mark.django_db

CALLERS = ["anonymous", "service_manager", "field_agent", "sales_analyst", "sales_manager"]
CARD = {
    "name": "Access card",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Keep",
                    "indicators": [
                        {"name": "Survey", "values": {"2026-01": 3}, "baseline": 1, "target": 5}
                    ],
                }
            ],
        }
    ],
}
REPORT = {  # Sales' scorecard: hidden from other departments and from the one below Sales
    "anonymous": 401,
    "service_manager": 404,
    "field_agent": 404,
    "sales_analyst": 200,
    "sales_manager": 200,
}
WRITE = {"anonymous": 401, "field_agent": 403, "sales_analyst": 403}


def _sign_in(client, org, caller: str, by: str) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    user = getattr(org, caller)
    if by == "session":
        client.force_login(user)
        return {}
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='walk').key}"}


@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("caller", CALLERS)
def test_report_export(client, org, caller, by):
    # Given Sales' scorecard and a caller
    card = scorecard_import(card=files.parse(CARD), department=org.sales)
    headers = _sign_in(client, org, caller, by)
    # When they export it as CSV
    response = client.get(f"/api/scorecards/{card.pk}/report?format=csv&period=2026-01", **headers)
    # Then only those who may see Sales' scorecard get it
    assert response.status_code == REPORT[caller]
    if response.status_code == 200:
        assert b"Survey" in response.content


@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("caller", CALLERS)
def test_customer_write(client, org, caller, by):
    # Given a caller, and no customers
    headers = _sign_in(client, org, caller, by)
    # When they send a customer of Sales
    response = client.post(
        "/api/customers",
        {"customers": [{"customer_id": "C-1", "full_name": "Ann", "department": "Sales"}]},
        content_type="application/json",
        **headers,
    )
    written = list(Customer.objects.values_list("external_id", "department__name"))
    # Then only Sales' manager writes it; another department's manager has it refused as
    # not theirs; everyone else is refused outright; a refusal writes nothing
    if caller in WRITE:
        assert response.status_code == WRITE[caller]
        assert written == []
    elif caller == "service_manager":
        assert response.status_code == 200 and response.json()["rejected"] == 1
        assert written == []
    else:
        assert response.status_code == 200 and response.json()["imported"] == 1
        assert written == [("C-1", "Sales")]


RECORDS = {
    "interactions": {
        "interaction_id": "I-1",
        "customer_id": "C-1",
        "department": "Sales",
        "channel": "call",
        "started_at": "2026-01-05T09:00:00Z",
    },
    "feedback": {"feedback_id": "F-1", "customer_id": "C-1", "submitted_at": "2026-01-05"},
    "complaints": {
        "complaint_id": "K-1",
        "customer_id": "C-1",
        "department": "Sales",
        "category": "billing",
        "opened_at": "2026-01-05T09:00:00Z",
    },
}
RECORD_WRITE = {  # Sales' customer's records: Sales' people who handle customers write them
    "anonymous": 401,
    "service_manager": "refused",
    "field_agent": "refused",  # Field Sales, below Sales: cannot see Sales' customer
    "sales_analyst": 403,
    "sales_manager": "written",
}


@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("entity", list(RECORDS))
def test_record_writes(client, org, caller, by, entity):
    # Given Sales' customer C-1 and a caller
    from crm_scorecard.crm.models import Complaint, Feedback, Interaction

    from .factories import CustomerFactory

    CustomerFactory(external_id="C-1", department=org.sales)
    model = {"interactions": Interaction, "feedback": Feedback, "complaints": Complaint}[entity]
    headers = _sign_in(client, org, caller, by)
    # When they send one record of C-1
    response = client.post(
        f"/api/{entity}",
        {entity: [RECORDS[entity]]},
        content_type="application/json",
        **headers,
    )
    # Then only Sales' manager writes it; the others are refused and nothing is written
    expected = RECORD_WRITE[caller]
    if expected == "written":
        assert response.status_code == 200 and response.json()["imported"] == 1
        assert model.objects.count() == 1
        return
    if expected == "refused":
        assert response.status_code == 200 and response.json()["rejected"] == 1
    else:
        assert response.status_code == expected
    assert not model.objects.exists()
