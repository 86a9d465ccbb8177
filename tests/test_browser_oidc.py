"""Single sign-on in a real browser (Debian's chromium driven by Playwright), against a real
OpenID provider run in a thread: the sign-in page's button, the provider's page, back
signed in with the mapped department; someone in no mapped group sees why they are not
signed in. No page breaks the Content-Security-Policy. Screenshots under test-artifacts/."""

from __future__ import annotations

import pytest
import requests
from oidc_provider_mock import run_server_in_thread

from crm_scorecard.accounts import oidc
from crm_scorecard.accounts.models import Level, User
from crm_scorecard.scorecards.models import Scorecard
from crm_scorecard.settings.env import env_group_map

from .browser import ARTIFACTS
from .factories import DepartmentFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def provider(settings, monkeypatch):
    with run_server_in_thread() as server:
        issuer = f"http://localhost:{server.server_port}"
        monkeypatch.setenv("OIDC_GROUP_MAP", "crm-sales-managers=manager:Sales")
        settings.OIDC_ISSUER = issuer
        settings.OIDC_RP_CLIENT_ID = "crm-scorecard"
        settings.OIDC_RP_CLIENT_SECRET = "client-secret-for-tests"
        settings.OIDC_PROVIDER_NAME = "Acme ID"
        settings.OIDC_GROUP_MAP = env_group_map("OIDC_GROUP_MAP")
        settings.AUTHENTICATION_BACKENDS = [
            *settings.AUTHENTICATION_BACKENDS,
            "crm_scorecard.accounts.oidc.SignInBackend",
        ]
        oidc._discovered.clear()
        yield issuer


def _through_the_provider(page, live_server, sub: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Sign in with Acme ID").click()
    page.locator("#subject-input").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_load_state()


def test_a_person_signs_in_with_the_provider_in_a_browser(live_server, browser_page, provider):
    # Given Sales with a scorecard, Service with another, and Ana at the provider in the
    # Sales managers' group
    sales = DepartmentFactory(name="Sales")
    Scorecard.objects.create(department=sales, name="Sales card")
    Scorecard.objects.create(department=DepartmentFactory(name="Service"), name="Service card")
    claims = {"preferred_username": "ana", "email": "ana@example.com"}
    requests.put(
        f"{provider}/users/ana-sub", json={**claims, "groups": ["crm-sales-managers"]}, timeout=5
    )
    page = browser_page
    # When she opens the sign-in page
    page.goto(f"{live_server.url}/login/")
    page.screenshot(path=str(ARTIFACTS / "oidc-login.png"), full_page=True)
    # Then it offers the provider beside the local form
    assert page.get_by_role("link", name="Sign in with Acme ID").is_visible()
    assert page.locator("input[name=password]").is_visible()
    # When she signs in through the provider
    _through_the_provider(page, live_server, "ana-sub")
    # Then she is back, signed in as a Sales manager, seeing Sales' scorecard only
    page.wait_for_url(f"{live_server.url}/")
    page.screenshot(path=str(ARTIFACTS / "oidc-signed-in.png"), full_page=True)
    assert "ana · Manager" in page.locator("header").inner_text()
    main = page.locator("main").inner_text()
    assert "Sales card" in main and "Service card" not in main
    assert User.objects.get(username="ana").level == Level.MANAGER


def test_a_person_in_no_mapped_group_sees_why_in_a_browser(live_server, browser_page, provider):
    # Given someone at the provider in no group the site maps
    requests.put(f"{provider}/users/zed", json={"groups": ["marketing"]}, timeout=5)
    page = browser_page
    # When they sign in through the provider
    _through_the_provider(page, live_server, "zed")
    # Then a page says why, and they are not signed in
    page.screenshot(path=str(ARTIFACTS / "oidc-refused.png"), full_page=True)
    assert "in none of the groups that give access" in page.locator("main").inner_text()
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/login/")
