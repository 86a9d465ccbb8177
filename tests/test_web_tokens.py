"""The API tokens page (/account/tokens/): a person's own tokens, a key shown once on the answer
to its creation, revoking with a POST; anyone else's token answers like one that does not exist."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from crm_scorecard.accounts.models import ApiToken
from crm_scorecard.accounts.services import token_create

from .test_security_web import Markup

pytestmark = pytest.mark.django_db

PAGE = "/account/tokens/"
KEY = re.compile(r'<code class="key" id="new-token-key">(crm_[\w-]+)</code>')


def _bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def _created_key(html: str) -> str:
    found = KEY.search(html)
    assert found, html
    return found.group(1)


def test_a_new_token_shows_its_key_once_and_the_key_calls_the_api(client, org):
    # Given Sales' manager on their tokens page
    client.force_login(org.sales_manager)
    # When they create a token for their ERP, for 30 days
    response = client.post(PAGE, {"name": "ERP sync", "days": "30"})
    # Then the answer shows the key, once, kept out of every cache
    assert response.status_code == 200
    html = response.content.decode()
    key = _created_key(html)
    assert html.count(key) == 1
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.prefix) == (org.sales_manager, "ERP sync", key[:10])
    assert 29 < (token.expires_at - token.created_at).total_seconds() / 86400 <= 30
    # And a script sending the key acts as the manager
    script = Client()
    assert script.get("/api/scorecards", **_bearer(key)).status_code == 200
    # And the page, opened again, lists the token by name and prefix but never shows the key
    listing = client.get(PAGE)
    text = listing.content.decode()
    assert listing.status_code == 200 and "no-store" in listing["Cache-Control"]
    assert key not in text and "new-token-key" not in text
    assert "ERP sync" in text and f"{token.prefix}…" in text


def test_days_left_empty_mean_the_default_and_the_form_shows_default_and_most(
    client, org, settings
):
    # Given a site whose tokens work at most 120 days, and Sales' manager on the page
    settings.API_TOKEN_MAX_DAYS = 120
    client.force_login(org.sales_manager)
    # When the page is drawn
    html = client.get(PAGE).content.decode()
    # Then the form says the default (90) and the most (120)
    assert "90 if left empty; at most 120." in html and 'max="120"' in html
    # And a token created without days works 90 days
    assert client.post(PAGE, {"name": "BI", "days": ""}).status_code == 200
    token = ApiToken.objects.get()
    assert 89 < (token.expires_at - token.created_at).total_seconds() / 86400 <= 90


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "ERP", "days": "121"}, "days", "a token works for 1 to 120 days, not 121"),
        ({"name": "ERP", "days": "0"}, "days", "a token works for 1 to 120 days, not 0"),
        ({"name": "   ", "days": ""}, "name", "This field is required."),
        ({"name": "ERP\tsync", "days": ""}, "name", "cannot contain control characters"),
        ({"name": "ERP", "days": "many"}, "days", "Enter a whole number."),
    ],
    ids=["too-long", "zero", "blank-name", "tab-in-name", "not-a-number"],
)
def test_a_refused_token_says_why_next_to_the_field_and_stores_nothing(
    client, org, settings, data, field, message
):
    # Given a site whose tokens work at most 120 days, and Sales' manager on the page
    settings.API_TOKEN_MAX_DAYS = 120
    client.force_login(org.sales_manager)
    # When they ask for a token the rules refuse
    response = client.post(PAGE, data)
    # Then the page answers 400 with the reason beside the field, shows no key, stores nothing
    assert response.status_code == 400
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    html = response.content.decode()
    assert message.replace("'", "&#x27;") in html and "new-token-key" not in html
    assert not ApiToken.objects.exists()


def test_the_page_lists_only_ones_own_tokens(client, org):
    # Given a token of Sales' manager and one of Customer Service's agent
    own = token_create(user=org.sales_manager, name="ERP sync").token
    other = token_create(user=org.service_agent, name="Phone system").token
    # When Sales' manager opens their tokens page
    client.force_login(org.sales_manager)
    html = client.get(PAGE).content.decode()
    # Then theirs is listed with its revoke button; the agent's is not there at all
    assert "ERP sync" in html and f"/account/tokens/{own.pk}/revoke/" in html
    assert "Phone system" not in html and other.prefix not in html
    assert f"/account/tokens/{other.pk}/revoke/" not in html


def test_revoking_stops_the_key_and_the_list_says_when(client, org):
    # Given a token of Sales' manager that works
    created = token_create(user=org.sales_manager, name="ERP sync")
    script = Client()
    assert script.get("/api/scorecards", **_bearer(created.key)).status_code == 200
    client.force_login(org.sales_manager)
    # When they press its revoke button
    response = client.post(f"/account/tokens/{created.token.pk}/revoke/")
    # Then they are sent back to the list, which says it was revoked and offers no button
    assert response.status_code == 302 and response["Location"] == PAGE
    page = client.get(PAGE).content.decode()
    assert "Token “ERP sync”" in page and "revoked." in page
    assert f"/account/tokens/{created.token.pk}/revoke/" not in page
    created.token.refresh_from_db()
    assert created.token.revoked_at is not None
    # And the key answers 401, saying why
    refused = script.get("/api/scorecards", **_bearer(created.key))
    assert refused.status_code == 401 and "revoked" in refused.content.decode()


def test_revoking_needs_a_post_with_the_csrf_token(org):
    # Given a token of Sales' manager, and a browser that checks CSRF as a real one would
    token = token_create(user=org.sales_manager, name="ERP sync").token
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(org.sales_manager)
    url = f"/account/tokens/{token.pk}/revoke/"
    # When the revoke address is opened, or posted to without the CSRF token
    # Then both are refused and the token still works
    assert browser.get(url).status_code == 405
    assert browser.post(url).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    # And the page's own form, with its CSRF token, revokes it
    html = browser.get(PAGE).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert csrf
    assert browser.post(url, {"csrfmiddlewaretoken": csrf.group(1)}).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.parametrize("who", ["sales_manager", "superuser"])
def test_anothers_token_answers_404_and_stays_working(client, org, who):
    # Given Customer Service's agent's token, and Sales' manager or a superuser signed in
    created = token_create(user=org.service_agent, name="Phone system")
    user = org.sales_manager
    if who == "superuser":
        user.is_superuser = user.is_staff = True
        user.save()
    client.force_login(user)
    # When they post to its revoke address, or to one of a token that does not exist
    response = client.post(f"/account/tokens/{created.token.pk}/revoke/")
    missing = client.post("/account/tokens/999999/revoke/")
    # Then both answer 404 alike (a superuser revokes others' tokens in the admin)
    assert response.status_code == missing.status_code == 404
    created.token.refresh_from_db()
    assert created.token.revoked_at is None
    assert Client().get("/api/scorecards", **_bearer(created.key)).status_code == 200


def test_anonymous_is_sent_to_sign_in_and_nothing_is_created_or_revoked(client, org):
    # Given a token of Sales' manager, and nobody signed in
    token = token_create(user=org.sales_manager, name="ERP sync").token
    # When the page is opened, a token asked for and the token revoked
    responses = [
        client.get(PAGE),
        client.post(PAGE, {"name": "Mine now", "days": "30"}),
        client.post(f"/account/tokens/{token.pk}/revoke/"),
    ]
    # Then each is sent to sign in, and nothing changed
    for response in responses:
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert list(ApiToken.objects.values_list("name", "revoked_at")) == [("ERP sync", None)]


def test_a_typed_name_is_text_and_the_page_keeps_the_strict_policy(client, org):
    # Given Sales' manager
    client.force_login(org.sales_manager)
    payload = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    # When they name a token with markup, and open the page again
    created = client.post(PAGE, {"name": payload, "days": "7"})
    listing = client.get(PAGE)
    # Then the name is shown as text on both, never as markup
    for response in (created, listing):
        html = response.content.decode()
        assert payload not in html and "<script>alert" not in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
        # And the page has no inline script, handler or style, and scripts carry the nonce
        markup = Markup()
        markup.feed(html)
        assert markup.inline_scripts == markup.handlers == markup.styles == []
        nonce = re.search(r"'nonce-([\w-]+)'", response["Content-Security-Policy"])
        assert nonce and set(markup.script_nonces) == {nonce.group(1)}
    assert ApiToken.objects.get().name == payload


def test_the_header_links_to_the_tokens_page_for_those_signed_in(client, org):
    # Given Field Sales' agent signed in, when any page is opened
    client.force_login(org.field_agent)
    html = client.get("/").content.decode()
    # Then the header links to their tokens page, which answers them
    assert f'href="{PAGE}"' in html
    assert client.get(PAGE).status_code == 200
