"""Text no database can hold: a NUL character (\\x00) in a metric filter or a search is
refused with a clear message (422 from the API, an error from the CLI), never a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm_scorecard.accounts.models import Level

from .factories import CustomerFactory, DepartmentFactory, UserFactory

# The metrics engine reads committed data over its own connection.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def analyst_client(client):
    sales = DepartmentFactory(name="Sales")
    CustomerFactory(department=sales, external_id="C-1", full_name="Ann Able")
    client.force_login(UserFactory(username="ana", level=Level.EXECUTIVE))
    return client


@pytest.mark.parametrize("text", ["region=North\x00", "region=\x00", "reg\x00ion=North"])
def test_a_nul_in_a_metric_filter_answers_422(analyst_client, text):
    # Given a signed-in executive
    # When a metric is asked for with a NUL in its filter
    response = analyst_client.get(f"/api/metrics/new_customers?filter={quote(text)}")
    # Then the API refuses it as unprocessable, saying why
    assert response.status_code == 422, response.content
    assert "NUL" in response.json()["detail"] or "unknown dimension" in response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    ["/api/customers?q=" + quote("Ann\x00"), "/api/customers/" + quote("C-1\x00")],
)
def test_a_nul_in_a_customer_search_or_id_answers_422(analyst_client, url):
    # Given a signed-in executive
    # When customers are searched for, or one is asked for, with a NUL in the text
    response = analyst_client.get(url)
    # Then the API refuses it as unprocessable, saying why
    assert response.status_code == 422, response.content
    assert "NUL" in response.json()["detail"]


def test_a_nul_in_the_cli_metric_filter_is_an_error():
    # Given a database with a department
    DepartmentFactory(name="Sales")
    # When `metrics show` is given a filter with a NUL
    with pytest.raises(CommandError) as refused:
        call_command("metrics", "show", "new_customers", "--filter", "region=North\x00")
    # Then it stops with a clear message
    assert "NUL" in str(refused.value)
