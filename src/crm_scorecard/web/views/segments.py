"""Customers › Segments (RFM segments at a date, the moves since the date before, a chart),
Customers › Cohorts (retention and revenue per customer as a heat map) and saved segments
(list, save, export as CSV). Thin: parse, call the segments selectors and services, render;
every read is scoped to the user's departments by the selectors."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from crm_scorecard.accounts.models import Department
from crm_scorecard.accounts.scope import departments_for
from crm_scorecard.errors import Invalid, NotAllowed, NotFound
from crm_scorecard.metrics.api import currency_symbol
from crm_scorecard.reports.exports import CONTENT_TYPES, Format
from crm_scorecard.reports.tables import csv_bytes
from crm_scorecard.segments import filters as segment_filters
from crm_scorecard.segments import selectors, services
from crm_scorecard.segments.models import RfmSegment

from .shared import attachment, file_stem


def _as_of(request: HttpRequest) -> date | None:
    raw = request.GET.get("as_of", "")
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        raise Invalid(f"as_of: {raw!r} is not a date (YYYY-MM-DD)") from None


def rfm_page(request: HttpRequest) -> HttpResponse:
    summary = selectors.rfm_summary(user=request.user, as_of=_as_of(request))
    chart = {
        "labels": [s.label for s in summary.segments],
        "customers": [s.customers for s in summary.segments],
        "revenue": [s.revenue for s in summary.segments],
        "currency": currency_symbol(),
    }
    return render(
        request,
        "web/segments/rfm.html",
        {"summary": summary, "chart": chart, "as_of": summary.as_of},
    )


def cohorts_page(request: HttpRequest) -> HttpResponse:
    result = selectors.cohorts(user=request.user)
    chart = {
        "cohorts": [c.month for c in result.cohorts],
        "sizes": [c.customers for c in result.cohorts],
        "months": result.months,
        "retention": [c.retention for c in result.cohorts],
        "revenue": [c.revenue_per_customer for c in result.cohorts],
        "currency": currency_symbol(),
    }
    return render(
        request,
        "web/segments/cohorts.html",
        {"result": result, "chart": chart, "months": range(result.months)},
    )


class SavedSegmentForm(forms.Form):
    """A name, the department it belongs to, and the conditions (blank: any)."""

    name = forms.CharField(max_length=80)
    owner = forms.ModelChoiceField(
        queryset=Department.objects.none(), label="Saved for department", empty_label=None
    )
    region = forms.CharField(required=False)
    country = forms.CharField(required=False)
    city = forms.CharField(required=False)
    age_bracket = forms.ChoiceField(
        required=False, choices=[("", "any")] + [(a, a) for a in segment_filters.AGE_LABELS]
    )
    segment = forms.CharField(required=False, label="Customer segment")
    acquisition_channel = forms.CharField(required=False)
    department = forms.ModelChoiceField(
        queryset=Department.objects.none(),
        required=False,
        to_field_name="name",
        label="Customers of department",
        empty_label="any",
    )
    rfm_segment = forms.ChoiceField(
        required=False, label="RFM segment", choices=[("", "any"), *RfmSegment.choices]
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        visible = departments_for(user=user).order_by("name")
        self.fields["owner"].queryset = visible  # type: ignore[attr-defined]
        self.fields["department"].queryset = visible  # type: ignore[attr-defined]

    def conditions(self) -> dict[str, str]:
        data = self.cleaned_data
        found = {f: data.get(f) for f in segment_filters.FIELDS}
        if found.get("department") is not None:
            found["department"] = found["department"].name  # type: ignore[union-attr]
        return {f: str(v).strip() for f, v in found.items() if v not in (None, "")}


def saved_segments_page(request: HttpRequest) -> HttpResponse:
    can_save = selectors.can_save(user=request.user)
    form = SavedSegmentForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if not can_save:
            raise NotAllowed("Only analysts, managers and executives save segments.")
        if form.is_valid():
            try:
                saved = services.saved_segment_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    filters=form.conditions(),
                    department=form.cleaned_data["owner"],
                )
            except Invalid as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Saved segment {saved.name!r}.")
                return redirect("saved-segments")
    labels = dict(RfmSegment.choices)
    return render(
        request,
        "web/segments/saved.html",
        {
            "segments": [
                (
                    s,
                    [
                        (f.replace("_", " "), labels.get(v, v) if f == "rfm_segment" else v)
                        for f, v in s.filters.items()
                    ],
                )
                for s in selectors.saved_segments_visible(user=request.user)
            ],
            "form": form,
            "can_save": can_save,
        },
        status=400 if request.method == "POST" else 200,
    )


def saved_segment_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The customers of a saved segment the user sees, as CSV (cells formula-safe)."""
    segment = selectors.saved_segments_visible(user=request.user).filter(pk=pk).first()
    if segment is None:
        raise NotFound("No such saved segment.")
    rows = selectors.saved_segment_rows(user=request.user, segment=segment)
    return attachment(
        filename=f"{file_stem('segment', segment.name) or 'segment'}.csv",
        content_type=CONTENT_TYPES[Format.CSV],
        content=csv_bytes(selectors.EXPORT_HEADER, rows),
    )
