"""How a digest reaches people: an email (plain text and HTML, everything a person typed
escaped in the HTML) and a department's webhook (JSON that Slack, and tools that speak its
incoming-webhook format, show: `text` and `blocks`, names escaped for Slack's mrkdwn)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

SHOWN = 40  # alerts listed in one message; the rest are counted ("and 12 more")
WEBHOOK_TIMEOUT = 5  # seconds: a slow receiver must not hold up the run


def site_url(path: str) -> str:
    return f"{settings.CRM_SITE_URL.rstrip('/')}{path}"


def summary(items: Sequence[dict[str, Any]]) -> str:
    """'3 alerts: 2 turned red, 1 value due'."""
    counts: dict[str, int] = {}
    for item in items:
        change = str(item["change"]).split(" (")[0]
        counts[change] = counts.get(change, 0) + 1
    parts = ", ".join(f"{n} {change}" for change, n in counts.items())
    return f"{len(items)} alert{'s' if len(items) != 1 else ''}: {parts}"


# ---- email ----------------------------------------------------------------------------------


def email_message(*, to: str, items: Sequence[dict[str, Any]]) -> EmailMultiAlternatives:
    """One person's digest as an email; the HTML part is rendered with autoescaping."""
    context = {
        "items": [item | {"url": site_url(item["path"])} for item in items[:SHOWN]],
        "more": max(0, len(items) - SHOWN),
        "summary": summary(items),
        "alerts_url": site_url("/alerts/"),
    }
    text = render_to_string("alerts/digest_email.txt", context)
    html = render_to_string("alerts/digest_email.html", context)
    message = EmailMultiAlternatives(
        subject=f"CRM Scorecard: {summary(items)}"[:200], body=text, to=[to]
    )
    message.attach_alternative(html, "text/html")
    return message


# ---- webhook --------------------------------------------------------------------------------


def mrkdwn(text: str) -> str:
    """Text for Slack's mrkdwn: &, < and > escaped as Slack asks, so a name cannot make a
    link, a mention (<!channel>) or broken markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(*, department: str, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A department's alerts of one run as a Slack-compatible message."""
    head = f"CRM Scorecard · {department}: {summary(items)}"
    lines = [
        f"• *{mrkdwn(item['name'])}* {mrkdwn(item['change'])} — {mrkdwn(item['detail'])}"
        + (f" ({mrkdwn(item['scorecard'])})" if item.get("scorecard") else "")
        + f" <{site_url(item['path'])}|open>"
        for item in items[:SHOWN]
    ]
    more = len(items) - SHOWN
    if more > 0:
        lines.append(f"… and {more} more: <{site_url('/alerts/')}|all alerts>")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150]}}
    ]
    # A section holds at most 3,000 characters: lines go in as many sections as needed.
    chunk: list[str] = []
    for line in lines:
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
            chunk = []
        chunk.append(line[:2900])
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
    return {"text": mrkdwn(head), "blocks": blocks}


def webhook_post(*, url: str, payload: dict[str, Any]) -> None:
    """POST the payload as JSON; raises OSError (urllib's errors are OSErrors) unless the
    receiver answers 2xx."""
    if not url.lower().startswith(("https://", "http://")):
        raise OSError(f"{url!r} is not an http(s) address")
    request = urllib.request.Request(  # the scheme is checked above
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "crm-scorecard-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as answer:
        if not 200 <= answer.status < 300:
            raise OSError(f"answered {answer.status}")
