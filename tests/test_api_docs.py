"""The API's description (/api/openapi.json) and its page (/api/docs) are for the API's own
callers only: a signed-in session or a personal API token."""

from __future__ import annotations

import pytest

from crm_scorecard.accounts.services import token_create, token_revoke

pytestmark = pytest.mark.django_db


def test_nobody_signed_in_is_refused_the_description_and_sent_to_sign_in_for_the_page(client):
    # Given no session and no token
    # When a script asks for the description, and a browser opens the page
    description = client.get("/api/openapi.json")
    page = client.get("/api/docs", HTTP_ACCEPT="text/html,application/xhtml+xml")
    script_page = client.get("/api/docs")
    # Then the script gets 401 with a bearer challenge, the browser the sign-in form
    assert description.status_code == script_page.status_code == 401
    assert description.json() == {"detail": "Unauthorized"}
    assert description["WWW-Authenticate"].startswith("Bearer")
    assert page.status_code == 302 and page["Location"] == "/login/?next=/api/docs"


def test_a_signed_in_person_reads_the_description_and_the_page(client, org):
    # Given an agent signed in to the app
    client.force_login(org.service_agent)
    # When they open the page and its description
    page = client.get("/api/docs", HTTP_ACCEPT="text/html")
    description = client.get("/api/openapi.json")
    # Then both are there
    assert page.status_code == 200 and b"openapi.json" in page.content
    assert description.status_code == 200
    assert description.json()["info"]["title"] == "CRM Scorecard API"


def test_a_token_reads_the_description_until_it_is_revoked(client, org):
    # Given a token of Customer Service's agent
    created = token_create(user=org.service_agent, name="Generator")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {created.key}"}
    # When a script fetches the description with it, before and after it is revoked
    before = client.get("/api/openapi.json", **bearer)
    token_revoke(token=created.token)
    after = client.get("/api/openapi.json", **bearer)
    # Then it is given it, then refused with why
    assert before.status_code == 200 and "/api/scorecards" in before.json()["paths"]
    assert after.status_code == 401
    assert after.json() == {"detail": "This API token has been revoked."}
