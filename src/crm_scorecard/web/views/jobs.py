"""Background work on pages: a report made by the worker while a progress bar shows how far
it is (htmx asks the job's status every second; no script of its own), then the file; and
a scorecard's scheduled report emails. A job belongs to the person who asked for it:
anyone else, and anyone once the scorecard left their departments, gets 404. Thin: parse,
call `jobs.services` / `jobs.selectors`, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm_scorecard.accounts.models import User
from crm_scorecard.errors import Invalid, NotFound
from crm_scorecard.jobs import queue, selectors, services
from crm_scorecard.jobs.models import PageJob
from crm_scorecard.reports.exports import Format

from ..job_forms import ScheduledReportForm
from .shared import attachment

LABELS = {Format.PDF: "PDF board pack", Format.XLSX: "Excel workbook", Format.CSV: "CSV table"}
# After this long in the queue the page says a worker may not be running.
WAITING_SECONDS = 15


def _me(request: HttpRequest) -> User:
    # Signed in (PagesRequireLogin sends anyone else to sign in); the check is for the types.
    if not isinstance(request.user, User):
        raise NotFound("No such page.")
    return request.user


@require_POST
def report_job_new(request: HttpRequest, pk: int) -> HttpResponse:
    """The scorecard page's PDF and workbook buttons (with htmx): queue the report and
    answer with its progress bar; without htmx, go to the job's own page."""
    job = queue.page_job_start(
        user=_me(request),
        pk=pk,
        fmt=request.POST.get("fmt", ""),
        period=request.POST.get("period") or None,
        breakdowns=request.POST.getlist("by"),
        table=request.POST.get("table", ""),
    )
    if request.headers.get("HX-Request"):
        return _job_part(request, job)
    return redirect("job-detail", job_id=job.pk)


@require_GET
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    """A job's progress: the bar alone for htmx's polling, else a page that reloads itself
    (a meta refresh, no script) until the file is ready."""
    job = selectors.page_job_get(user=_me(request), pk=job_id)
    if request.headers.get("HX-Request"):
        return _job_part(request, job)
    response = render(request, "web/jobs/job.html", _job_context(job))
    add_never_cache_headers(response)
    return response


@require_GET
def job_download(request: HttpRequest, job_id: str) -> HttpResponse:
    job = selectors.page_job_get(user=_me(request), pk=job_id)
    if job.status != PageJob.Status.DONE:
        return HttpResponse(
            "The report is not ready yet.", status=409, content_type="text/plain; charset=utf-8"
        )
    return attachment(
        filename=job.filename, content_type=job.content_type, content=selectors.page_job_file(job)
    )


def _job_context(job: PageJob) -> dict[str, object]:
    query: dict[str, object] = {"period": job.period} if job.period else {}
    if job.table:
        query["table"] = job.table
    if job.breakdowns:
        query["by"] = job.breakdowns
    direct = reverse("scorecard-report", args=[job.scorecard_id, job.format])
    waited = (timezone.now() - job.created_at).total_seconds()
    return {
        "job": job,
        "label": LABELS.get(Format(job.format), job.format),
        "progress": selectors.page_job_progress(job),
        "waiting_long": job.status == PageJob.Status.QUEUED and waited > WAITING_SECONDS,
        "direct": f"{direct}?{urlencode(query, doseq=True)}" if query else direct,
    }


def _job_part(request: HttpRequest, job: PageJob) -> HttpResponse:
    response = render(request, "web/jobs/_job.html", _job_context(job))
    add_never_cache_headers(response)
    return response


# ---- scheduled report emails ---------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def report_schedules(request: HttpRequest, pk: int) -> HttpResponse:
    """A scorecard's scheduled reports and a form to add one: for the managers who may
    edit it (403 for others who see it; 404 outside their departments)."""
    me = _me(request)
    scorecard = selectors.scheduled_report_scorecard(user=me, pk=pk)
    form = ScheduledReportForm(
        request.POST if request.method == "POST" else None, scorecard=scorecard
    )
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                services.scheduled_report_create(actor=me, scorecard=scorecard, **form.cleaned_data)
            except Invalid as exc:
                field, sep, reason = str(exc).partition(": ")
                form.add_error(field if sep and field in form.fields else None, reason or str(exc))
            else:
                messages.success(request, "Report scheduled.")
                return redirect("report-schedules", pk=scorecard.pk)
        status = 400
    return render(
        request,
        "web/jobs/schedules.html",
        {
            "scorecard": scorecard,
            "schedules": selectors.scheduled_reports(scorecard=scorecard),
            "form": form,
        },
        status=status,
    )


@require_POST
def report_schedule_delete(request: HttpRequest, pk: int, schedule_pk: int) -> HttpResponse:
    scorecard = selectors.scheduled_report_scorecard(user=_me(request), pk=pk)
    report = selectors.scheduled_reports(scorecard=scorecard).filter(pk=schedule_pk).first()
    if report is None:
        raise NotFound("No such scheduled report.")
    services.scheduled_report_delete(report=report)
    messages.success(request, "Scheduled report stopped.")
    return redirect("report-schedules", pk=scorecard.pk)
