"""Alerts, rule by rule, with hand-checked numbers: an indicator or goal turning red and
coming back from red, no repeat of a state already reported, manual values due and
overdue, complaints past their service level; who hears of them; one digest per person
per run; the channels (in the app, email, webhook) and what a dry run does."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from crm_scorecard.alerts import channels, rules
from crm_scorecard.alerts.models import AlertState, DepartmentWebhook, Digest, WebhookDelivery
from crm_scorecard.alerts.services import (
    alerts_check,
    indicator_follow_state,
    subscription_set,
)
from crm_scorecard.crm.complaints import complaint_log, complaint_move
from crm_scorecard.crm.models import Complaint
from crm_scorecard.errors import NotFound
from crm_scorecard.periods import month_of, shift_months
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Goal, Indicator
from crm_scorecard.scorecards.services import manual_value_set, scorecard_import

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db

LAST_MONTH = shift_months(month_of(date.today()), -1)  # the month pages open on (no KPIs stored)
THIS_MONTH = month_of(date.today())


def card_file(name: str = "Survey") -> dict:
    """Sales' card: one goal with one manual indicator, baseline 1, target 5 (maximize), so a
    value v scores (v - 1) / 4: 2 → 25% (red), 3.4 → 60% (yellow), 4.6 → 90% (green)."""
    return {
        "name": "Sales card",
        "perspectives": [
            {
                "name": "Customer",
                "goals": [
                    {
                        "name": "Keep customers",
                        "indicators": [
                            {"name": name, "baseline": 1, "target": 5, "owner": "sales-analyst"}
                        ],
                    }
                ],
            }
        ],
    }


@pytest.fixture
def card(org):
    for user, address in [
        (org.sales_manager, "sales-manager@example.com"),
        (org.sales_analyst, "sales-analyst@example.com"),
        (org.service_manager, "service-manager@example.com"),
        (org.executive, "exec@example.com"),
    ]:
        user.email = address
        user.save()
    scorecard = scorecard_import(card=files.parse(card_file()), department=org.sales)
    return scorecard


def survey(card) -> Indicator:
    return Indicator.objects.get(goal__perspective__scorecard=card, name="Survey")


def enter(indicator: Indicator, value: float, capture, period: str = THIS_MONTH) -> None:
    """A value typed in, committed: the alerts run that follows it runs too."""
    with capture(execute=True):
        manual_value_set(indicator=indicator, period=period, value=value)


def digest_lines(user) -> list[list[str]]:
    return [
        [f"{i['subject_type']} {i['name']} {i['change']}: {i['detail']}" for i in d.items]
        for d in Digest.objects.filter(user=user).order_by("pk")
    ]


# ---- colour ---------------------------------------------------------------------------------


def test_a_value_that_turns_the_indicator_red_alerts_its_followers_once(
    org, card, django_capture_on_commit_callbacks
):
    # Given Sales' manual indicator, owned by the analyst, never scored before
    indicator = survey(card)
    # When a value of 2 is typed in: (2 - 1) / 4 = 25%, under yellow's 50%
    enter(indicator, 2, django_capture_on_commit_callbacks)
    # Then the manager gets one digest: the indicator and its goal (whose only indicator it
    # is) turned red; the owner one about the indicator
    assert digest_lines(org.sales_manager) == [
        [
            f"goal Keep customers turned red: score 25% in {THIS_MONTH}",
            f"indicator Survey turned red: score 25% in {THIS_MONTH}",
        ]
    ]
    assert digest_lines(org.sales_analyst) == [
        [f"indicator Survey turned red: score 25% in {THIS_MONTH}"]
    ]
    # and one email each, nobody else (Customer Service's manager cannot see Sales)
    assert sorted(m.to[0] for m in mail.outbox) == [
        "sales-analyst@example.com",
        "sales-manager@example.com",
    ]
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert subjects["sales-manager@example.com"] == "CRM Scorecard: 2 alerts: 2 turned red"
    assert subjects["sales-analyst@example.com"] == "CRM Scorecard: 1 alert: 1 turned red"
    # When it is checked again, and another red value is typed in (2.4: 35%)
    alerts_check()
    enter(indicator, 2.4, django_capture_on_commit_callbacks)
    # Then nothing more is sent: red was already reported
    assert Digest.objects.count() == 2
    assert len(mail.outbox) == 2


def test_back_from_red_is_reported_and_yellow_to_green_is_not(
    org, card, django_capture_on_commit_callbacks
):
    # Given the indicator reported red
    indicator = survey(card)
    enter(indicator, 2, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    # When a value of 3.4 comes in: (3.4 - 1) / 4 = 60%, yellow
    enter(indicator, 3.4, django_capture_on_commit_callbacks)
    # Then the manager hears it is back from red
    assert digest_lines(org.sales_manager)[-1] == [
        f"goal Keep customers back from red (yellow): score 60% in {THIS_MONTH}",
        f"indicator Survey back from red (yellow): score 60% in {THIS_MONTH}",
    ]
    assert len(mail.outbox) == 2
    # When it goes on to green (4.6: 90%)
    enter(indicator, 4.6, django_capture_on_commit_callbacks)
    # Then nothing: it was not red
    assert len(digest_lines(org.sales_manager)) == 2
    assert len(mail.outbox) == 2


def test_a_first_look_that_is_not_red_is_recorded_without_an_alert(
    org, card, django_capture_on_commit_callbacks
):
    # Given the indicator at 90% when alerts first see it
    enter(survey(card), 4.6, django_capture_on_commit_callbacks)
    # Then nobody is told, and its state is recorded as ok
    assert Digest.objects.count() == 0
    assert AlertState.objects.get(subject_type="indicator", kind="colour").state == "ok"


def test_no_data_changes_no_colour(org, card):
    # Given the indicator with no value at all (grey: no data)
    # When alerts check
    report = alerts_check(now=datetime(2026, 3, 1, tzinfo=UTC))
    # Then no colour is recorded for it: "no data" is not a colour
    assert not AlertState.objects.filter(kind="colour").exists()
    assert [e.kind for e in report.events] == ["manual"]  # (its first value is due)


# ---- manual values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "interval", "now", "state"),
    [
        # monthly, last value for January: February's is due once February is over
        (date(2026, 1, 1), "month", datetime(2026, 2, 27, tzinfo=UTC), "ok"),
        (date(2026, 1, 1), "month", datetime(2026, 3, 1, tzinfo=UTC), "due"),
        (date(2026, 1, 1), "month", datetime(2026, 3, 31, tzinfo=UTC), "due"),
        (date(2026, 1, 1), "month", datetime(2026, 4, 1, tzinfo=UTC), "overdue"),
        # quarterly, last value for Q1 (January): Q2's is due once June is over (July)
        (date(2026, 1, 1), "quarter", datetime(2026, 6, 30, tzinfo=UTC), "ok"),
        (date(2026, 1, 1), "quarter", datetime(2026, 7, 1, tzinfo=UTC), "due"),
        (date(2026, 1, 1), "quarter", datetime(2026, 10, 1, tzinfo=UTC), "overdue"),
        # yearly, last value for 2025: 2026's is due in January 2027
        (date(2025, 1, 1), "year", datetime(2026, 12, 31, tzinfo=UTC), "ok"),
        (date(2025, 1, 1), "year", datetime(2027, 1, 1, tzinfo=UTC), "due"),
        (None, "month", datetime(2026, 1, 1, tzinfo=UTC), "due"),
    ],
)
def test_manual_state(last, interval, now, state):
    # Given the last value's month and the update interval; When asked on `now`; Then:
    assert rules.manual_state(last=last, interval=interval, now=now) == state


def test_a_manual_value_due_then_overdue_is_reported_once_each(org, card):
    # Given the indicator's last value for January 2026 (monthly)
    Indicator.objects.filter(pk=survey(card).pk).update(update_interval="month")
    manual_value_set(indicator=survey(card), period="2026-01", value=4.6)
    march, march_again, april = (
        datetime(2026, 3, 2, 8, tzinfo=UTC),
        datetime(2026, 3, 20, tzinfo=UTC),
        datetime(2026, 4, 1, 8, tzinfo=UTC),
    )
    # When alerts check on 2 March (February is over, its value is missing)
    first = alerts_check(now=march)
    second = alerts_check(now=march_again)
    third = alerts_check(now=april)
    # Then due is reported on 2 March, nothing more in March, overdue on 1 April
    manual = [
        [(e.name, e.change, e.detail) for e in r.events if e.kind == "manual"]
        for r in (first, second, third)
    ]
    assert manual == [
        [("Survey", "value due", "monthly; last value for 2026-01")],
        [],
        [("Survey", "value overdue", "monthly; last value for 2026-01")],
    ]
    # to the manager and the owner
    assert sorted(first.digests) == ["sales-analyst", "sales-manager"]


def test_entering_the_missing_value_settles_it_and_the_next_due_is_new(org, card):
    # Given the value reported due on 2 March
    manual_value_set(indicator=survey(card), period="2026-01", value=4.6)
    alerts_check(now=datetime(2026, 3, 2, tzinfo=UTC))
    # When February's value comes in, and later March is over without its value
    manual_value_set(indicator=survey(card), period="2026-02", value=4.6)
    settled = alerts_check(now=datetime(2026, 3, 3, tzinfo=UTC))
    again = alerts_check(now=datetime(2026, 4, 2, tzinfo=UTC))
    # Then the entry is recorded quietly, and March's value due is reported
    assert [e.kind for e in settled.events] == []
    assert [(e.change, e.detail) for e in again.events if e.kind == "manual"] == [
        ("value due", "monthly; last value for 2026-02")
    ]


# ---- complaints -----------------------------------------------------------------------------


def test_a_complaint_past_its_service_level_is_reported_once_to_its_departments_managers(
    org, settings
):
    # Given a high complaint (24 h) and a critical one (4 h) for Customer Service, logged
    # 23 h ago; the service level as shipped
    settings.CRM_COMPLAINT_SLA_HOURS = {"critical": 4, "high": 24, "medium": 72, "low": 168}
    org.service_manager.email = "service-manager@example.com"
    org.service_manager.save()
    customer = CustomerFactory(department=org.service)
    now = timezone.now()
    opened = now - timedelta(hours=23)
    high = complaint_log(
        actor=org.service_agent,
        customer=customer,
        department=org.service,
        category="service",
        severity="high",
        description="<script>x</script>",
        at=opened,
    )
    critical = complaint_log(
        actor=org.service_agent,
        customer=customer,
        department=org.service,
        category="billing",
        severity="critical",
        description="Charged twice",
        at=opened,
    )
    # When alerts check now (critical is 19 h late; high has 1 h left), then 2 h later
    now_report = alerts_check(now=now)
    later = alerts_check(now=now + timedelta(hours=2))
    # Then the critical one is reported now, the high one 2 h later, each once,
    # to Customer Service's manager only
    assert [(e.name, e.change) for e in now_report.events] == [
        (critical.external_id, "past its service level")
    ]
    assert [(e.name, e.change) for e in later.events] == [
        (high.external_id, "past its service level")
    ]
    assert list(now_report.digests) == ["service-manager"]
    assert [m.to for m in mail.outbox] == [["service-manager@example.com"]] * 2
    assert alerts_check(now=now + timedelta(hours=3)).events == []


def test_a_resolved_complaint_reopened_late_is_reported_again(org):
    # Given a critical complaint reported past its service level
    customer = CustomerFactory(department=org.service)
    opened = timezone.now() - timedelta(hours=10)
    complaint = complaint_log(
        actor=org.service_agent,
        customer=customer,
        department=org.service,
        category="service",
        severity="critical",
        description="Charged twice",
        at=opened,
    )
    assert len(alerts_check().events) == 1
    # When it is resolved (recorded as settled), then reopened
    for step in ("in_progress", "resolved"):
        complaint_move(
            actor=org.service_agent,
            complaint=Complaint.objects.get(pk=complaint.pk),
            to_status=step,
        )
    assert alerts_check().events == []
    complaint_move(
        actor=org.service_agent, complaint=Complaint.objects.get(pk=complaint.pk), to_status="open"
    )
    # Then it is reported again
    assert [e.change for e in alerts_check().events] == ["past its service level"]


# ---- who follows ----------------------------------------------------------------------------


def test_subscriptions_decide_who_hears_the_most_specific_choice_wins(
    org, card, django_capture_on_commit_callbacks
):
    # Given the executive following the indicator, the manager muting it (but not its goal),
    # and Customer Service's manager unable to follow what they cannot see
    indicator = survey(card)
    subscription_set(user=org.executive, subject="indicator", pk=indicator.pk, follow=True)
    subscription_set(user=org.sales_manager, subject="indicator", pk=indicator.pk, follow=False)
    with pytest.raises(NotFound):
        subscription_set(user=org.service_manager, subject="scorecard", pk=card.pk, follow=True)
    # When it turns red
    enter(indicator, 2, django_capture_on_commit_callbacks)
    # Then the executive hears of the indicator only, the manager of the goal only
    assert [i["subject_type"] for i in Digest.objects.get(user=org.executive).items] == [
        "indicator"
    ]
    assert [i["subject_type"] for i in Digest.objects.get(user=org.sales_manager).items] == ["goal"]
    assert not Digest.objects.filter(user=org.service_manager).exists()


def test_the_follow_state_says_who_follows_and_why_by_the_rule_recipients_apply(org, card):
    # Given Sales' indicator owned by the analyst, the manager following by default
    indicator = survey(card)
    goal = Goal.objects.get(perspective__scorecard=card)
    org.field_agent.departments.add(org.sales)

    def state(user):
        found = indicator_follow_state(user=user, indicator=indicator)
        return found.following, found.reason

    # Then nobody chose yet: the owner and the manager follow, the agent does not
    assert state(org.sales_analyst) == (True, "as its owner")
    assert state(org.sales_manager) == (True, "as its manager")
    assert state(org.field_agent) == (False, "")
    # When the manager mutes the goal and the agent follows the scorecard
    subscription_set(user=org.sales_manager, subject="goal", pk=goal.pk, follow=False)
    subscription_set(user=org.field_agent, subject="scorecard", pk=card.pk, follow=True)
    assert state(org.sales_manager) == (False, "muted with its goal")
    assert state(org.field_agent) == (True, "followed with its scorecard")
    # And the indicator's own choice wins over its goal's
    subscription_set(user=org.sales_manager, subject="indicator", pk=indicator.pk, follow=True)
    assert state(org.sales_manager) == (True, "followed")
    # And someone who cannot see it is told it does not exist
    with pytest.raises(NotFound):
        indicator_follow_state(user=org.service_manager, indicator=indicator)


def test_follow_and_mute_from_the_indicator_page_come_back_to_it(client, org, card):
    # Given the analyst (owner) on the indicator page
    indicator = survey(card)
    client.force_login(org.sales_analyst)
    page = f"/indicators/{indicator.pk}/?period={THIS_MONTH}"
    text = client.get(page).content.decode()
    assert "Alerts: following (as its owner)" in text and ">Mute</button>" in text
    # When they mute it from there
    response = client.post(
        "/alerts/follow/", {"subject": f"indicator:{indicator.pk}", "follow": "0", "next": page}
    )
    # Then they are back on the page, which offers to follow again
    assert response.status_code == 302 and response["Location"] == page
    text = client.get(page).content.decode()
    assert "Alerts: muted" in text and ">Follow</button>" in text
    # And a `next` off the site is not followed
    response = client.post(
        "/alerts/follow/",
        {"subject": f"indicator:{indicator.pk}", "follow": "1", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/alerts/"


def test_a_follower_who_lost_sight_of_the_department_hears_nothing(org, card):
    # Given Customer Service's manager following Sales' goal, then moved out of Sales
    org.service_manager.departments.add(org.sales)
    goal = Goal.objects.get(perspective__scorecard=card)
    subscription_set(user=org.service_manager, subject="goal", pk=goal.pk, follow=True)
    org.service_manager.departments.remove(org.sales)
    # When the goal turns red
    manual_value_set(indicator=survey(card), period=THIS_MONTH, value=2)
    report = alerts_check()
    # Then they are not told
    assert "service-manager" not in report.digests
    assert "sales-manager" in report.digests


# ---- channels, digests, dry run -------------------------------------------------------------


def test_one_digest_per_person_per_run_however_many_changes(org, card):
    # Given three indicators of the card turning red in one run
    for name in ("Second", "Third"):
        Indicator.objects.create(
            goal=Goal.objects.get(perspective__scorecard=card), name=name, baseline=1, target=5
        )
    for indicator in Indicator.objects.filter(goal__perspective__scorecard=card):
        manual_value_set(indicator=indicator, period=THIS_MONTH, value=2)
    # When alerts check
    alerts_check()
    # Then the manager gets one digest with four alerts (three indicators and the goal)
    assert [len(d.items) for d in Digest.objects.filter(user=org.sales_manager)] == [4]
    assert [m.to for m in mail.outbox].count(["sales-manager@example.com"]) == 1


def test_names_are_text_in_emails_and_in_the_webhook(org, settings):
    # Given an indicator whose name holds markup and a Slack mention
    settings.CRM_SITE_URL = "https://crm.example.com"
    org.sales_manager.email = "m@example.com"
    org.sales_manager.save()
    name = "<b>Churn & co</b> <!channel>"
    card = scorecard_import(card=files.parse(card_file(name)), department=org.sales)
    manual_value_set(
        indicator=Indicator.objects.get(goal__perspective__scorecard=card, name=name),
        period=THIS_MONTH,
        value=2,
    )
    DepartmentWebhook.objects.create(department=org.sales, url="http://127.0.0.1:9/")
    # When alerts check (the webhook's port is closed: its failure does not matter here)
    report = alerts_check()
    # Then the email's HTML shows the name as text, and the plain text part as typed
    html = mail.outbox[0].alternatives[0].content
    assert "&lt;b&gt;Churn &amp; co&lt;/b&gt; &lt;!channel&gt;" in html
    assert "<b>Churn" not in html
    assert name in mail.outbox[0].body
    # and the webhook's mrkdwn escapes &, < and > as Slack asks
    section = report.webhooks["Sales"]["blocks"][1]["text"]["text"]
    assert "*&lt;b&gt;Churn &amp; co&lt;/b&gt; &lt;!channel&gt;* turned red" in section
    assert "<!channel>" not in json.dumps(report.webhooks)
    assert "<https://crm.example.com/indicators/" in section


def test_webhook_payload_is_slack_shaped():
    # Given two alerts of a department
    items = [
        {
            "name": "Survey",
            "change": "turned red",
            "detail": "score 25% in 2026-05",
            "scorecard": "Sales card",
            "path": "/indicators/7/",
        },
        {
            "name": "C-1",
            "change": "past its service level",
            "detail": "Critical billing complaint, due 2026-05-02 10:00 UTC",
            "scorecard": "",
            "path": "/complaints/3/",
        },
    ]
    # When made into the webhook's message
    payload = channels.webhook_payload(department="Sales", items=items)
    # Then it has Slack's text and blocks
    site = channels.site_url("")
    assert payload == {
        "text": "CRM Scorecard · Sales: 2 alerts: 1 turned red, 1 past its service level",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": "CRM Scorecard · Sales: 2 alerts: 1 turned red, 1 past its service level",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"• *Survey* turned red — score 25% in 2026-05 (Sales card) <{site}/indicators/7/|open>\n"
                    f"• *C-1* past its service level — Critical billing complaint, due 2026-05-02 10:00 UTC <{site}/complaints/3/|open>",
                },
            },
        ],
    }


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that fails while `down` and keeps what it is sent."""

    down = True
    got: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Receiver.down:
            self.send_response(503)
        else:
            Receiver.got.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.down, Receiver.got = True, []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_a_failing_webhook_is_logged_and_tried_again_next_run(org, card, receiver, caplog):
    # Given Sales' webhook answering 503, and the indicator red
    DepartmentWebhook.objects.create(department=org.sales, url=receiver)
    manual_value_set(indicator=survey(card), period=THIS_MONTH, value=2)
    # When alerts check
    first = alerts_check()
    # Then the run still finishes: digests and emails went out, the failure is logged
    assert first.failures and "503" in first.failures[0]
    assert "webhook of Sales failed" in caplog.text
    assert len(mail.outbox) == 2
    delivery = WebhookDelivery.objects.get()
    assert (delivery.attempts, delivery.sent_at) == (1, None)
    # When the receiver is back and alerts check again (nothing new to report)
    Receiver.down = False
    second = alerts_check()
    # Then the message is delivered then, once
    delivery.refresh_from_db()
    assert second.failures == [] and second.events == []
    assert delivery.attempts == 2 and delivery.sent_at is not None
    assert [p["blocks"][1]["text"]["text"].count("turned red") for p in Receiver.got] == [2]
    alerts_check()
    assert len(Receiver.got) == 1


