"""Every alerts page and API operation, walked as each kind of caller: nobody signed in,
another department's manager, a person of the department below, the department's analyst
and its manager. A person sees only their own digests and only about what they can see;
following something one cannot see answers like something that does not exist, and a
refused request changes nothing."""

from __future__ import annotations

from datetime import date

import pytest

from crm_scorecard.accounts.services import token_create
from crm_scorecard.alerts.models import Digest, Subscription
from crm_scorecard.alerts.services import alerts_check
from crm_scorecard.periods import month_of
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator
from crm_scorecard.scorecards.services import manual_value_set, scorecard_import

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
                        {"name": "Survey", "baseline": 1, "target": 5, "owner": "sales-analyst"}
                    ],
                }
            ],
        }
    ],
}
# Following Sales' indicator: hidden from other departments and the one below Sales
FOLLOW = {
    "anonymous": 401,
    "service_manager": 404,
    "field_agent": 404,
    "sales_analyst": 200,
    "sales_manager": 200,
}


@pytest.fixture
def red(org):
    """Sales' indicator turned red and reported: digests for Sales' manager and the owner."""
    card = scorecard_import(card=files.parse(CARD), department=org.sales)
    indicator = Indicator.objects.get(goal__perspective__scorecard=card)
    manual_value_set(indicator=indicator, period=month_of(date.today()), value=2)
    alerts_check()
    return indicator


def _sign_in(client, org, caller: str, by: str = "session") -> dict[str, str]:
    if caller == "anonymous":
        return {}
    user = getattr(org, caller)
    if by == "session":
        client.force_login(user)
        return {}
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='walk').key}"}


# ---- pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
def test_alerts_page_shows_ones_own_digests_only(client, org, red, caller):
    # Given digests for Sales' manager and analyst
    _sign_in(client, org, caller)
    # When the caller opens the alerts page
    response = client.get("/alerts/")
    # Then anonymous is sent to sign in; others see their own digests only
    if caller == "anonymous":
        assert response.status_code == 302 and "/login" in response["Location"]
        return
    assert response.status_code == 200
    text = response.content.decode()
    assert ("turned red" in text) == (caller in ("sales_manager", "sales_analyst"))
    assert ("Keep</strong></a> turned red" in text) == (caller == "sales_manager")


@pytest.mark.parametrize("caller", CALLERS)
def test_the_bell_counts_ones_own_unread_digests(client, org, red, caller):
    # Given one unread digest each for Sales' manager and analyst
    if caller == "anonymous":
        return  # no header for nobody: covered by the page test above
    _sign_in(client, org, caller)
    # When the caller opens any page
    text = client.get("/alerts/").content.decode()
    # Then the bell shows their own unread count
    unread = 1 if caller in ("sales_manager", "sales_analyst") else 0
    assert f'aria-label="Alerts: {unread} unread"' in text


@pytest.mark.parametrize("caller", CALLERS)
def test_marking_a_digest_read_only_ones_own(client, org, red, caller):
    # Given Sales' manager's unread digest
    digest = Digest.objects.get(user=org.sales_manager)
    _sign_in(client, org, caller)
    # When the caller marks it read
    response = client.post(f"/alerts/{digest.pk}/read/")
    # Then only its owner can; anyone else gets 404 (or sign-in) and it stays unread
    digest.refresh_from_db()
    if caller == "sales_manager":
        assert response.status_code == 302 and digest.read_at is not None
    else:
        assert response.status_code == (302 if caller == "anonymous" else 404)
        assert digest.read_at is None


def test_mark_all_read_touches_only_ones_own(client, org, red):
    # Given unread digests for Sales' manager and analyst
    client.force_login(org.sales_analyst)
    # When the analyst marks all read
    client.post("/alerts/read/")
    # Then the manager's stays unread
    assert Digest.objects.get(user=org.sales_manager).read_at is None
    assert Digest.objects.get(user=org.sales_analyst).read_at is not None


