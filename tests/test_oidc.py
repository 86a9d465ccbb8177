"""Single sign-on with OpenID Connect, through a real OpenID provider (oidc-provider-mock, run
in a thread): discovery, the redirect to the provider, the code exchanged for tokens, the ID
token's signature checked against the provider's keys, userinfo read; groups mapped to a
level and departments at every sign-in; local accounts alongside."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from oidc_provider_mock import run_server_in_thread

from crm_scorecard.accounts import oidc
from crm_scorecard.accounts.models import Level, SignInIdentity, User
from crm_scorecard.scorecards.models import Scorecard
from crm_scorecard.settings.env import env_group_map

from .factories import UserFactory
from .test_deploy import COMMAND, _production_env

GROUP_MAP = (
    "crm-sales-managers=manager:Sales, crm-service-agents=agent:Customer Service,"
    "crm-board=executive:, crm-lost=manager:Nowhere"
)
BACKEND = "crm_scorecard.accounts.oidc.SignInBackend"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def sso(settings, provider, monkeypatch):
    """Single sign-on set up as the environment would set it (the map parsed from text)."""
    monkeypatch.setenv("OIDC_GROUP_MAP", GROUP_MAP)
    settings.OIDC_ISSUER = provider
    settings.OIDC_RP_CLIENT_ID = "crm-scorecard"
    settings.OIDC_RP_CLIENT_SECRET = "client-secret-for-tests"
    settings.OIDC_PROVIDER_NAME = "Acme ID"
    settings.OIDC_GROUP_MAP = env_group_map("OIDC_GROUP_MAP")
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BACKEND]
    oidc._discovered.clear()
    return provider


@pytest.fixture
def cards(org):
    return {
        "sales": Scorecard.objects.create(department=org.sales, name="Sales card"),
        "service": Scorecard.objects.create(department=org.service, name="Service card"),
    }


def person(provider: str, sub: str, **claims: object) -> None:
    """The provider's directory entry for `sub`."""
    answer = requests.put(f"{provider}/users/{sub}", json=claims, timeout=10)
    assert answer.status_code == 204, answer.text


