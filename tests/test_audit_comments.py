"""Comments on an indicator's value for a month: whoever can see the indicator adds one on
its page or through the API; it shows on the page (list and chart data) and in the board
pack (under the chart and as a mark on it); its author alone deletes it, and the deletion
is recorded. Another department's user gets 404 and writes nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse
from pypdf import PdfReader

from crm_scorecard.accounts.services import token_create
from crm_scorecard.reports import charts
from crm_scorecard.reports.exports import report_export
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator, IndicatorComment
from crm_scorecard.scorecards.services import scorecard_import

pytestmark = pytest.mark.django_db

CARD = {
    "name": "Sales card",
    "perspectives": [
        {
            "name": "Customer",
            "goals": [
                {
                    "name": "Win customers",
                    "indicators": [
                        {
                            "name": "Visits",
                            "values": {"2026-09": 800, "2026-10": 500, "2026-11": 650},
                            "baseline": 0,
                            "target": 1000,
                        }
                    ],
                }
            ],
        }
    ],
}
TEXT = "Dip due to the warehouse move <b>&</b>"


@pytest.fixture
def visits(org) -> Indicator:
    card = scorecard_import(card=files.parse(CARD), department=org.sales)
    return Indicator.objects.get(goal__perspective__scorecard=card)


def _add(client, user, indicator, period="2026-10", text=TEXT):
    client.force_login(user)
    url = reverse("indicator-comment-new", args=[indicator.pk])
    return client.post(url, {"period": period, "text": text})


def _page(client, indicator):
    return client.get(reverse("indicator-detail", args=[indicator.pk]) + "?period=2026-11")


def test_an_analyst_comments_and_the_page_shows_it_as_text(client, org, visits):
    # Given a Sales analyst (who may see the indicator, not edit it)
    # When they comment on October's value
    response = _add(client, org.sales_analyst, visits)
    # Then it is stored with its author, and the page lists it, escaped
    assert response.status_code == 302
    comment = IndicatorComment.objects.get()
    assert (comment.author, f"{comment.period_start:%Y-%m}", comment.text) == (
        org.sales_analyst,
        "2026-10",
        TEXT,
    )
    html = _page(client, visits).content.decode()
    assert "Dip due to the warehouse move &lt;b&gt;&amp;&lt;/b&gt;" in html
    assert "<b>&</b>" not in html.split('id="history-data"')[0]
    # And the chart's data marks October with the comment's text and author
    data = html.split('<script id="history-data" type="application/json">')[1].split("</script>")[0]
    marks = json.loads(data)["comments"]
    assert marks[0]["period"] == "2026-10"
    assert marks[0]["lines"][0].startswith(TEXT + " — sales-analyst, ")


@pytest.mark.parametrize(
    ("period", "text", "reason"),
    [
        ("2026-10", "   ", "This field is required."),
        ("2026-13", "Fine", "is not a month (YYYY-MM)"),
        ("2099-01", "Fine", "is in the future"),
    ],
)
def test_a_bad_comment_is_refused_with_the_reason(client, org, visits, period, text, reason):
    # Given a Sales analyst
    # When they post an empty comment, a malformed month or a future one
    response = _add(client, org.sales_analyst, visits, period=period, text=text)
    # Then the page comes back (400) saying why, and nothing is stored
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not IndicatorComment.objects.exists()


@pytest.mark.parametrize("who", ["service_agent", "service_manager"])
def test_another_department_cannot_comment_or_delete(client, org, visits, who):
    # Given a comment by the Sales analyst
    _add(client, org.sales_analyst, visits)
    comment = IndicatorComment.objects.get()
    # When someone of Customer Service posts a comment, or deletes the one there
    added = _add(client, getattr(org, who), visits, text="mine")
    deleted = client.post(reverse("indicator-comment-delete", args=[comment.pk]))
    # Then both answer 404 and nothing changed
    assert (added.status_code, deleted.status_code) == (404, 404)
    assert list(IndicatorComment.objects.values_list("text", flat=True)) == [TEXT]


def test_anonymous_is_sent_to_sign_in(client, visits):
    # Given no session, when posting a comment, then it asks to sign in, storing nothing
    response = client.post(
        reverse("indicator-comment-new", args=[visits.pk]), {"period": "2026-10", "text": "x"}
    )
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert not IndicatorComment.objects.exists()


def test_only_the_author_deletes_and_the_deletion_is_recorded(client, org, visits):
    # Given the analyst's comment
    _add(client, org.sales_analyst, visits)
    comment = IndicatorComment.objects.get()
    url = reverse("indicator-comment-delete", args=[comment.pk])
    # When the Sales manager (same department, not the author) tries to delete it
    client.force_login(org.sales_manager)
    refused = client.post(url)
    # Then it is refused and still there
    assert refused.status_code == 403 and IndicatorComment.objects.filter(pk=comment.pk).exists()
    # When its author deletes it
    client.force_login(org.sales_analyst)
    assert client.get(url).status_code == 405  # a link cannot delete it
    deleted = client.post(url)
    # Then it is gone, the trail keeps who deleted it, and the page says so
    assert deleted.status_code == 302 and not IndicatorComment.objects.exists()
    gone = IndicatorComment.history.filter(id=comment.pk, history_type="-").get()
    assert gone.history_user == org.sales_analyst and gone.text == TEXT
    html = _page(client, visits).content.decode()
    assert "Comment on 2026-10 deleted by <strong>sales-analyst</strong>" in html


def test_the_board_pack_prints_comments_under_the_chart_and_marks_the_month(client, org, visits):
    # Given a comment on October
    _add(client, org.sales_analyst, visits, text="Dip due to the warehouse move")
    # When the Sales manager exports the board pack for November
    export = report_export(user=org.sales_manager, pk=visits.goal.perspective.scorecard_id,
                           fmt="pdf", period="2026-11")  # fmt: skip
    # Then the perspective's page prints the comment, numbered, with its author
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(export.content)).pages]
    page = next(p for p in pages if "Dip due to the warehouse move" in p)
    assert "2026-10" in page and "sales-analyst" in page and "Visits" in page


def test_the_chart_svg_marks_a_commented_month_and_escapes_nothing_it_should_not():
    # Given a year of values, when drawing the chart with a mark on the third month
    points = [(f"2026-{m:02d}", float(m)) for m in range(1, 13)]
    svg = charts.history(points, [10.0] * 12, baseline=0, label=str, marks=[("2026-03", "1")])
    # Then a dotted violet line and a numbered circle sit at that month's x (64 + 412 * 2/11)
    x = f"{64 + 412 * 2 / 11:.1f}"
    assert f'<line x1="{x}"' in svg and f'<circle cx="{x}" cy="13.0" r="6" fill="#7c3aed"/>' in svg
    assert ">1</text>" in svg
    # And a month outside the chart draws nothing
    assert "#7c3aed" not in charts.history(
        points, [10.0] * 12, baseline=0, label=str, marks=[("2025-01", "1")]
    )


# ---- the API ------------------------------------------------------------------------------


def _bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token_create(user=user, name='t').key}"}


def test_api_adds_and_lists_comments(client, org, visits):
    # Given a token of the Sales analyst
    auth = _bearer(org.sales_analyst)
    url = f"/api/indicators/{visits.pk}/comments"
    # When they add a comment, then list the indicator's comments
    body = json.dumps({"period": "2026-10", "text": "  Dip  "})
    added = client.post(url, data=body, content_type="application/json", **auth)
    listed = client.get(url, **auth)
    # Then the comment is stored (trimmed) and listed with its author
    assert added.status_code == 201, added.content
    assert added.json()["text"] == "Dip" and added.json()["author"] == "sales-analyst"
    items = listed.json()["items"]
    assert listed.json()["count"] == 1
    assert (items[0]["period"], items[0]["text"], items[0]["author"]) == (
        "2026-10",
        "Dip",
        "sales-analyst",
    )
    # And the trail names the token's user
    assert IndicatorComment.history.get().history_user == org.sales_analyst


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"period": "2026-10", "text": " "}, "a comment cannot be empty"),
        ({"period": "2026-10", "text": "a\x00b"}, "NUL"),
        ({"period": "26-10", "text": "x"}, "period"),
        ({"period": "2099-10", "text": "x"}, "future"),
    ],
)
def test_api_refuses_a_bad_comment_with_the_reason(client, org, visits, body, reason):
    # Given a token, when adding a bad comment, then 422 names why and nothing is stored
    response = client.post(
        f"/api/indicators/{visits.pk}/comments",
        data=json.dumps(body),
        content_type="application/json",
        **_bearer(org.sales_analyst),
    )
    assert response.status_code == 422 and reason in response.content.decode()
    assert not IndicatorComment.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_api_answers_404_to_another_department_and_401_without_a_token(client, org, visits, method):
    # Given a comment on the Sales indicator
    _add(client, org.sales_analyst, visits)
    client.logout()
    url = f"/api/indicators/{visits.pk}/comments"
    body = {"data": json.dumps({"period": "2026-10", "text": "x"})} if method == "post" else {}
    call = getattr(client, method)
    # When someone of Customer Service, or nobody, calls the endpoint
    other = call(url, content_type="application/json", **body, **_bearer(org.service_manager))
    nobody = call(url, content_type="application/json", **body)
    # Then 404 and 401, showing no comment and storing none
    assert (other.status_code, nobody.status_code) == (404, 401)
    assert b"warehouse" not in other.content + nobody.content
    assert IndicatorComment.objects.count() == 1
