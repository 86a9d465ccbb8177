"""Personal API tokens: shown once, stored hashed, with an expiry; a script sending one acts as
its user (their departments, their rights); revoked, expired or unknown tokens answer 401."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from crm_scorecard.accounts.models import ApiToken
from crm_scorecard.accounts.services import (
    TOKEN_DAYS,
    token_create,
    token_get,
    token_revoke,
    token_user,
    tokens_of,
)
from crm_scorecard.errors import Invalid, NotFound
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator, ManualValue
from crm_scorecard.scorecards.services import scorecard_import

pytestmark = pytest.mark.django_db


def _card(name: str) -> dict:
    return {
        "name": name,
        "perspectives": [
            {
                "name": "Customer",
                "goals": [
                    {
                        "name": "Keep customers",
                        "indicators": [
                            {"name": "Survey", "values": {"2026-01": 3}, "baseline": 1, "target": 5}
                        ],
                    }
                ],
            }
        ],
    }


@pytest.fixture
def cards(org):
    return {
        "sales": scorecard_import(card=files.parse(_card("Sales card")), department=org.sales),
        "service": scorecard_import(
            card=files.parse(_card("Service card")), department=org.service
        ),
    }


def _bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


# ---- the services --------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_stored_hashed(org):
    # Given Sales' manager
    before = timezone.now()
    # When they create a token for their ERP
    created = token_create(user=org.sales_manager, name="  ERP sync ")
    # Then the key is long and marked, and only its SHA-256 is stored, with its first characters
    token = ApiToken.objects.get()
    assert created.key.startswith("crm_") and len(created.key) >= 4 + 43
    assert token.key_hash == hashlib.sha256(created.key.encode()).hexdigest()
    assert created.key not in {token.key_hash, token.prefix, token.name}
    assert created.key.startswith(token.prefix) and len(token.prefix) == 10
    # And it is named as typed (trimmed), unused, and works for 90 days
    assert (token.name, token.user, token.last_used_at, token.revoked_at) == (
        "ERP sync",
        org.sales_manager,
        None,
        None,
    )
    assert TOKEN_DAYS == 90
    assert before + timedelta(days=90) <= token.expires_at <= timezone.now() + timedelta(days=90)
    # And each token gets its own key
    assert token_create(user=org.sales_manager, name="BI").key != created.key


def test_a_token_needs_a_name_and_a_lifetime_within_the_sites_limit(org, settings):
    # Given a site whose tokens work for at most 30 days
    settings.API_TOKEN_MAX_DAYS = 30
    # When tokens are asked for with no name, a name with a new line, 0 days and 31 days
    # Then each is refused naming the field and why, and none is stored
    with pytest.raises(Invalid, match="name: say what the token is for"):
        token_create(user=org.sales_manager, name="  ")
    with pytest.raises(Invalid, match="name: cannot contain control characters"):
        token_create(user=org.sales_manager, name="ERP\nsync")
    with pytest.raises(Invalid, match="days: a token works for 1 to 30 days, not 0"):
        token_create(user=org.sales_manager, name="ERP", days=0)
    with pytest.raises(Invalid, match="days: a token works for 1 to 30 days, not 31"):
        token_create(user=org.sales_manager, name="ERP", days=31)
    assert not ApiToken.objects.exists()
    # And 30 days is allowed
    token = token_create(user=org.sales_manager, name="ERP", days=30).token
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)


def test_a_person_finds_and_revokes_only_their_own_tokens(org):
    # Given a token of Sales' manager and one of Customer Service's agent
    own = token_create(user=org.sales_manager, name="ERP").token
    other = token_create(user=org.service_agent, name="Phone system").token
    # When Sales' manager lists theirs and looks up the other one
    # Then only theirs is listed, and the other answers like one that does not exist
    assert list(tokens_of(user=org.sales_manager)) == [own]
    assert token_get(user=org.sales_manager, pk=own.pk) == own
    with pytest.raises(NotFound, match="No such token"):
        token_get(user=org.sales_manager, pk=other.pk)
    # And revoking theirs twice keeps the first revocation's time
    first = token_revoke(token=own).revoked_at
    assert first is not None and token_revoke(token=own).revoked_at == first


def test_last_use_is_noted_at_most_once_a_minute(org):
    # Given a token never used
    created = token_create(user=org.sales_manager, name="ERP")
    # When it signs in twice in a row
    assert token_user(key=created.key) == org.sales_manager
    first = ApiToken.objects.get().last_used_at
    token_user(key=created.key)
    # Then its last use is noted once; a use a minute later notes again
    assert first is not None and ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - timedelta(seconds=61))
    token_user(key=created.key)
    assert ApiToken.objects.get().last_used_at > first - timedelta(seconds=61)


# ---- the API -------------------------------------------------------------------------------


def test_a_token_reads_exactly_what_its_user_may_see(client, org, cards):
    # Given a token of Sales' manager
    key = token_create(user=org.sales_manager, name="ERP").key
    # When a script lists the scorecards and reads each one with it
    listed = client.get("/api/scorecards", **_bearer(key))
    own = client.get(f"/api/scorecards/{cards['sales'].pk}", **_bearer(key))
    other = client.get(f"/api/scorecards/{cards['service'].pk}", **_bearer(key))
    # Then it sees Sales' scorecard and not Customer Service's, as its user would
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()["items"]] == ["Sales card"]
    assert own.status_code == 200 and own.json()["name"] == "Sales card"
    assert other.status_code == 404
    # And no session was opened by it
    assert "sessionid" not in listed.cookies


def test_a_token_writes_as_its_user_without_a_csrf_token(org, cards):
    # Given a client that enforces CSRF like a browser, and tokens of Sales' manager and analyst
    client = Client(enforce_csrf_checks=True)
    indicator = Indicator.objects.get(goal__perspective__scorecard=cards["sales"])
    manager = token_create(user=org.sales_manager, name="ERP").key
    analyst = token_create(user=org.sales_analyst, name="BI").key
    url = f"/api/indicators/{indicator.pk}/values/2026-02"
    # When each enters February's value with their token
    by_manager = client.put(url, {"value": 4}, content_type="application/json", **_bearer(manager))
    by_analyst = client.put(url, {"value": 1}, content_type="application/json", **_bearer(analyst))
    # Then the manager's is stored and the analyst is refused as they would be in the app
    assert by_manager.status_code == 200
    assert by_analyst.status_code == 403
    assert list(ManualValue.objects.filter(indicator=indicator).values_list("value", flat=True))[
        -1:
    ] == [4]
    assert ManualValue.objects.filter(indicator=indicator, value=1).count() == 0


def test_a_session_still_needs_its_csrf_token_to_write(org, cards):
    # Given Sales' manager signed in with a browser session, which enforces CSRF
    client = Client(enforce_csrf_checks=True)
    client.force_login(org.sales_manager)
    indicator = Indicator.objects.get(goal__perspective__scorecard=cards["sales"])
    # When a value is sent without the CSRF token
    response = client.put(
        f"/api/indicators/{indicator.pk}/values/2026-02",
        {"value": 4},
        content_type="application/json",
    )
    # Then it is refused and nothing is written
    assert response.status_code == 403
    assert not ManualValue.objects.filter(indicator=indicator, value=4).exists()


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("revoked", "This API token has been revoked."),
        ("expired", "This API token has expired."),
        ("inactive", "This API token's user is inactive."),
        ("unknown", "Unknown API token."),
    ],
)
def test_a_token_that_does_not_sign_in_answers_401_with_why(client, org, cards, state, reason):
    # Given a token of Sales' manager, made unusable in one way
    created = token_create(user=org.sales_manager, name="ERP")
    key = created.key
    if state == "revoked":
        token_revoke(token=created.token)
    elif state == "expired":
        ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "inactive":
        org.sales_manager.is_active = False
        org.sales_manager.save()
    else:
        key = key[:-1] + ("A" if key[-1] != "A" else "B")
    # When a script reads the scorecards with it, even while a session is signed in
    client.force_login(org.executive)
    response = client.get("/api/scorecards", **_bearer(key))
    # Then it is refused with 401 and why, asking for a bearer token
    assert response.status_code == 401
    assert response.json() == {"detail": reason}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_without_a_token_or_session_the_api_answers_401(client, cards):
    # Given no session and no token
    # When the scorecards are read
    response = client.get("/api/scorecards")
    # Then the answer is 401
    assert response.status_code == 401 and response.json() == {"detail": "Unauthorized"}


# ---- the command ---------------------------------------------------------------------------


def _tokens(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("tokens", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_creates_lists_and_revokes_tokens(client, org, cards):
    # Given Sales' manager
    # When an operator creates a 7-day token for them
    out, err = _tokens("create", "--user", "sales-manager", "--days", "7", "--name", "ERP")
    key = out.strip()
    token = ApiToken.objects.get()
    # Then the key alone is printed, once, and works as the manager
    assert key.startswith("crm_") and "\n" not in key and key not in err
    assert f"token {token.pk} 'ERP' for sales-manager" in err and "shown only this once" in err
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert client.get("/api/scorecards", **_bearer(key)).status_code == 200
    # And the list shows it active, by its first characters and never its key
    listing, _ = _tokens("list", "--user", "sales-manager")
    assert "active" in listing and token.prefix in listing and key not in listing
    # When it is revoked
    revoked, _ = _tokens("revoke", str(token.pk))
    # Then it says so, the token no longer signs in and the list shows it revoked
    assert revoked.strip() == f"revoked token {token.pk} 'ERP' of sales-manager"
    assert client.get("/api/scorecards", **_bearer(key)).status_code == 401
    assert "revoked" in _tokens("list")[0]


def test_the_command_names_what_it_refuses(org):
    # Given no user "nobody" and no token 999
    # When the operator asks for them, or for a token of 1,000 days
    # Then each refusal names the option and why
    with pytest.raises(CommandError, match="--user: no user named 'nobody'"):
        _tokens("create", "--user", "nobody")
    with pytest.raises(CommandError, match="no token with id 999"):
        _tokens("revoke", "999")
    with pytest.raises(CommandError, match="days: a token works for 1 to 365 days, not 1000"):
        _tokens("create", "--user", "sales-manager", "--days", "1000")
    assert not ApiToken.objects.exists()


def test_the_admin_lists_tokens_and_revokes_them_without_showing_keys(client, org):
    # Given a superuser and a token of Sales' manager
    from crm_scorecard.accounts.models import Level, User

    admin_user = User.objects.create_superuser("root", "root@example.com", "x-Long-pass-9")
    admin_user.level = Level.EXECUTIVE
    admin_user.save()
    created = token_create(user=org.sales_manager, name="ERP")
    client.force_login(admin_user)
    # When the superuser opens the token list and revokes the token there
    page = client.get("/admin/accounts/apitoken/")
    done = client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [created.token.pk]},
    )
    # Then the list named the token without its key or hash, and the token is revoked
    assert page.status_code == 200 and "ERP" in page.content.decode()
    assert created.key not in page.content.decode()
    assert created.token.key_hash not in page.content.decode()
    assert done.status_code == 302
    assert ApiToken.objects.get().revoked_at is not None
    assert client.get("/admin/accounts/apitoken/add/").status_code == 403
