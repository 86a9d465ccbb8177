"""Complaint pages: logging from the customer 360, the department's queue (and the queue as
CSV), one complaint's history with its next steps. Thin: parse, call crm.complaints, render."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from crm_scorecard.crm import complaints as svc
from crm_scorecard.crm.models import Complaint
from crm_scorecard.crm.selectors import customer_get
from crm_scorecard.errors import Invalid
from crm_scorecard.reports.exports import CONTENT_TYPES, Format
from crm_scorecard.reports.tables import Cell, csv_bytes

from ..complaint_forms import ComplaintLogForm, ComplaintMoveForm
from .shared import attachment


def complaint_queue(request: HttpRequest) -> HttpResponse:
    rows, total = svc.complaint_queue(user=request.user)
    return render(
        request,
        "web/complaint_queue.html",
        {
            "rows": rows,
            "total": total,
            "overdue": sum(1 for r in rows if r.overdue),
            "sla": svc.service_level_hours(),
        },
    )


def _when(moment: datetime | None) -> str | None:
    """A moment in the site's time zone with its offset (the page shows the same clock)."""
    return None if moment is None else timezone.localtime(moment).isoformat(timespec="minutes")


def complaint_queue_csv(request: HttpRequest) -> HttpResponse:
    """The queue's table as CSV: the same complaints, in the same order, as the page shows
    that user. A complaint with no service level says so instead of a due time."""
    rows, _ = svc.complaint_queue(user=request.user)
    header = ["due_at", "overdue", "complaint", "customer", "customer_id", "category"]
    header += ["severity", "status", "department", "opened_at"]
    table: list[list[Cell]] = [
        [
            _when(r.due_at) or "no service level",
            "yes" if r.overdue else "no",
            r.complaint.external_id,
            r.complaint.customer.full_name,
            r.complaint.customer.external_id,
            r.complaint.get_category_display(),
            r.complaint.get_severity_display(),
            r.complaint.get_status_display(),
            r.complaint.department.name,
            _when(r.complaint.opened_at),
        ]
        for r in rows
    ]
    return attachment(
        filename=f"complaints-{timezone.localdate().isoformat()}.csv",
        content_type=CONTENT_TYPES[Format.CSV],
        content=csv_bytes(header, table),
    )


def complaint_new(request: HttpRequest, external_id: str) -> HttpResponse:
    customer = customer_get(user=request.user, external_id=external_id)
    if not svc.complaint_may_log(user=request.user):
        raise PermissionDenied("Only agents and managers log complaints.")
    form = ComplaintLogForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            complaint = svc.complaint_log(
                actor=request.user, customer=customer, **form.cleaned_data
            )
        except (Invalid, ValidationError) as exc:
            _add_errors(form, exc)
        else:
            messages.success(
                request,
                f"Complaint {complaint.external_id} logged for {complaint.department}.",
            )
            return redirect("customer-detail", external_id=customer.external_id)
    return render(
        request,
        "web/complaint_new.html",
        {"customer": customer, "form": form},
        status=400 if request.method == "POST" else 200,
    )


def complaint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    complaint = svc.complaint_get(user=request.user, pk=pk)
    may_move = svc.complaint_may_move(user=request.user, complaint=complaint)
    form = ComplaintMoveForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not may_move:
            raise PermissionDenied("Only agents and managers of the responsible department may.")
        if form.is_valid():
            try:
                _step(request, complaint, form.cleaned_data)
            except (Invalid, ValidationError) as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, "Recorded.")
                return redirect("complaint-detail", pk=complaint.pk)
        status = 400
    return render(
        request,
        "web/complaint_detail.html",
        {
            "complaint": complaint,
            "events": svc.complaint_events(complaint=complaint),
            "due_at": svc.complaint_due_at(complaint),
            "overdue": svc.complaint_overdue(complaint),
            "may_move": may_move,
            "targets": svc.complaint_targets(complaint=complaint),
            "form": form,
        },
        status=status,
    )


def _step(request: HttpRequest, complaint: Complaint, data: dict[str, Any]) -> None:
    if data["to_status"]:
        svc.complaint_move(
            actor=request.user, complaint=complaint, to_status=data["to_status"], note=data["note"]
        )
    else:
        svc.complaint_note(actor=request.user, complaint=complaint, note=data["note"])


def _add_errors(form: Any, exc: Invalid | ValidationError) -> None:
    if isinstance(exc, Invalid):
        form.add_error(None, str(exc))
    elif hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