def sign_in(client, provider: str, sub: str, next: str = "/", action: str = ""):
    """A browser's sign-in: to our start, to the provider (where `sub` authorizes, or denies
    with action="deny"), back to our callback. Returns the callback's answer."""
    start = client.get("/oidc/authenticate/", {"next": next})
    assert start.status_code == 302, start.content
    authorize = start["Location"]
    assert authorize.startswith(f"{provider}/oauth2/authorize?")
    asked = dict(parse_qsl(urlsplit(authorize).query))
    assert asked["client_id"] == "crm-scorecard" and asked["response_type"] == "code"
    assert {"state", "nonce", "code_challenge"} <= set(asked)
    form = {"action": action} if action else {"sub": sub}
    answer = requests.post(authorize, data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert (back.netloc, back.path) == ("testserver", "/oidc/callback/")
    return client.get(back.path, dict(parse_qsl(back.query)))


def visible_cards(client) -> set[str]:
    response = client.get("/api/scorecards")
    assert response.status_code == 200, response.content
    return {item["name"] for item in response.json()["items"]}


# ---- switched off --------------------------------------------------------------------


@pytest.mark.django_db
def test_without_an_issuer_sign_in_is_as_before(client, settings):
    # Given the settings without OIDC_ISSUER (the default)
    assert settings.OIDC_ISSUER == "" and BACKEND not in settings.AUTHENTICATION_BACKENDS
    # When the sign-in page and the single sign-on start are asked for
    page = client.get("/login/")
    start = client.get("/oidc/authenticate/")
    back = client.get("/oidc/callback/", {"code": "x", "state": "y"})
    # Then the page has the local form only, and single sign-on is not there
    assert page.status_code == 200 and b"Sign in with" not in page.content
    assert b'name="password"' in page.content
    assert (start.status_code, back.status_code) == (404, 404)


# ---- signing in through the provider --------------------------------------------------------


@pytest.mark.django_db
def test_sign_in_page_offers_the_provider_beside_the_local_form(client, sso):
    # Given single sign-on set up with the provider's name
    # When the sign-in page is opened on the way to a page
    page = client.get("/login/", {"next": "/customers/"})
    html = page.content.decode()
    # Then it shows a link (no script, no form: the CSP's form-action stays 'self') to the
    # provider carrying where to go after, and the local form
    assert 'href="/oidc/authenticate/?next=/customers/">Sign in with Acme ID</a>' in html
    assert 'name="password"' in html
    assert "onclick" not in html and "<script>" not in html
    assert "form-action 'self'" in page["Content-Security-Policy"]


@pytest.mark.django_db
def test_a_mapped_person_signs_in_with_their_groups_level_and_departments(client, sso, org, cards):
    # Given Ana at the provider, in the Sales managers' group and one nobody mapped
    person(
        sso,
        "0f6c2a9e-ana",
        email="ana.lopez@example.com",
        preferred_username="ana.lopez",
        given_name="Ana",
        family_name="López",
        groups=["crm-sales-managers", "all-staff"],
    )
    # When she signs in with the provider on her way to the customers page
    done = sign_in(client, sso, "0f6c2a9e-ana", next="/customers/")
    # Then she is sent on, signed in as a new user named after her, a manager of Sales
    assert (done.status_code, done["Location"]) == (302, "/customers/")
    ana = User.objects.get(sign_in_identities__subject="0f6c2a9e-ana")
    assert (ana.username, ana.email, ana.first_name, ana.last_name) == (
        "ana.lopez",
        "ana.lopez@example.com",
        "Ana",
        "López",
    )
    assert ana.level == Level.MANAGER
    assert {d.name for d in ana.departments.all()} == {"Sales"}
    assert not ana.has_usable_password()  # she signs in only through the provider
    assert SignInIdentity.objects.get(user=ana).issuer == sso
    # and sees Sales' scorecards only
    assert visible_cards(client) == {"Sales card"}


@pytest.mark.django_db
def test_an_executive_group_sees_every_department(client, sso, org, cards):
    # Given a board member at the provider
    person(sso, "board-1", email="cfo@example.com", groups=["crm-board"])
    # When they sign in
    sign_in(client, sso, "board-1")
    # Then they are an executive and see every department's scorecards
    assert User.objects.get(username="cfo@example.com").level == Level.EXECUTIVE
    assert visible_cards(client) == {"Sales card", "Service card"}


@pytest.mark.django_db
def test_a_person_in_no_mapped_group_is_refused(client, sso, org, cards):
    # Given someone at the provider in groups nobody mapped
    person(sso, "intruder", email="x@example.com", groups=["marketing"])
    # When they sign in with the provider
    done = sign_in(client, sso, "intruder")
    # Then a page says why, they are not signed in, and no user was made
    assert done.status_code == 403
    assert b"in none of the groups that give access" in done.content
    assert client.get("/api/scorecards").status_code == 401
    assert not User.objects.filter(email="x@example.com").exists()


@pytest.mark.django_db
def test_refused_sign_ins_do_not_lock_others_out_as_wrong_passwords_would(
    client, sso, org, settings
):
    # Given more people refused (in no mapped group) than wrong passwords lock an address
    person(sso, "outsider", groups=["marketing"])
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        assert sign_in(client, sso, "outsider").status_code == 403
    # When someone of a mapped group signs in from the same address
    person(sso, "insider", groups=["crm-sales-managers"])
    done = sign_in(client, sso, "insider")
    # Then they are signed in: the provider throttles its own sign-ins, not this site
    assert done.status_code == 302 and done["Location"] == "/"


@pytest.mark.django_db
def test_a_person_moved_in_the_directory_moves_here_at_the_next_sign_in(client, sso, org, cards):
    # Given Ben signed in once as a Sales manager
    person(sso, "ben", preferred_username="ben", groups=["crm-sales-managers"])
    sign_in(client, sso, "ben")
    ben = User.objects.get(username="ben")
    client.post("/logout/")
    # When the directory moves him to the service agents (and renames him), and he signs in
    person(sso, "ben", preferred_username="benjamin", groups=["crm-service-agents"])
    done = sign_in(client, sso, "ben")
    # Then he is the same user with the same name, now an agent of Customer Service
    assert done.status_code == 302
    again = User.objects.get(sign_in_identities__subject="ben")
    assert (again.pk, again.username, again.level) == (ben.pk, "ben", Level.AGENT)
    assert {d.name for d in again.departments.all()} == {"Customer Service"}
    assert visible_cards(client) == {"Service card"}


@pytest.mark.django_db
def test_a_person_taken_out_of_every_group_is_refused_and_loses_their_scope(
    client, sso, org, cards
):
    # Given Cleo, once signed in as an executive
    person(sso, "cleo", preferred_username="cleo", groups=["crm-board"])
    sign_in(client, sso, "cleo")
    client.post("/logout/")
    # When she is taken out of every mapped group and signs in
    person(sso, "cleo", preferred_username="cleo", groups=[])
    done = sign_in(client, sso, "cleo")
    # Then she is refused, and her account here (and so her API tokens) sees nothing
    assert done.status_code == 403
    cleo = User.objects.get(username="cleo")
    assert (cleo.level, list(cleo.departments.all())) == (Level.AGENT, [])


@pytest.mark.django_db
def test_a_user_switched_off_here_is_refused(client, sso, org):
    # Given Gus, who signed in once, switched off by an administrator
    person(sso, "gus", preferred_username="gus", groups=["crm-sales-managers"])
    sign_in(client, sso, "gus")
    client.post("/logout/")
    User.objects.filter(username="gus").update(is_active=False)
    # When he signs in with the provider
    done = sign_in(client, sso, "gus")
    # Then he is refused with why, and not signed in
    assert done.status_code == 403 and b"switched off" in done.content
    assert client.get("/api/scorecards").status_code == 401


@pytest.mark.django_db
def test_a_group_mapped_to_a_missing_department_is_refused_naming_it(client, sso, org):
    # Given a group mapped to a department this site does not have
    person(sso, "dora", groups=["crm-lost"])
    # When its member signs in
    done = sign_in(client, sso, "dora")
    # Then the page names the department and nobody is signed in or made
    assert done.status_code == 403 and b"the department &#x27;Nowhere&#x27;" in done.content
    assert not SignInIdentity.objects.exists()


@pytest.mark.django_db
def test_refusing_at_the_provider_and_replaying_the_return_are_not_signed_in(client, sso, org):
    # Given a person at the provider
    person(sso, "eve", groups=["crm-sales-managers"])
    # When they press "deny" at the provider
    denied = sign_in(client, sso, "eve", action="deny")
    # Then the page says the provider did not sign them in
    assert denied.status_code == 403
    assert b"did not sign you in (it answered &#x27;access_denied&#x27;)" in denied.content
    # When someone replays a return address already used
    start = client.get("/oidc/authenticate/")
    answer = requests.post(start["Location"], data={"sub": "eve"}, allow_redirects=False)
    back = urlsplit(answer.headers["Location"])
    assert client.get(back.path, dict(parse_qsl(back.query))).status_code == 302
    client.post("/logout/")
    replay = client.get(back.path, dict(parse_qsl(back.query)))
    # Then it signs nobody in
    assert replay.status_code in (400, 403)
    assert client.get("/api/scorecards").status_code == 401


@pytest.mark.django_db
def test_local_accounts_keep_working_and_are_never_taken_over(client, sso, org, cards):
    # Given a local account "frank" with a password, and someone at the provider who
    # calls themself frank
    local = UserFactory(username="frank", level=Level.MANAGER, departments=[org.service])
    local.set_password("a long local password")
    local.save()
    person(sso, "frank-at-idp", preferred_username="frank", groups=["crm-sales-managers"])
    # When the local account signs in with its password
    signed = client.post("/login/", {"username": "frank", "password": "a long local password"})
    # Then it is signed in as before
    assert signed.status_code == 302
    assert visible_cards(client) == {"Service card"}
    client.post("/logout/")
    # When the provider's frank signs in
    sign_in(client, sso, "frank-at-idp")
    # Then they get an account of their own, not the local one
    theirs = User.objects.get(sign_in_identities__subject="frank-at-idp")
    assert theirs.username == "frank-2" and theirs.pk != local.pk
    local.refresh_from_db()
    assert local.level == Level.MANAGER and local.has_usable_password()


# ---- the ID token is checked -----------------------------------------------------------


def _token(key, **claims: object) -> str:
    now = datetime.now(UTC)
    body = {"iss": "https://idp.example.com", "aud": "crm-scorecard", "sub": "s", "exp": now}
    body["exp"] = now + timedelta(minutes=5)
    return jwt.encode({**body, **claims}, key, algorithm="RS256")


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"aud": "another-app"}, "audience"),
        ({"iss": "https://evil.example.com"}, "issuer"),
        ({"exp": datetime.now(UTC) - timedelta(hours=1)}, "expired"),
    ],
)
def test_an_id_token_for_another_site_issuer_or_time_is_refused(settings, claims, why):
    # Given the backend set up for the provider https://idp.example.com and this site
    settings.OIDC_ISSUER = "https://idp.example.com"
    settings.OIDC_RP_CLIENT_ID = "crm-scorecard"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    backend = oidc.SignInBackend()
    good = _token(key)
    assert backend._verify_jws(good, key.public_key())["sub"] == "s"
    # When a token signed by the provider's key but for another audience, issuer or time
    # is checked
    # Then it is refused
    with pytest.raises(SuspiciousOperation, match=f"(?i){why}"):
        backend._verify_jws(_token(key, **claims), key.public_key())