def test_dry_run_prints_what_would_be_sent_and_records_nothing(org, card, capsys):
    # Given the indicator red, never reported
    manual_value_set(indicator=survey(card), period=THIS_MONTH, value=2)
    # When `alerts check --dry-run --json` runs, then `alerts check --dry-run`
    call_command("alerts", "check", "--dry-run", "--json")
    as_json = json.loads(capsys.readouterr().out)
    call_command("alerts", "check", "--dry-run")
    text = capsys.readouterr().out
    # Then it says what would be sent, and nothing is recorded or sent
    assert as_json["dry_run"] is True
    assert as_json["emails"] == ["sales-analyst@example.com", "sales-manager@example.com"]
    assert sorted(as_json["digests"]) == ["sales-analyst", "sales-manager"]
    assert text.splitlines() == [
        "2 alerts; would send:",
        "  digest to sales-analyst (1 alert)",
        f"    - Survey turned red: score 25% in {THIS_MONTH}",
        "  digest to sales-manager (2 alerts)",
        f"    - Keep customers turned red: score 25% in {THIS_MONTH}",
        f"    - Survey turned red: score 25% in {THIS_MONTH}",
        "  email to sales-analyst@example.com",
        "  email to sales-manager@example.com",
    ]
    assert (AlertState.objects.count(), Digest.objects.count(), len(mail.outbox)) == (0, 0, 0)
    # When it runs for real
    call_command("alerts", "check")
    # Then it sends, once
    assert "sent:" in capsys.readouterr().out
    assert Digest.objects.count() == 2 and len(mail.outbox) == 2


