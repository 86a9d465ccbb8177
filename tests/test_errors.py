"""The domain's errors (`crm_scorecard.errors`) as each face shows them: a page answers 404
for `NotFound` (web.middleware), the API 404, 403 and 422 with the reason (api.endpoints),
a command exits with status 1 and the reason (cli.base.DomainCommand)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from crm_scorecard.cli.base import DomainCommand
from crm_scorecard.errors import Invalid, NotAllowed, NotFound
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards import selectors as sel
from crm_scorecard.scorecards.models import Indicator, ManualValue, Scorecard
from crm_scorecard.scorecards.services import scorecard_import

CARD = {
    "name": "Errors card",
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
def card(org) -> Scorecard:
    return scorecard_import(card=files.parse(CARD), department=org.sales)


def _indicator(card: Scorecard, name: str) -> Indicator:
    return Indicator.objects.get(goal__perspective__scorecard=card, name=name)


# ---- domain code raises the domain's errors --------------------------------------------------


@pytest.mark.django_db
def test_selectors_raise_not_found_for_what_is_out_of_scope(org, card):
    # Given Sales' scorecard and one of its indicators
    indicator = _indicator(card, "Survey")
    # When Customer Service's agent asks for them, then neither is found, like a missing one
    with pytest.raises(NotFound, match="No such scorecard"):
        sel.scorecard_get(user=org.service_agent, pk=card.pk)
    with pytest.raises(NotFound, match="No such indicator"):
        sel.indicator_get(user=org.service_agent, pk=indicator.pk)
    with pytest.raises(NotFound, match="No such scorecard"):
        sel.scorecard_get(user=org.executive, pk=card.pk + 1000)


def test_scorecard_refusals_are_invalid_and_still_value_errors():
    # Given a scorecard file that cannot be read
    # When it is loaded, then the refusal is the domain's Invalid (and a ValueError as before)
    with pytest.raises(Invalid) as caught:
        files.loads("name: [", source="bad.yaml")
    assert isinstance(caught.value, ValueError) and "bad.yaml: not valid YAML" in str(caught.value)


# ---- pages ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_page_answers_404_for_not_found(client, org, card):
    # Given Customer Service's agent, signed in
    client.force_login(org.service_agent)
    # When they open Sales' scorecard, and one that does not exist
    other = client.get(reverse("scorecard-detail", args=[card.pk]))
    missing = client.get(reverse("scorecard-detail", args=[card.pk + 1000]))
    # Then both answer the same 404 page
    assert other.status_code == missing.status_code == 404


# ---- the API -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_answers_404_with_the_reason_for_not_found(client, org, card):
    # Given Customer Service's agent, signed in
    client.force_login(org.service_agent)
    # When they ask the API for Sales' scorecard, its export, a customer not theirs and a
    # metric that does not exist
    tree = client.get(f"/api/scorecards/{card.pk}")
    export = client.get(f"/api/scorecards/{card.pk}/export")
    customer = client.get("/api/customers/NOPE-1")
    metric = client.get("/api/metrics/nope")
    # Then each answers 404 with what was not found
    assert tree.status_code == export.status_code == customer.status_code == 404
    assert tree.json() == {"detail": "No such scorecard."}
    assert customer.json() == {"detail": "No such customer."}
    assert (metric.status_code, metric.json()) == (404, {"detail": "unknown metric 'nope'"})


@pytest.mark.django_db
def test_api_answers_403_with_the_reason_and_writes_nothing(client, org, card):
    # Given Sales' analyst, who may see but not edit Sales' scorecard
    indicator = _indicator(card, "Survey")
    before = list(ManualValue.objects.values_list("indicator", "period_start", "value"))
    client.force_login(org.sales_analyst)
    # When they enter a value through the API
    response = client.put(
        f"/api/indicators/{indicator.pk}/values/2026-02",
        data={"value": 4},
        content_type="application/json",
    )
    # Then it is refused with the reason, and no value changed
    assert response.status_code == 403
    assert response.json() == {"detail": "Only a manager of this department may enter values."}
    assert list(ManualValue.objects.values_list("indicator", "period_start", "value")) == before


@pytest.mark.django_db
def test_api_answers_422_with_the_reason_for_invalid(client, org, card):
    # Given Sales' manager and an indicator that reads a metric
    indicator = _indicator(card, "Churn")
    client.force_login(org.sales_manager)
    # When they enter a value for it by hand, ask for the scorecards of a month "2026-13"
    # and for a metric by the fortnight
    value = client.put(
        f"/api/indicators/{indicator.pk}/values/2026-02",
        data={"value": 0.15},
        content_type="application/json",
    )
    period = client.get("/api/scorecards?period=2026-13")
    grain = client.get("/api/metrics/revenue?grain=fortnight")
    # Then each is refused with 422 and why, and nothing was written
    assert grain.status_code == 422 and "grain must be one of" in grain.json()["detail"]
    assert value.status_code == 422
    assert value.json() == {"detail": "Churn takes its values from the metric churn_rate"}
    assert period.status_code == 422 and "2026-13" in period.json()["detail"]
    assert not ManualValue.objects.filter(indicator=indicator).exists()


def test_api_operations_list_the_errors_they_can_answer():
    # Given the API's OpenAPI description
    from crm_scorecard.api.endpoints import api

    paths = api.get_openapi_schema()["paths"]

    def statuses(path: str, method: str) -> set[int]:
        return {int(s) for s in paths[f"/api{path}"][method]["responses"]}

    # Then each operation lists the refusals it can give: every one 401 (not signed in) and
    # 422 (a malformed parameter)
    assert statuses("/scorecards", "get") == {200, 401, 422}
    assert statuses("/scorecards/{pk}", "get") == {200, 401, 404, 409, 422}
    assert statuses("/scorecards/{pk}/export", "get") == {200, 401, 404, 422}
    assert statuses("/scorecards/{pk}/report", "get") == {200, 401, 404, 409, 422}
    assert statuses("/indicators/{pk}/values/{period}", "put") == {200, 400, 401, 403, 404, 422}
    assert statuses("/metrics", "get") == {200, 401, 422}
    assert statuses("/metrics/{key}", "get") == {200, 401, 404, 422}
    assert statuses("/customers", "get") == {200, 401, 422}
    assert statuses("/customers/{external_id}", "get") == {200, 401, 404, 422}


# ---- commands ------------------------------------------------------------------------------------


class _Raises(DomainCommand):
    """A command whose work raises the error it is given."""

    error: Exception

    def handle(self, *args: object, **options: object) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error", [NotFound("No such theme."), NotAllowed("Managers only."), Invalid("Bad month.")]
)
def test_a_command_exits_1_with_the_reason_for_a_domain_error(capsys, error):
    # Given a command whose work raises a domain error
    command = _Raises()
    command.error = error
    command.requires_system_checks = []
    # When it runs from the command line
    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["crm-scorecard", "raises"])
    # Then it exits with status 1 and prints the reason, without a traceback
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.strip() == f"CommandError: {error}"


def test_scorecard_evaluate_of_a_bad_file_is_a_command_error(tmp_path):
    # Given a scorecard file whose indicator has no target
    path = tmp_path / "card.yaml"
    path.write_text(
        "name: Card\nperspectives:\n  - name: P\n    goals:\n      - name: G\n"
        "        indicators:\n          - name: I\n            baseline: 1\n"
    )
    # When it is evaluated, then the command refuses it naming the field
    with pytest.raises(CommandError, match=r"indicators\[0\]\.target: Field required"):
        call_command("scorecard", "evaluate", str(path), stdout=io.StringIO())


@pytest.mark.django_db
def test_scorecard_import_of_an_existing_name_is_a_command_error(tmp_path, org, card):
    # Given Sales already has "Errors card", and the same file
    path = tmp_path / "card.yaml"
    path.write_text(files.dump(files.parse(CARD)), encoding="utf-8")
    # When it is imported again without --replace, then the command says why
    with pytest.raises(CommandError, match="Sales already has a scorecard named 'Errors card'"):
        call_command(
            "scorecard", "import", str(path), "--department", "Sales", stdout=io.StringIO()
        )
    assert Scorecard.objects.filter(name="Errors card").count() == 1