def test_an_id_token_signed_with_another_key_is_refused(settings):
    # Given the backend set up for a provider, and a token signed by a key not its own
    settings.OIDC_ISSUER = "https://idp.example.com"
    settings.OIDC_RP_CLIENT_ID = "crm-scorecard"
    theirs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = _token(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    # When it is checked against the provider's key
    # Then it is refused
    with pytest.raises(SuspiciousOperation, match=r"(?i)signature"):
        oidc.SignInBackend()._verify_jws(forged, theirs.public_key())


# ---- settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("crm-sales", "the entry 'crm-sales' is not GROUP=LEVEL:DEPARTMENTS"),
        ("a=manager:Sales,crm-x=boss:Sales", "the entry 'crm-x=boss:Sales': 'boss' is not a level"),
        ("crm-x=manager:", "'crm-x=manager:': a manager needs at least one department"),
        ("g=agent:Sales,g=manager:Sales", "names the group 'g' a second time"),
    ],
)
def test_a_wrong_group_map_names_the_entry(monkeypatch, value, message):
    # Given a group map with one wrong entry
    monkeypatch.setenv("OIDC_GROUP_MAP", value)
    # When it is read
    # Then reading stops naming the variable and the entry
    with pytest.raises(ImproperlyConfigured, match=f"OIDC_GROUP_MAP: .*{message[:30]}"):
        env_group_map("OIDC_GROUP_MAP")


