"""Signing in: repeated wrong passwords lock that username out from that address for a
while (django-axes); passwords like the username, all digits or short are refused; the
demo refuses to add its well-known logins where they would open real data."""

from __future__ import annotations

import importlib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm_scorecard.accounts.guards import demo_allowed, demo_guard
from crm_scorecard.accounts.models import Level, User

from .factories import UserFactory

pytestmark = pytest.mark.django_db

DEMO_USERS = ["ceo", "sales-manager", "sales-agent"]


def sign_in(client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in_as(client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return None if user_id is None else User.objects.get(pk=user_id).username


def person(username: str, password: str) -> User:
    user = UserFactory(username=username, level=Level.EXECUTIVE)
    user.set_password(password)
    user.save()
    return user


def test_six_wrong_passwords_lock_out_that_username_even_with_the_right_password(client):
    # Given a person who signs in with a good password
    person("alice", "correct horse battery")
    # When six wrong passwords are tried for her username from one address
    for _ in range(6):
        sign_in(client, "alice", "wrong password")
    # Then the right password is refused too, with a page that says why
    response = sign_in(client, "alice", "correct horse battery")
    assert response.status_code == 429
    assert signed_in_as(client) is None
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert "locked for 15 minutes" in page


def test_a_lockout_holds_only_that_username_from_that_address(client):
    # Given alice locked out from 127.0.0.1 after five wrong passwords, and bob
    person("alice", "correct horse battery")
    person("bob", "another fine password")
    for _ in range(5):
        sign_in(client, "alice", "wrong password")
    assert sign_in(client, "alice", "correct horse battery").status_code == 429
    # When bob signs in from the same address
    response = sign_in(client, "bob", "another fine password")
    # Then he is in
    assert response.status_code == 302
    assert signed_in_as(client) == "bob"
    # And alice, from another address, is in too
    client.logout()
    assert sign_in(client, "alice", "correct horse battery", address="10.0.0.9").status_code == 302
    assert signed_in_as(client) == "alice"


def test_a_success_before_the_limit_clears_the_count(client):
    # Given four wrong passwords, then the right one
    person("alice", "correct horse battery")
    for _ in range(4):
        sign_in(client, "alice", "wrong password")
    assert sign_in(client, "alice", "correct horse battery").status_code == 302
    client.logout()
    # When four more wrong passwords follow
    for _ in range(4):
        sign_in(client, "alice", "wrong password")
    # Then she can still sign in: the count started again at her success
    assert sign_in(client, "alice", "correct horse battery").status_code == 302


def createuser(username: str, password: str) -> None:
    call_command("createuser", username, "--level", "executive", "--password", password)


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("dana", "9071532846", "This password is entirely numeric."),
        ("margaret.hale", "margaret.hale", "The password is too similar to the username."),
        ("margaret.hale", "Hale.Margaret", "The password is too similar to the username."),
        ("eve", "T7#kq!zw9", "This password is too short. It must contain at least 10 characters."),
    ],
)
def test_createuser_refuses_weak_passwords_with_the_rule_broken(username, password, message):
    # Given no such user
    # When one is created with a password that breaks a rule
    with pytest.raises(CommandError) as refused:
        createuser(username, password)
    # Then the command says which rule, and nobody was added
    assert message in str(refused.value)
    assert not User.objects.filter(username=username).exists()


def test_createuser_accepts_a_long_unrelated_password(capsys):
    # Given no such user
    # When one is created with a long password unlike the username
    createuser("dana", "plum orchard at dusk")
    # Then she can sign in with it
    assert User.objects.get(username="dana").check_password("plum orchard at dusk")


def test_demo_is_refused_on_a_database_with_real_users():
    # Given a database holding the demo's users and one real person
    for name in DEMO_USERS:
        UserFactory(username=name)
    UserFactory(username="jane.real")
    # When the demo asks whether it may add its users
    reason = demo_allowed(demo_usernames=DEMO_USERS)
    # Then it may not, and is told which users are in the way and what to do
    assert reason is not None
    assert "jane.real" in reason
    assert "database of its own" in reason


@pytest.mark.parametrize("existing", [[], DEMO_USERS])
def test_demo_is_allowed_on_an_empty_or_demo_database(existing):
    # Given a database with no users, or only the demo's own
    for name in existing:
        UserFactory(username=name)
    # When the demo asks, then it may go ahead
    assert demo_allowed(demo_usernames=DEMO_USERS) is None


def test_demo_is_refused_under_production_settings(settings, monkeypatch):
    # Given the production settings module
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    production = importlib.import_module("crm_scorecard.settings.production")
    settings.DEMO_ALLOWED = production.DEMO_ALLOWED
    settings.SETTINGS_MODULE = "crm_scorecard.settings.production"
    # When the demo asks on an empty database
    reason = demo_allowed(demo_usernames=DEMO_USERS)
    # Then it is refused, naming the settings
    assert reason is not None
    assert "crm_scorecard.settings.production" in reason


def test_demo_guard_stops_the_command_with_the_reason():
    # Given a database with a real person
    UserFactory(username="jane.real")
    # When the demo command's guard runs, then it stops the command with the reason
    with pytest.raises(CommandError, match=r"jane\.real"):
        demo_guard(demo_usernames=DEMO_USERS)
    # And on a database of the demo's own it lets the command go on
    User.objects.filter(username="jane.real").delete()
    demo_guard(demo_usernames=DEMO_USERS)
