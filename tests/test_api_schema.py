"""Schemathesis fuzzes every API operation in-process, as a script holding a personal token
would call it, and checks each answer against the OpenAPI description: no server error, no
status, header, content type or body the description does not declare, and no operation
that answers without the token."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from crm_scorecard.accounts.services import token_create
from crm_scorecard.api.endpoints import api
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.services import scorecard_import

from .factories import CustomerFactory

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = get_wsgi_application()  # every request in-process, the checks' probes too

CARD = {
    "name": "Fuzzed card",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Keep customers",
                    "indicators": [
                        {"name": "Survey", "values": {"2026-01": 3}, "baseline": 1, "target": 5},
                        {
                            "name": "Churn",
                            "metric": "churn_rate",
                            "optimization": "minimize",
                            "baseline": 0.2,
                            "target": 0.1,
                        },
                    ],
                }
            ],
        }
    ],
}


@pytest.fixture
def app():
    """The WSGI app, called in-process within the test's transaction: like Django's test
    client, requests must not close the database connection they share with the test."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schema.app
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(org) -> dict[str, str]:
    """Sales' manager's token, and something of theirs to find: a scorecard and a customer."""
    scorecard_import(card=files.parse(CARD), department=org.sales)
    CustomerFactory(external_id="C-1", full_name="Sally Fuzz", department=org.sales)
    return {"Authorization": f"Bearer {token_create(user=org.sales_manager, name='fuzz').key}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples every run: CI fails only for a real change
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_as_its_description_says(case, app, bearer):
    # Given an operation of the API and a request generated from its description
    # When Sales' manager's token sends it to the app
    # Then the answer is one the description declares, and never a server error
    case.call_and_validate(
        app=app,
        headers=bearer,
        # The rules refuse some values the description cannot tell apart, with the declared
        # 422 and why: a future month, "2026-13", a value typed for a metric's indicator.
        excluded_checks=[positive_data_acceptance],
    )


def _holds(answer: dict, printed: dict, where: str = "") -> None:
    """Every field `printed` has is in `answer` with the same value, at every depth."""
    for key, value in printed.items():
        assert key in answer, f"{where}.{key} missing"
        if isinstance(value, list) and value and isinstance(value[0], dict):
            assert len(answer[key]) == len(value), f"{where}.{key}"
            for n, (a, p) in enumerate(zip(answer[key], value, strict=True)):
                _holds(a, p, f"{where}.{key}[{n}]")
        else:
            assert answer[key] == value, f"{where}.{key}: {answer[key]!r} != {value!r}"


@pytest.mark.django_db
def test_the_scored_tree_answer_is_the_whole_tree_evaluate_prints(client, org):
    # Given a scorecard with a sub-goal, a manual and a metric indicator
    from crm_scorecard.scorecards import selectors as sel

    nps = {"name": "NPS", "values": {"2026-01": 40}, "baseline": 0, "target": 50}
    goal = {**CARD["perspectives"][0]["goals"][0], "goals": [{"name": "Sub", "indicators": [nps]}]}
    nested = {**CARD, "perspectives": [{**CARD["perspectives"][0], "goals": [goal]}]}
    card = scorecard_import(card=files.parse(nested), department=org.sales)
    client.force_login(org.sales_manager)
    # When the API answers the tree for January
    answer = client.get(f"/api/scorecards/{card.pk}?period=2026-01").json()
    # Then it holds every field `scorecard evaluate --json` prints, at every depth
    printed = sel.evaluation(scorecard=card, period="2026-01").result.to_dict()
    _holds(answer, printed)
    sub = answer["perspectives"][0]["goals"][0]["goals"][0]
    assert sub["indicators"][0]["score"] == 40 / 50 and answer["period"] == "2026-01"