def test_a_group_map_gives_levels_and_departments(monkeypatch):
    # Given a map with several departments for one group (names with spaces), in the
    # quotes a file may keep on it
    monkeypatch.setenv("OIDC_GROUP_MAP", '"a=Manager:Sales|Field Sales , b=executive:"')
    # When it is read and a person in both groups is mapped
    mapping = env_group_map("OIDC_GROUP_MAP")
    grant = oidc.grant_for(["b", "a", "x"], mapping)
    # Then the highest level and every department count
    assert mapping == {"a": ("manager", ("Sales", "Field Sales")), "b": ("executive", ())}
    assert grant is not None
    assert (grant.level, grant.departments) == (Level.EXECUTIVE, ("Sales", "Field Sales"))
    assert oidc.grant_for(["x"], mapping) is None


def _settings_of(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps([settings.OIDC_ISSUER, settings.AUTHENTICATION_BACKENDS]))"
    )
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


OIDC_ENV = {
    "OIDC_ISSUER": "https://login.example.com/realms/acme/",
    "OIDC_CLIENT_ID": "crm-scorecard",
    "OIDC_CLIENT_SECRET": "secret",
    "OIDC_GROUP_MAP": "crm-board=executive:",
}


def test_production_settings_turn_single_sign_on_on_from_the_environment():
    # Given the production environment with the provider's settings
    # When the settings are read
    done = _settings_of(_production_env(**OIDC_ENV))
    # Then the issuer is kept (without its slash) and the provider's backend comes after
    # the local accounts'
    assert done.returncode == 0, done.stderr
    issuer, backends = json.loads(done.stdout)
    assert issuer == "https://login.example.com/realms/acme"
    assert backends[-2:] == ["django.contrib.auth.backends.ModelBackend", BACKEND]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"OIDC_CLIENT_SECRET": None}, "needs OIDC_CLIENT_SECRET too"),
        ({"OIDC_GROUP_MAP": None}, "needs OIDC_GROUP_MAP too"),
        ({"OIDC_ISSUER": "http://login.example.com"}, "OIDC_ISSUER='http://login.example.com'"),
        ({"OIDC_GROUP_MAP": "crm-x=manager"}, "the entry 'crm-x=manager'"),
    ],
)
def test_a_half_set_up_single_sign_on_stops_the_start_naming_what_is_missing(changes, message):
    # Given the provider's settings with one missing or wrong
    env = _production_env(**{**OIDC_ENV, **changes})
    # When the settings are read
    done = _settings_of(env)
    # Then the start stops, naming it
    assert done.returncode != 0 and message in done.stderr, done.stderr


def test_check_deploy_stays_clean_with_single_sign_on():
    # Given the production environment with single sign-on set up
    env = _production_env(**OIDC_ENV)
    # When Django's deployment check runs, failing on any warning
    done = subprocess.run(
        [COMMAND, "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    # Then it finds nothing
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.django_db
def test_the_admin_shows_who_a_user_is_at_the_provider(client, org):
    # Given a user made by single sign-on, and an administrator
    SignInIdentity.objects.create(
        user=org.sales_manager, issuer="https://idp.example.com", subject="0f6c-sub"
    )
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    # When the administrator opens the user
    page = client.get(f"/admin/accounts/user/{org.sales_manager.pk}/change/")
    # Then the provider and the person's id there are shown
    assert page.status_code == 200
    assert b"0f6c-sub" in page.content and b"https://idp.example.com" in page.content