def test_the_webhook_command_sets_a_department_webhook(org):
    # Given Sales without a webhook
    # When one is set, and a bad address is refused
    call_command("alerts", "webhook", "--department", "Sales", "--url", "https://hooks.example/x")
    with pytest.raises(Exception, match="--url: Enter a valid URL"):
        call_command("alerts", "webhook", "--department", "Sales", "--url", "not a url")
    # Then Sales posts to the first address
    assert DepartmentWebhook.objects.get(department=org.sales).url == "https://hooks.example/x"


def test_the_bell_count_follows_new_digests_and_reading(client, org, card):
    # Given the manager's page seen once with nothing unread (the count is then kept)
    client.force_login(org.sales_manager)
    assert 'aria-label="Alerts: 0 unread"' in client.get("/alerts/").content.decode()
    # When a run brings a digest
    manual_value_set(indicator=survey(card), period=THIS_MONTH, value=2)
    alerts_check()
    # Then the bell shows it at once
    assert 'aria-label="Alerts: 1 unread"' in client.get("/alerts/").content.decode()
    # When it is marked read
    client.post("/alerts/read/")
    # Then the bell is back to none
    assert 'aria-label="Alerts: 0 unread"' in client.get("/alerts/").content.decode()


def test_a_change_another_run_reported_in_between_is_not_sent_twice(org, card, monkeypatch):
    # Given the indicator red, and a run that has read the states when another run (a
    # compute and a value typed in at once) reports the change
    manual_value_set(indicator=survey(card), period=THIS_MONTH, value=2)
    real = rules.colours

    def colours_then_another_run(**kwargs):
        found = real(**kwargs)
        monkeypatch.setattr(rules, "colours", real)
        alerts_check()
        return found

    monkeypatch.setattr(rules, "colours", colours_then_another_run)
    # When the first run goes on
    report = alerts_check()
    # Then it sends nothing: the change was reported once, by the other run
    assert report.events == [] and report.digests == {}
    assert Digest.objects.filter(user=org.sales_manager).count() == 1
    assert len(mail.outbox) == 2
