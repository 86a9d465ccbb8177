"""Every page and API endpoint, walked as five callers: anonymous, an agent of the
scorecard's department (no editing role), an analyst and a manager of another department,
and a manager of the department. Refused writes change nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crm_scorecard.accounts.models import Level
from crm_scorecard.crm.models import Complaint, ComplaintEvent, Feedback
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import (
    Goal,
    GoalLink,
    Indicator,
    Initiative,
    ManualValue,
    Scorecard,
)
from crm_scorecard.scorecards.services import scorecard_import
from crm_scorecard.segments.services import saved_segment_create
from crm_scorecard.voc.models import Theme, ThemeMember
from crm_scorecard.voc.services import theme_create

from .factories import CustomerFactory, DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db

CARD = {
    "name": "Sales card",
    "mission": "Sell",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Win",
                    "indicators": [
                        {"name": "Manual", "values": {"2026-01": 5}, "baseline": 0, "target": 10},
                        {"name": "Revenue", "metric": "revenue", "baseline": 0, "target": 100},
                    ],
                },
                {
                    "name": "Keep",
                    "indicators": [{"name": "Kept", "value": 3, "baseline": 0, "target": 4}],
                },
            ],
        },
    ],
    "links": [{"from": "Win", "to": "Keep"}],
}


@pytest.fixture
def world():
    sales = DepartmentFactory(name="Sales")
    other = DepartmentFactory(name="Service")
    card = scorecard_import(card=files.parse(CARD), department=sales)
    customer = CustomerFactory(
        external_id="C-S1", full_name="Sally Sales", city="Leeds", department=sales
    )
    complaint = Complaint.objects.create(
        external_id="K-S1",
        customer=customer,
        category="billing",
        department=sales,
        opened_at=datetime(2026, 1, 6, tzinfo=UTC),
    )
    late = theme_create(actor=None, label="Late parcels", department=sales)
    billing = theme_create(actor=None, label="Billing", department=sales)
    said = Feedback.objects.create(
        external_id="F-S1",
        customer=customer,
        submitted_at=datetime(2026, 1, 5, tzinfo=UTC),
        comment="Late again",
    )
    return {
        "saved": saved_segment_create(
            user=None, name="Sally's city", filters={"city": "Leeds"}, department=sales
        ),
        "theme": late,
        "billing": billing,
        "member": ThemeMember.objects.create(theme=late, kind="feedback", feedback=said),
        "card": card,
        "goal": Goal.objects.get(name="Win"),
        "keep": Goal.objects.get(name="Keep"),
        "manual": Indicator.objects.get(name="Manual"),
        "revenue": Indicator.objects.get(name="Revenue"),
        "customer": customer,
        "complaint": complaint,
        "users": {
            "anonymous": None,
            "agent": UserFactory(username="agent", level=Level.AGENT, departments=[sales]),
            "other_analyst": UserFactory(
                username="o-analyst", level=Level.ANALYST, departments=[other]
            ),
            "other_manager": UserFactory(
                username="o-manager", level=Level.MANAGER, departments=[other]
            ),
            "manager": UserFactory(username="manager", level=Level.MANAGER, departments=[sales]),
        },
    }


CALLERS = ["anonymous", "agent", "other_analyst", "other_manager", "manager"]


def urls(w):
    card, goal, manual = w["card"].pk, w["goal"].pk, w["manual"].pk
    return {
        "home": "/",
        "scorecard": f"/scorecards/{card}/",
        "scorecard_changes": f"/scorecards/{card}/changes/",
        "diamond": f"/scorecards/{card}/diamond/",
        "map": f"/scorecards/{card}/map/",
        "goal": f"/scorecards/{card}/goals/{goal}/",
        "indicator": f"/indicators/{manual}/",
        "export": f"/scorecards/{card}/export/",
        "report_pdf": f"/scorecards/{card}/report.pdf?period=2026-01",
        "report_xlsx": f"/scorecards/{card}/report.xlsx?period=2026-01&by=region",
        "report_csv": f"/scorecards/{card}/report.csv?period=2026-01&table=history",
        "history_csv": f"/indicators/{manual}/history.csv?period=2026-01",
        "breakdown_csv": f"/indicators/{w['revenue'].pk}/breakdown.csv?period=2026-01&by=region",
        "customers": "/customers/?q=sally",
        "customers_csv": "/customers.csv?q=sally",
        "customer": "/customers/C-S1/",
        "rating_link": "/customers/C-S1/rating-link/",
        "edit_card": f"/scorecards/{card}/edit/",
        "new_goal": f"/scorecards/{card}/goals/new/",
        "edit_goal": f"/scorecards/{card}/goals/{goal}/edit/",
        "new_indicator": f"/scorecards/{card}/goals/{goal}/indicators/new/",
        "edit_indicator": f"/indicators/{manual}/edit/",
        "new_link": f"/scorecards/{card}/links/new/",
        "new_initiative": f"/scorecards/{card}/goals/{goal}/initiatives/new/",
        "new_card": "/scorecards/new/",
        "import": "/scorecards/import/",
        "template": "/scorecards/templates/",
        "complaints": "/complaints/",
        "complaints_csv": "/complaints.csv",
        "complaint": f"/complaints/{w['complaint'].pk}/",
        "new_complaint": "/customers/C-S1/complaints/new/",
        "voc_board": "/voc/",
        "voc_theme": f"/voc/themes/{w['theme'].pk}/",
        "api_tokens": "/account/tokens/",
        "report_schedules": f"/scorecards/{card}/schedules/",
        "alerts": "/alerts/",
        "segments": "/segments/",
        "cohorts": "/segments/cohorts/",
        "saved_segments": "/segments/saved/",
        "saved_segment_csv": f"/segments/saved/{w['saved'].pk}.csv",
        "profile": "/profile/?by=city",
        "profile_csv": "/profile.csv?by=city",
    }


READ = {"anonymous": 302, "agent": 200, "other_analyst": 404, "other_manager": 404, "manager": 200}
EDIT = {"anonymous": 302, "agent": 403, "other_analyst": 404, "other_manager": 404, "manager": 200}
MANAGERS = {
    "anonymous": 302,
    "agent": 403,
    "other_analyst": 403,
    "other_manager": 200,
    "manager": 200,
}
PAGES = {
    "home": {**READ, "other_analyst": 200, "other_manager": 200},
    "scorecard": READ,
    "scorecard_changes": READ,
    "diamond": READ,
    "map": READ,
    "goal": READ,
    "indicator": READ,
    "export": READ,
    "report_pdf": READ,
    "report_xlsx": READ,
    "report_csv": READ,
    "history_csv": READ,
    "breakdown_csv": READ,
    "customers_csv": {**READ, "other_analyst": 200, "other_manager": 200},  # rows are scoped
    "customers": {
        **READ,
        "other_analyst": 200,
        "other_manager": 200,
    },  # a search page; results are scoped
    "customer": READ,
    "rating_link": READ,  # creating one (POST): test_surveys.py walks the same callers
    "edit_card": EDIT,
    "new_goal": EDIT,
    "edit_goal": EDIT,
    "new_indicator": EDIT,
    "edit_indicator": EDIT,
    "new_link": EDIT,
    "new_initiative": EDIT,
    "new_card": MANAGERS,
    "import": MANAGERS,
    "template": MANAGERS,
    "complaints": {**READ, "other_analyst": 200, "other_manager": 200},  # a scoped queue
    "complaints_csv": {**READ, "other_analyst": 200, "other_manager": 200},  # the same rows
    "complaint": READ,
    "new_complaint": READ,  # agents and managers of the customer's department log
    "voc_board": {**READ, "other_analyst": 200, "other_manager": 200},  # themes are scoped
    "voc_theme": READ,
    "api_tokens": {**READ, "other_analyst": 200, "other_manager": 200},  # one's own tokens
    "report_schedules": EDIT,  # the scorecard's managers schedule its report emails
    "alerts": {**READ, "other_analyst": 200, "other_manager": 200},  # one's own digests
    # customers' segments, cohorts and profile: each caller's own customers
    "segments": {**READ, "other_analyst": 200, "other_manager": 200},
    "cohorts": {**READ, "other_analyst": 200, "other_manager": 200},
    "saved_segments": {**READ, "other_analyst": 200, "other_manager": 200},
    "saved_segment_csv": READ,
    "profile": {**READ, "other_analyst": 200, "other_manager": 200},
    "profile_csv": {**READ, "other_analyst": 200, "other_manager": 200},
}


def login(client, user):
    if user is not None:
        client.force_login(user)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page(client, world, caller, page):
    # Given a caller
    login(client, world["users"][caller])
    # When they open the page
    response = client.get(urls(world)[page])
    # Then the answer depends on who they are and where the page belongs
    assert response.status_code == PAGES[page][caller]
    scoped = (
        *("home", "customers", "customers_csv", "complaints", "complaints_csv", "voc_board"),
        *("saved_segments", "profile", "profile_csv"),
    )
    if page in scoped and caller.startswith("other"):
        text = response.content.decode("utf-8-sig")
        assert "Sales card" not in text and "Sally Sales" not in text
        assert "Late parcels" not in text and "K-S1" not in text
    if page in ("customers_csv", "complaints_csv") and caller in ("agent", "manager"):
        assert "Sally Sales" in response.content.decode("utf-8-sig")
    # A file goes only to those who may see what it holds
    assert ("Content-Disposition" in response) is (
        response.status_code == 200
        and (page.endswith(("_csv", "_pdf", "_xlsx")) or page == "export")
    )


# Addresses the walk above does not open with a GET, and where their callers are walked.
NOT_WALKED = {
    "rating-sheet": "public by design (the link is the credential): tests/test_surveys.py",
    "voc-theme-new": "POST only: tests/test_voc.py",
    "voc-theme-assign": "POST only: tests/test_voc.py",
    "voc-theme-merge": "POST only: tests/test_voc.py",
    "voc-theme-split": "POST only: tests/test_voc.py",
    "api-token-revoke": "POST only, one's own tokens: tests/test_web_tokens.py",
    "report-job-new": "POST only: tests/test_jobs_web.py",
    "job-detail": "one's own jobs (a new id each): tests/test_jobs_web.py",
    "job-download": "one's own jobs (a new id each): tests/test_jobs_web.py",
    "report-schedule-delete": "POST only: tests/test_jobs_web.py",
    "indicator-comment-new": "POST only: tests/test_audit_comments.py",
    "indicator-comment-delete": "POST only, one's own comments: tests/test_audit_comments.py",
    "alerts-read": "POST only, one's own digests: tests/test_alerts_access.py",
    "alerts-read-all": "POST only, one's own digests: tests/test_alerts_access.py",
    "alerts-follow": "POST only, what one can see: tests/test_alerts_access.py",
}


def test_the_walk_covers_every_page(world):
    # Given every address the pages answer (web.urls), and those the walks above open
    from django.urls import resolve

    from crm_scorecard.web.urls import urlpatterns

    every = {p.name for p in urlpatterns}
    walked = {resolve(url.split("?")[0]).url_name for url in urls(world).values()}
    walked |= {resolve(url).url_name for _, url, _ in writes(world).values()}
    # Then each is walked as the five callers, or says where it is
    assert every - walked - set(NOT_WALKED) == set()
    assert set(NOT_WALKED) <= every - walked


def snapshot():
    return (
        list(Indicator.objects.order_by("pk").values_list("name", "target", "weight")),
        list(Goal.objects.order_by("pk").values_list("name", "weight")),
        list(ManualValue.objects.order_by("pk").values_list("period_start", "value")),
        GoalLink.objects.count(),
        Initiative.objects.count(),
        Scorecard.objects.count(),
        list(Scorecard.objects.values_list("name", "green", "yellow")),
        list(Theme.objects.order_by("pk").values_list("label", "department_id")),
        list(ThemeMember.objects.order_by("pk").values_list("theme_id", flat=True)),
    )


def writes(w):
    manual, goal, keep = w["manual"], w["goal"], w["keep"]
    indicator_form = {
        "name": "Manual",
        "metric": "",
        "optimization": "maximize",
        "baseline": 0,
        "target": 20,
        "tolerance": 0,
        "weight": 2,
        "update_interval": "month",
        "kind": "lagging",
    }
    return {
        "edit_indicator": ("post", f"/indicators/{manual.pk}/edit/", indicator_form),
        "manual_value": ("post", f"/indicators/{manual.pk}/", {"period": "2026-02", "value": 7}),
        "new_goal": (
            "post",
            f"/scorecards/{w['card'].pk}/goals/new/",
            {"perspective": goal.perspective_id, "name": "Grow", "weight": 1},
        ),
        "edit_goal": (
            "post",
            f"/scorecards/{w['card'].pk}/goals/{goal.pk}/edit/",
            {"perspective": goal.perspective_id, "name": "Win more", "weight": 2},
        ),
        "new_indicator": (
            "post",
            f"/scorecards/{w['card'].pk}/goals/{goal.pk}/indicators/new/",
            {**indicator_form, "name": "Calls"},
        ),
        "new_link": (
            "post",
            f"/scorecards/{w['card'].pk}/links/new/",
            {"cause": keep.pk, "effect": goal.pk},
        ),
        "new_initiative": (
            "post",
            f"/scorecards/{w['card'].pk}/goals/{goal.pk}/initiatives/new/",
            {"name": "Call everyone", "status": "planned"},
        ),
        "edit_card": (
            "post",
            f"/scorecards/{w['card'].pk}/edit/",
            {"name": "Renamed", "mission": "x", "green": 0.9, "yellow": 0.4},
        ),
        "api_value": ("put", f"/api/indicators/{manual.pk}/values/2026-02", {"value": 7}),
        "voc_rename": ("post", f"/voc/themes/{w['theme'].pk}/rename/", {"label": "Parcels"}),
        "voc_move": (
            "post",
            f"/voc/comments/{w['member'].pk}/move/",
            {"theme": w["billing"].pk},
        ),
    }


WRITE = {
    "anonymous": (302, 401),
    "agent": (403, 403),
    "other_analyst": (404, 404),
    "other_manager": (404, 404),
    "manager": (302, 200),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "action",
    [
        "edit_indicator",
        "manual_value",
        "new_goal",
        "edit_goal",
        "new_indicator",
        "new_link",
        "new_initiative",
        "edit_card",
        "api_value",
        "voc_rename",
        "voc_move",
    ],
)
def test_every_write(client, world, caller, action):
    # Given a caller and the state before
    login(client, world["users"][caller])
    before = snapshot()
    method, url, data = writes(world)[action]
    # When they try the write
    if method == "put":
        response = client.put(url, json.dumps(data), content_type="application/json")
    else:
        response = client.post(url, data)
    # Then only the department's manager succeeds; everyone else changes nothing
    page_status, api_status = WRITE[caller]
    assert response.status_code == (api_status if url.startswith("/api/") else page_status), (
        response.content[:300]
    )
    if caller == "manager":
        assert snapshot() != before
    else:
        assert snapshot() == before


def complaint_snapshot():
    return (
        list(Complaint.objects.order_by("pk").values_list("status", "first_response_at")),
        ComplaintEvent.objects.count(),
    )


# Agents and managers of the department work its complaints; the other department's
# people do not see them (404); anonymous callers are sent to sign in.
COMPLAINT_WRITE = {
    "anonymous": 302,
    "agent": 302,
    "other_analyst": 404,
    "other_manager": 404,
    "manager": 302,
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("action", ["log", "move"])
def test_complaint_writes(client, world, caller, action):
    # Given a caller and the complaints before
    login(client, world["users"][caller])
    before = complaint_snapshot()
    url, data = {
        "log": (
            "/customers/C-S1/complaints/new/",
            {
                "category": "billing",
                "severity": "high",
                "department": world["customer"].department_id,
                "description": "Charged twice",
            },
        ),
        "move": (f"/complaints/{world['complaint'].pk}/", {"to_status": "in_progress"}),
    }[action]
    # When they log a complaint or move one
    response = client.post(url, data)
    # Then the department's agent and manager succeed; anyone else changes nothing
    assert response.status_code == COMPLAINT_WRITE[caller]
    if caller in ("agent", "manager"):
        assert complaint_snapshot() != before
    else:
        assert complaint_snapshot() == before
    # And the other department's queue does not list the complaint
    if caller.startswith("other"):
        assert "K-S1" not in client.get("/complaints/").content.decode()


API_READ = {
    "anonymous": 401,
    "agent": 200,
    "other_analyst": 404,
    "other_manager": 404,
    "manager": 200,
}
API_OPEN = {
    "anonymous": 401,
    "agent": 200,
    "other_analyst": 200,
    "other_manager": 200,
    "manager": 200,
}


def api_urls(w):
    return {
        "scorecards": ("/api/scorecards", API_OPEN),
        "scorecard": (f"/api/scorecards/{w['card'].pk}", API_READ),
        "export": (f"/api/scorecards/{w['card'].pk}/export", API_READ),
        "metrics": ("/api/metrics", API_OPEN),
        "metric": ("/api/metrics/revenue", API_OPEN),  # numbers scoped: test_api_metric_is_scoped
        "customers": ("/api/customers?q=sally", API_OPEN),
        "customer": ("/api/customers/C-S1", API_READ),
    }


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "endpoint", ["scorecards", "scorecard", "export", "metrics", "customers", "customer"]
)
def test_every_api_read(client, world, caller, endpoint):
    login(client, world["users"][caller])
    url, expected = api_urls(world)[endpoint]
    response = client.get(url)
    assert response.status_code == expected[caller]
    if response.status_code == 200 and endpoint in ("scorecards", "customers"):
        items = response.json()["items"]  # a list comes in parts, with its count
        names = [item.get("name") or item.get("full_name") for item in items]
        assert (names != []) is (caller in ("agent", "manager"))


def test_api_scorecard_tree_matches_the_file_format(client, world):
    # Given the manager, when reading the scorecard through the API for January
    login(client, world["users"]["manager"])
    data = client.get(f"/api/scorecards/{world['card'].pk}?period=2026-01").json()
    # Then it is the evaluate --json tree: Manual 5/10 = 0.5; Revenue has no KPI values yet
    win = data["perspectives"][0]["goals"][0]
    assert win["indicators"][0]["score"] == 0.5 and win["indicators"][1]["score"] is None
    # And Kept's single value was stored for the month of import, so January has none
    assert data["perspectives"][0]["goals"][1]["indicators"][0]["value"] is None
    latest = client.get(f"/api/scorecards/{world['card'].pk}").json()
    assert latest["perspectives"][0]["goals"][1]["indicators"][0]["score"] == 0.75


@pytest.mark.django_db(transaction=True)  # the metrics engine reads over its own connection
def test_api_metric_is_scoped(client, world):
    # Given the other department's manager, when asking for revenue, then there is none of Sales'
    from datetime import UTC, datetime

    from crm_scorecard.crm.models import Order, OrderLine

    order = Order.objects.create(
        external_id="O-S1", customer=world["customer"], ordered_at=datetime(2026, 1, 5, tzinfo=UTC)
    )
    OrderLine.objects.create(order=order, line_no=1, amount=40)
    login(client, world["users"]["other_manager"])
    assert client.get("/api/metrics/revenue").json()["items"] == []
    client.logout()
    login(client, world["users"]["manager"])
    assert client.get("/api/metrics/revenue").json()["items"][0]["value"] == 40
    assert client.get("/api/metrics/revenue?by=planet").status_code == 422


def test_scorecard_page_query_count_is_fixed(client, world, django_assert_max_num_queries):
    # Given a scorecard with more goals and indicators
    for n in range(10):
        Indicator.objects.create(
            goal=world["keep"], name=f"Extra {n}", metric="revenue", baseline=0, target=1
        )
    login(client, world["users"]["manager"])
    # Then the page takes a bounded number of queries, whatever the number of indicators
    with django_assert_max_num_queries(25):
        assert client.get(f"/scorecards/{world['card'].pk}/").status_code == 200
    # And once scored, the next view is served from the cache: the user, their departments,
    # the department tree, the scorecard and which KPI values are stored
    with django_assert_max_num_queries(5):
        assert client.get(f"/scorecards/{world['card'].pk}/").status_code == 200


def test_home_query_count_does_not_grow_with_scorecards(
    client, world, django_assert_max_num_queries
):
    # Given the manager's department with four scorecards, each scored once
    for n in range(3):
        scorecard_import(
            card=files.parse({**CARD, "name": f"Card {n}"}), department=world["card"].department
        )
    login(client, world["users"]["manager"])
    client.get("/")
    # Then the home page takes the queries it takes for one: the user, their departments,
    # the department tree, the scorecards, which KPI values are stored, the departments shown
    with django_assert_max_num_queries(6):
        html = client.get("/").content.decode()
    assert all(f"Card {n}" in html for n in range(3)) and "Sales card" in html


def test_cached_dashboard_shows_an_edit_at_once(client, world):
    # Given the manager has opened the dashboard for January (Manual: 5 of 10 = 0.50)
    login(client, world["users"]["manager"])
    url = f"/scorecards/{world['card'].pk}/?period=2026-01"
    before = client.get(url).content.decode().split(">Manual<", 1)[1].split("</tr>", 1)[0]
    assert ">50%<" in before
    # When they enter January's value 8 for Manual
    response = client.post(f"/indicators/{world['manual'].pk}/", {"period": "2026-01", "value": 8})
    assert response.status_code in (200, 302)
    # Then the next view scores it 8 of 10, not the page cached before
    html = client.get(url).content.decode()
    manual_row = html.split(">Manual<", 1)[1].split("</tr>", 1)[0]
    assert ">80%<" in manual_row and ">50%<" not in manual_row


def test_cached_dashboard_keeps_edit_links_to_those_who_may_edit(client, world):
    # Given the manager's view of the dashboard has been rendered (with its edit links)
    login(client, world["users"]["manager"])
    url = f"/scorecards/{world['card'].pk}/"
    assert f"/scorecards/{world['card'].pk}/edit/" in client.get(url).content.decode()
    # When the department's agent opens the same dashboard for the same period
    client.logout()
    login(client, world["users"]["agent"])
    html = client.get(url).content.decode()
    # Then they see the scores but no edit links, and their own name in the header
    assert "Sales card" in html and f"/scorecards/{world['card'].pk}/edit/" not in html
    assert "agent ·" in html


def test_refused_manual_value_explains_on_the_indicator_page_and_changes_nothing(client, world):
    # Given the manager and Revenue, whose values come from its metric
    login(client, world["users"]["manager"])
    revenue = Indicator.objects.get(name="Revenue")
    before = snapshot()
    # When they enter a value for it, and a month that is not one for Manual
    refused = client.post(f"/indicators/{revenue.pk}/", {"period": "2026-02", "value": 7})
    bad_month = client.post(f"/indicators/{world['manual'].pk}/", {"period": "2026-13", "value": 7})
    # Then each answers 400 on the indicator page (Revenue's has no form to show the reason
    # in; Manual's says what is wrong), and nothing is saved
    assert refused.status_code == bad_month.status_code == 400
    assert "web/indicator.html" in [t.name for t in refused.templates]
    assert "Use a month like 2026-03." in bad_month.content.decode()
    assert snapshot() == before


def test_invalid_edit_explains_and_changes_nothing(client, world):
    # Given the manager, when setting max equal to min
    login(client, world["users"]["manager"])
    before = snapshot()
    response = client.post(
        f"/indicators/{world['manual'].pk}/edit/",
        {
            "name": "Manual",
            "optimization": "maximize",
            "baseline": 0,
            "target": 10,
            "min": 5,
            "max": 5,
            "tolerance": 0,
            "weight": 1,
            "update_interval": "month",
            "kind": "lagging",
        },
    )
    # Then the form says why and nothing is saved
    assert response.status_code == 400
    assert "max and min are both 5.0" in response.content.decode()
    assert snapshot() == before
