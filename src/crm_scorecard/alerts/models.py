"""What alerts remember: who follows what, the last state reported for each subject, the
digests people received in the app, and each department's webhook with its deliveries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm_scorecard.accounts.models import Department
from crm_scorecard.scorecards.models import Goal, Indicator, Scorecard


class Kind(models.TextChoices):
    """What an alert is about."""

    COLOUR = "colour", "Colour change"
    MANUAL = "manual", "Manual value due"
    SLA = "sla", "Complaint past its service level"


class Subscription(models.Model):
    """A person's choice to follow (or, with `active` off, to stop following) a scorecard, a
    goal or an indicator. The most specific choice wins: an indicator's over its goals',
    a goal's over its scorecard's. Without any choice, managers of the scorecard's department
    and an indicator's owner follow it; others do not."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_subscriptions"
    )
    scorecard = models.ForeignKey(Scorecard, null=True, blank=True, on_delete=models.CASCADE)
    goal = models.ForeignKey(Goal, null=True, blank=True, on_delete=models.CASCADE)
    indicator = models.ForeignKey(Indicator, null=True, blank=True, on_delete=models.CASCADE)
    active = models.BooleanField(default=True, help_text="Off: muted, even where on by default.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scorecard__isnull=False, goal__isnull=True, indicator__isnull=True)
                | Q(scorecard__isnull=True, goal__isnull=False, indicator__isnull=True)
                | Q(scorecard__isnull=True, goal__isnull=True, indicator__isnull=False),
                name="subscription_one_subject",
                violation_error_message="Follow one scorecard, goal or indicator.",
            ),
            models.UniqueConstraint(
                fields=["user", "scorecard"],
                condition=Q(scorecard__isnull=False),
                name="subscription_unique_scorecard",
            ),
            models.UniqueConstraint(
                fields=["user", "goal"],
                condition=Q(goal__isnull=False),
                name="subscription_unique_goal",
            ),
            models.UniqueConstraint(
                fields=["user", "indicator"],
                condition=Q(indicator__isnull=False),
                name="subscription_unique_indicator",
            ),
        ]

    def __str__(self) -> str:
        subject = self.indicator or self.goal or self.scorecard
        return f"{self.user} {'follows' if self.active else 'mutes'} {subject}"


class AlertState(models.Model):
    """The last state seen for a subject and a kind of alert (an indicator's colour, a manual
    indicator's due state, a complaint's service level), so a state already reported is
    never reported again."""

    subject_type = models.CharField(max_length=12)  # indicator, goal, complaint
    subject_id = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=12)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["subject_type", "subject_id", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id", "kind"], name="alert_state_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject_type} {self.subject_id} {self.kind}: {self.state}"


class Digest(models.Model):
    """One person's alerts from one run, as the bell and the alerts page show them and as
    one email carries them. `items` holds structured alerts (never rendered HTML)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_digests"
    )
    created_at = models.DateTimeField(db_index=True)
    items = models.JSONField(default=list)
    read_at = models.DateTimeField(null=True, blank=True)
    email_to = models.CharField(max_length=254, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_attempts = models.PositiveIntegerField(default=0)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "read_at"], name="digest_user_unread")]

    def __str__(self) -> str:
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M} ({len(self.items)} alerts)"


class DepartmentWebhook(models.Model):
    """Where a department's alerts are posted as JSON (Slack-compatible: `text` and
    `blocks`), e.g. a Slack or Teams incoming webhook."""

    department = models.OneToOneField(
        Department, on_delete=models.CASCADE, related_name="alert_webhook"
    )
    url = models.URLField(max_length=500, help_text="https:// (or http://) address to post to.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["department__name"]

    def __str__(self) -> str:
        return f"{self.department}: {self.url}"


class WebhookDelivery(models.Model):
    """One run's message to a department's webhook; one that failed is tried again on the
    next run (up to `alerts.services.WEBHOOK_ATTEMPTS` times)."""

    webhook = models.ForeignKey(
        DepartmentWebhook, on_delete=models.CASCADE, related_name="deliveries"
    )
    created_at = models.DateTimeField()
    payload = models.JSONField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.webhook.department} {self.created_at:%Y-%m-%d %H:%M}"
