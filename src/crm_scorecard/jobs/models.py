"""What the worker keeps in the database: which scheduled runs have been started (so a
restart neither skips nor repeats one, and two workers never start the same), the report
emails people scheduled, and the reports a page asked for in the background."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from crm_scorecard.scorecards.models import Scorecard


class ScheduleRun(models.Model):
    """One scheduled job at one due time, started once: the row is written in the same
    transaction that queues the job, and the pair is unique, so whichever worker writes it
    first runs it and every other worker (or a restart) sees it done."""

    job = models.CharField(max_length=80, help_text="nightly-compute, or report:<id>")
    due_at = models.DateTimeField()
    task_id = models.CharField(max_length=64, blank=True, help_text="the queued task")
    worker = models.CharField(max_length=64, blank=True, help_text="the worker that queued it")
    queued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at", "job"]
        constraints = [
            models.UniqueConstraint(fields=["job", "due_at"], name="jobs_schedulerun_once"),
        ]

    def __str__(self) -> str:
        return f"{self.job} due {self.due_at:%Y-%m-%d %H:%M}"


class Frequency(models.TextChoices):
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every Monday"
    MONTHLY = "monthly", "On the 1st of every month"


class ReportFormat(models.TextChoices):
    PDF = "pdf", "PDF board pack"
    XLSX = "xlsx", "Excel workbook"


class ScheduledReport(models.Model):
    """A scorecard's report mailed on a schedule: the latest month (the month its page
    opens on) as a PDF board pack or an Excel workbook. Each recipient gets the report as
    they would see it themselves; one who can no longer see the scorecard gets nothing."""

    scorecard = models.ForeignKey(
        Scorecard, on_delete=models.CASCADE, related_name="scheduled_reports"
    )
    format = models.CharField(max_length=8, choices=ReportFormat.choices, default=ReportFormat.PDF)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.MONTHLY)
    breakdown = models.CharField(
        max_length=60,
        blank=True,
        help_text="optionally, each metric indicator broken down by this dimension",
    )
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="scheduled_reports_received"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="scheduled_reports_created",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["scorecard__name", "pk"]

    def __str__(self) -> str:
        return f"{self.scorecard.name}: {self.get_format_display()}, {self.get_frequency_display().lower()}"

    @property
    def job(self) -> str:
        return f"report:{self.pk}"


class PageJob(models.Model):
    """A report a person asked for on a page, made by the worker instead of holding their
    request: its progress, then the file, which only that person can fetch."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the worker"
        RUNNING = "running", "Being made"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE)
    format = models.CharField(max_length=8)
    period = models.CharField(max_length=7, blank=True)
    breakdowns = models.JSONField(default=list)
    table = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    message = models.TextField(blank=True, help_text="why it failed, in words for the reader")
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=120, blank=True)
    content = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["format", "status", "-finished_at"])]

    def __str__(self) -> str:
        return f"{self.format} of {self.scorecard_id} for {self.user_id}: {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
