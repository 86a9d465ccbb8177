"""The issue's done-when for alerts: the worker's nightly compute sends a red-alert email
(the test mail backend) and a webhook message (to a real HTTP server in a thread on
127.0.0.1) exactly once; run twice, the second run sends nothing."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from crm_scorecard.alerts.models import DepartmentWebhook, Digest
from crm_scorecard.jobs.tasks import nightly_compute
from crm_scorecard.periods import month_first, month_of, shift_months
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.services import scorecard_import

from .factories import CustomerFactory, OrderFactory

# The metrics engine reads the database over its own connection, and alerts run once the
# compute is committed: real transactions.
pytestmark = pytest.mark.django_db(transaction=True)

LAST_MONTH = shift_months(month_of(date.today()), -1)
CARD = {
    "name": "Sales card",
    "perspectives": [
        {
            "name": "Financial",
            "goals": [
                {
                    "name": "Sell more",
                    "indicators": [
                        # 2 orders last month against a target of 10 from 0: 2 / 10 = 20%, red
                        {"name": "Orders", "metric": "orders", "baseline": 0, "target": 10}
                    ],
                }
            ],
        }
    ],
}


class Receiver(BaseHTTPRequestHandler):
    """A department's webhook receiver: keeps each JSON body it is sent."""

    got: list[dict] = []

    def do_POST(self):
        Receiver.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.got = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/slack"
    server.shutdown()
    server.server_close()


def test_nightly_compute_sends_the_red_alert_once(org, receiver, settings):
    # Given Sales' orders indicator (2 orders last month, target 10: red), Sales' manager
    # with an email address, and Sales' webhook pointing at the local receiver
    settings.CRM_SITE_URL = "https://crm.example.com"
    org.sales_manager.email = "sales-manager@example.com"
    org.sales_manager.save()
    scorecard_import(card=files.parse(CARD), department=org.sales)
    customer = CustomerFactory(department=org.sales)
    day = month_first(LAST_MONTH)
    for hour in (9, 15):
        OrderFactory(
            customer=customer, ordered_at=datetime(day.year, day.month, 10, hour, tzinfo=UTC)
        )
    DepartmentWebhook.objects.create(department=org.sales, url=receiver)
    # When the worker's nightly compute runs
    nightly_compute.call()
    # Then one email went to Sales' manager: the indicator and its goal turned red
    assert [m.to for m in mail.outbox] == [["sales-manager@example.com"]]
    assert mail.outbox[0].subject == "CRM Scorecard: 2 alerts: 2 turned red"
    assert f"Orders turned red: score 20% in {LAST_MONTH}" in mail.outbox[0].body
    # and one message to the webhook, Slack-shaped
    assert len(Receiver.got) == 1
    message = Receiver.got[0]
    assert message["text"] == "CRM Scorecard · Sales: 2 alerts: 2 turned red"
    assert (
        f"• *Orders* turned red — score 20% in {LAST_MONTH} (Sales card)"
        in (message["blocks"][1]["text"]["text"])
    )
    # When the nightly compute runs again, the numbers unchanged
    nightly_compute.call()
    # Then nothing more is sent
    assert len(mail.outbox) == 1
    assert len(Receiver.got) == 1
    assert Digest.objects.filter(user=org.sales_manager).count() == 1