@pytest.mark.parametrize("caller", CALLERS)
def test_following_on_the_page_is_scoped(client, org, red, caller):
    # Given Sales' indicator
    _sign_in(client, org, caller)
    # When the caller follows it
    response = client.post("/alerts/follow/", {"subject": f"indicator:{red.pk}", "follow": "1"})
    # Then only those who see Sales can; others get 404 (or sign-in) and nothing is written
    sees = FOLLOW[caller] == 200
    assert response.status_code == (302 if sees or caller == "anonymous" else 404)
    assert Subscription.objects.filter(indicator=red).exists() == sees


def test_the_follow_list_offers_only_what_one_can_see(client, org, red):
    # Given Sales' card; When Customer Service's manager opens the alerts page
    client.force_login(org.service_manager)
    text = client.get("/alerts/").content.decode()
    # Then Sales' card is not offered
    assert "Access card" not in text and f"indicator:{red.pk}" not in text


# ---- API ------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("caller", CALLERS)
def test_api_alerts_list(client, org, red, caller, by):
    # Given digests for Sales' manager and analyst
    headers = _sign_in(client, org, caller, by)
    # When the caller lists their alerts
    response = client.get("/api/alerts", **headers)
    # Then each sees their own, nobody's else
    if caller == "anonymous":
        assert response.status_code == 401
        return
    body = response.json()
    assert response.status_code == 200
    expected = {"sales_manager": [["goal", "indicator"]], "sales_analyst": [["indicator"]]}
    assert [[i["subject_type"] for i in d["items"]] for d in body["items"]] == expected.get(
        caller, []
    )
    assert body["unread"] == len(expected.get(caller, []))


@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("caller", CALLERS)
def test_api_mark_read(client, org, red, caller, by):
    # Given Sales' manager's digest
    digest = Digest.objects.get(user=org.sales_manager)
    headers = _sign_in(client, org, caller, by)
    # When the caller marks it read
    response = client.post(f"/api/alerts/{digest.pk}/read", **headers)
    # Then only its owner can
    digest.refresh_from_db()
    expected = {"anonymous": 401, "sales_manager": 200}.get(caller, 404)
    assert response.status_code == expected
    assert (digest.read_at is not None) == (caller == "sales_manager")


@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("caller", CALLERS)
def test_api_mark_all_read(client, org, red, caller, by):
    # Given unread digests for Sales' manager and analyst
    headers = _sign_in(client, org, caller, by)
    # When the caller marks all theirs read
    response = client.post("/api/alerts/read", **headers)
    # Then only their own change
    if caller == "anonymous":
        assert response.status_code == 401
    else:
        mine = 1 if caller in ("sales_manager", "sales_analyst") else 0
        assert response.json() == {"marked": mine}
    still_unread = {"sales_manager", "sales_analyst"} - {caller}
    assert {d.user.username for d in Digest.objects.filter(read_at__isnull=True)} == {
        getattr(org, c).username for c in still_unread
    }


@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("caller", CALLERS)
def test_api_subscribe(client, org, red, caller, by):
    # Given Sales' indicator
    headers = _sign_in(client, org, caller, by)
    # When the caller follows it
    response = client.put(
        "/api/alerts/subscriptions",
        {"subject": "indicator", "id": red.pk, "follow": True},
        content_type="application/json",
        **headers,
    )
    # Then only those who see Sales can; nothing is written for the others
    assert response.status_code == FOLLOW[caller]
    assert Subscription.objects.filter(indicator=red).exists() == (FOLLOW[caller] == 200)
    if FOLLOW[caller] == 200:
        assert response.json()["name"] == "Survey"


@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("caller", CALLERS)
def test_api_subscriptions_list(client, org, red, caller, by):
    # Given the executive following Sales' indicator, and Sales' manager following its
    # scorecard by default
    Subscription.objects.create(user=org.executive, indicator=red)
    headers = _sign_in(client, org, caller, by)
    # When the caller lists what they follow
    response = client.get("/api/alerts/subscriptions", **headers)
    # Then each sees their own only
    if caller == "anonymous":
        assert response.status_code == 401
        return
    names = [(f["subject"], f["name"], f["default"]) for f in response.json()]
    assert names == ([("scorecard", "Access card", True)] if caller == "sales_manager" else [])
