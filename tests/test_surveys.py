"""Rating sheets: a customer answers once through a link that needs no sign-in, and the
answer is Feedback that counts in the KPIs at once; links cannot be reused, outlived,
changed or guessed; employees issue them only for customers they may see; a campaign's
links come out of the command line as a CSV a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from crm_scorecard.accounts.models import Level
from crm_scorecard.crm.models import Feedback, FeedbackSource
from crm_scorecard.surveys import services
from crm_scorecard.surveys.models import RatingLink

from .factories import (
    CustomerFactory,
    DepartmentFactory,
    InteractionFactory,
    OrderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    sales = DepartmentFactory(name="Sales")
    service = DepartmentFactory(name="Service")
    customer = CustomerFactory(external_id="C-1", full_name="Ada Buyer", department=sales)
    other = CustomerFactory(external_id="C-2", full_name="Bo Other", department=service)
    return {
        "sales": sales,
        "service": service,
        "customer": customer,
        "other": other,
        "order": OrderFactory(external_id="O-1", customer=customer),
        "other_order": OrderFactory(external_id="O-2", customer=other),
    }


def sheet_path(token: str) -> str:
    return f"/r/{token}/"


ANSWER = {"rating": "5", "recommend": "9", "comment": "Quick and friendly"}


@pytest.mark.django_db(transaction=True)  # the metrics engine reads over its own connection
def test_answer_becomes_feedback_and_counts_in_csat_at_once(client, shop):
    # Given a link about the customer's order
    issued = services.rating_link_create(customer=shop["customer"], order=shop["order"])
    # When the customer opens it without signing in and answers
    assert client.get(sheet_path(issued.token)).status_code == 200
    response = client.post(sheet_path(issued.token), ANSWER)
    # Then they are thanked, and the answer is Feedback from a rating sheet with their values
    assert response.status_code == 200 and "Thank you" in response.content.decode()
    feedback = Feedback.objects.get()
    assert (feedback.customer, feedback.rating, feedback.recommend, feedback.comment) == (
        shop["customer"],
        5,
        9,
        "Quick and friendly",
    )
    assert feedback.source == FeedbackSource.RATING_SHEET
    link = RatingLink.objects.get()
    assert link.feedback == feedback and link.order == shop["order"] and link.answered_at
    # And it counts in CSAT, average rating and NPS for the month at once
    month = timezone.now().strftime("%Y-%m")
    values = {}
    for key in ("csat", "average_rating", "nps"):
        out = io.StringIO()
        call_command("metrics", "show", key, "--since", month, "--json", stdout=out)
        values[key] = [p["value"] for p in json.loads(out.getvalue())]
    assert values == {"csat": [1.0], "average_rating": [5.0], "nps": [100.0]}


def test_a_link_takes_one_answer(client, shop):
    # Given a link that has been answered
    issued = services.rating_link_create(customer=shop["customer"])
    assert client.post(sheet_path(issued.token), ANSWER).status_code == 200
    # When it is opened and answered again
    opened = client.get(sheet_path(issued.token))
    again = client.post(sheet_path(issued.token), {**ANSWER, "rating": "1"})
    # Then it says it has been answered (410 Gone), and the first answer stands alone
    assert opened.status_code == 410 and "has been answered" in opened.content.decode()
    assert again.status_code == 410
    assert list(Feedback.objects.values_list("rating", flat=True)) == [5]
    # And the service refuses a second answer too
    with pytest.raises(services.SheetClosed):
        services.rating_sheet_answer(token=issued.token, rating=1, recommend=None, comment="")
    assert Feedback.objects.count() == 1


def test_an_expired_link_is_refused(client, shop, settings):
    # Given a link issued 31 days ago, with links open for 30 days
    settings.RATING_LINK_DAYS = 30
    issued = services.rating_link_create(
        customer=shop["customer"], now=timezone.now() - timedelta(days=31)
    )
    # When the customer opens it and answers
    opened = client.get(sheet_path(issued.token))
    answered = client.post(sheet_path(issued.token), ANSWER)
    # Then it says it has expired, and nothing is written
    assert opened.status_code == 410 and "has expired" in opened.content.decode()
    assert answered.status_code == 410
    assert not Feedback.objects.exists()
    assert RatingLink.objects.get().answered_at is None


def flip(token: str, at: int) -> str:
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


def test_changed_or_made_up_tokens_open_nothing(client, shop):
    # Given links for two customers
    mine = services.rating_link_create(customer=shop["customer"])
    theirs = services.rating_link_create(customer=shop["other"])
    # When tokens are changed by one character, or made of the other customer's ids, or guessed
    tries = [
        flip(mine.token, 0),
        flip(mine.token, len(mine.token) - 1),
        flip(theirs.token, 10),
        shop["other"].external_id,
        str(shop["other"].pk),
        str(theirs.link.pk),
        theirs.link.token_hash,  # the stored hash is not the token
        secrets.token_urlsafe(32),
    ]
    for token in tries:
        opened = client.get(sheet_path(token))
        answered = client.post(sheet_path(token), ANSWER)
        # Then each is a not-found page that says the link is not valid, and nothing is written
        assert opened.status_code == 404 and answered.status_code == 404, token
        assert "This link is not valid" in opened.content.decode()
        assert "Ada Buyer" not in opened.content.decode()
    assert not Feedback.objects.exists()
    assert not RatingLink.objects.filter(answered_at__isnull=False).exists()


def test_the_sheet_works_without_javascript_under_the_csp(shop):
    # Given a link, and a browser that enforces CSRF like a real one
    issued = services.rating_link_create(customer=shop["customer"], order=shop["order"])
    browser = Client(enforce_csrf_checks=True)
    # When the sheet is opened
    response = browser.get(sheet_path(issued.token))
    html = response.content.decode()
    # Then it is a plain form with no script, inline style or handler, under the strict policy
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy
    assert "<script" not in html and "<style" not in html
    assert not re.search(r"\sstyle=", html) and not re.search(r"\son[a-z]+=", html)
    assert re.search(r'<form method="post"', html) and "csrfmiddlewaretoken" in html
    assert 'name="viewport"' in html and "O-1" in html
    assert "no-store" in response["Cache-Control"]
    # And posting the form with the cookie and token it carries is accepted
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    posted = browser.post(sheet_path(issued.token), {**ANSWER, "csrfmiddlewaretoken": csrf})
    assert posted.status_code == 200 and Feedback.objects.count() == 1


def test_a_post_without_csrf_token_writes_nothing(shop):
    issued = services.rating_link_create(customer=shop["customer"])
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(sheet_path(issued.token), ANSWER).status_code == 403
    assert not Feedback.objects.exists()


def test_the_sheet_speaks_the_links_language(client, shop):
    # Given a link in German
    issued = services.rating_link_create(customer=shop["customer"], language="de")
    # When it is opened, then the page is in German
    response = client.get(sheet_path(issued.token))
    html = response.content.decode()
    assert '<html lang="de">' in html and "Wie zufrieden sind Sie" in html
    assert response["Content-Language"] == "de"
    # And a link without a language follows the setting (English by default)
    plain = services.rating_link_create(customer=shop["customer"])
    assert "How satisfied are you" in client.get(sheet_path(plain.token)).content.decode()


@pytest.mark.parametrize(
    "answer",
    [
        {"recommend": "9", "comment": "no rating"},
        {"rating": "6"},
        {"rating": "0"},
        {"rating": "3", "recommend": "11"},
        {"rating": "3", "comment": "x" * 4001},
        {"rating": "3", "comment": "nul \x00 inside"},
    ],
)
def test_an_invalid_answer_explains_and_writes_nothing(client, shop, answer):
    # Given a link, when the answer is out of range or incomplete
    issued = services.rating_link_create(customer=shop["customer"])
    response = client.post(sheet_path(issued.token), answer)
    # Then the sheet comes back with the problem marked, nothing is written, the link stays open
    assert response.status_code == 400 and "Please check" in response.content.decode()
    assert not Feedback.objects.exists()
    assert RatingLink.objects.get().answered_at is None


def test_leaving_out_the_recommendation_is_no_answer_not_zero(client, shop):
    issued = services.rating_link_create(customer=shop["customer"])
    assert client.post(sheet_path(issued.token), {"rating": "4"}).status_code == 200
    assert Feedback.objects.values_list("rating", "recommend").get() == (4, None)


def test_a_link_is_about_the_customers_own_order_or_contact(shop):
    from django.core.exceptions import ValidationError

    # When a link for one customer is made about another's order, then it is refused
    with pytest.raises(ValidationError):
        services.rating_link_create(customer=shop["customer"], order=shop["other_order"])
    assert not RatingLink.objects.exists()


CALLERS = {
    "anonymous": (302, 0),
    "agent": (200, 1),
    "other_agent": (404, 0),
    "other_manager": (404, 0),
    "manager": (200, 1),
}


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_creating_a_link_from_the_360_is_scoped(client, shop, caller):
    # Given a caller
    users = {
        "agent": UserFactory(level=Level.AGENT, departments=[shop["sales"]]),
        "other_agent": UserFactory(level=Level.AGENT, departments=[shop["service"]]),
        "other_manager": UserFactory(level=Level.MANAGER, departments=[shop["service"]]),
        "manager": UserFactory(level=Level.MANAGER, departments=[shop["sales"]]),
    }
    if caller in users:
        client.force_login(users[caller])
    # When they create a link about the customer's order
    response = client.post(
        "/customers/C-1/rating-link/",
        {"about": f"order:{shop['order'].pk}", "language": "en"},
    )
    # Then those of the customer's department get one (shown to copy); others change nothing
    status, created = CALLERS[caller]
    assert response.status_code == status
    assert RatingLink.objects.count() == created
    if created:
        html = response.content.decode()
        url = re.search(r'value="(http://[^"]+/r/[^"]+/)"', html).group(1)
        link = RatingLink.objects.get()
        assert link.order == shop["order"] and link.created_by == users[caller]
        assert client.get(url.split("8000", 1)[1]).status_code == 200


def test_the_360_offers_the_link_and_the_link_can_be_emailed(client, shop):
    # Given an agent of the customer's department on the customer 360
    client.force_login(UserFactory(level=Level.AGENT, departments=[shop["sales"]]))
    html = client.get("/customers/C-1/").content.decode()
    assert 'href="/customers/C-1/rating-link/"' in html
    # When they create a link in German and ask for it to be emailed
    response = client.post(
        "/customers/C-1/rating-link/", {"about": "", "language": "de", "send_email": "on"}
    )
    # Then the customer gets one email, in German, with the link, and the page says so
    assert response.status_code == 200
    assert [m.to for m in mail.outbox] == [[shop["customer"].email]]
    link = RatingLink.objects.get()
    assert link.emailed_to == shop["customer"].email and link.order is None
    assert "Bewertungsbogen" in mail.outbox[0].subject and "/r/" in mail.outbox[0].body
    assert f"Emailed to {shop['customer'].email}" in response.content.decode()


def test_a_link_cannot_be_about_another_customers_order(client, shop):
    client.force_login(UserFactory(level=Level.MANAGER, departments=[shop["sales"]]))
    response = client.post(
        "/customers/C-1/rating-link/",
        {"about": f"order:{shop['other_order'].pk}", "language": "en"},
    )
    assert response.status_code == 400 and not RatingLink.objects.exists()


def test_campaign_csv_has_one_link_per_recent_customer_and_neutralises_formulas(shop, tmp_path):
    # Given customers with orders and contacts before and after 2026-01-10
    sales = shop["sales"]
    recent = datetime(2026, 1, 15, tzinfo=UTC)
    old = datetime(2025, 12, 1, tzinfo=UTC)
    shop["order"].ordered_at = recent
    shop["order"].save()
    OrderFactory(customer=shop["customer"], ordered_at=old)
    hostile = CustomerFactory(external_id="C-3", full_name="=cmd|' /C calc'!A0", department=sales)
    OrderFactory(customer=hostile, ordered_at=recent)
    caller = CustomerFactory(external_id="C-4", full_name="Cal Only", department=sales)
    InteractionFactory(customer=caller, started_at=recent)
    OrderFactory(customer=shop["other"], external_id="O-OLD", ordered_at=old)
    shop["other_order"].ordered_at = old
    shop["other_order"].save()
    # When the campaign's links for orders since 2026-01-10 are written
    path = tmp_path / "links.csv"
    call_command(
        "survey", "links", "--since", "2026-01-10", "--after", "orders", "-o", str(path),
        stderr=io.StringIO(),
    )  # fmt: skip
    rows = list(csv.reader(path.open(encoding="utf-8")))
    # Then there is one row per customer with a recent order, the formula-like name made inert
    assert rows[0] == ["customer_id", "name", "email", "link", "expires"]
    by_id = {r[0]: r for r in rows[1:]}
    assert sorted(by_id) == ["C-1", "C-3"]
    assert by_id["C-3"][1] == "'=cmd|' /C calc'!A0"
    assert by_id["C-1"][1:3] == ["Ada Buyer", shop["customer"].email]
    # And each link opens that customer's sheet about their latest recent order
    token = by_id["C-1"][3].rsplit("/r/", 1)[1].strip("/")
    link = RatingLink.objects.get(customer=shop["customer"])
    assert link.order == shop["order"]
    assert (
        services.rating_sheet_answer(token=token, rating=4, recommend=8, comment="").customer
        == (shop["customer"])
    )
    assert datetime.fromisoformat(by_id["C-1"][4]) == link.expires_at
    # And without --after, contacts count too, and the links are about nothing in particular
    path2 = tmp_path / "all.csv"
    call_command("survey", "links", "--since", "2026-01-10", "-o", str(path2), stderr=io.StringIO())
    rows2 = list(csv.reader(path2.open(encoding="utf-8")))
    assert sorted(r[0] for r in rows2[1:]) == ["C-1", "C-3", "C-4"]
    contacts = io.StringIO()
    call_command(
        "survey", "links", "--since", "2026-01-10", "--after", "contacts",
        stdout=contacts, stderr=io.StringIO(),
    )  # fmt: skip
    assert [r[0] for r in csv.reader(io.StringIO(contacts.getvalue()))][1:] == ["C-4"]
    assert RatingLink.objects.get(customer=caller, interaction__isnull=False)


@pytest.mark.django_db(transaction=True)  # the live server answers over its own connection
def test_a_customer_answers_on_a_phone_without_javascript(live_server, shop):
    import os

    from playwright.sync_api import sync_playwright

    from .browser import ARTIFACTS, CHROMIUM, FLAGS

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop
    # Given a German link about an order, and a phone-sized browser with JavaScript off
    issued = services.rating_link_create(
        customer=shop["customer"], order=shop["order"], language="de"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(
            viewport={"width": 390, "height": 844}, java_script_enabled=False, is_mobile=True
        )
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Refused" in m.text else None)
        # When the customer opens it, taps 4 and 8, writes a comment and sends it
        page.goto(f"{live_server.url}{sheet_path(issued.token)}")
        # Then nothing is wider than the phone, and the page is in German
        for selector in (
            "form",
            "textarea",
            "button[type=submit]",
            ".scale-11 label.choice >> nth=-1",
        ):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
        page.screenshot(path=str(ARTIFACTS / "rating-sheet-390.png"), full_page=True)
        assert "Wie zufrieden" in page.inner_text("main")
        page.locator(".scale-5 label.choice", has_text="4").click()
        page.locator(".scale-11 label.choice", has_text="8").click()
        page.fill("textarea", "Schnell und freundlich")
        page.click("button[type=submit]")
        assert "Vielen Dank" in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / "rating-sheet-390-thanks.png"))
        browser.close()
    # And the answer was stored
    assert Feedback.objects.values_list("rating", "recommend", "comment").get() == (
        4,
        8,
        "Schnell und freundlich",
    )
    assert refused == []
    # (The test's own database connection was opened beside Playwright's event loop, where
    # the test database's teardown cannot see it: close it here, as tests/test_browser.py does.)
    connection.close()
