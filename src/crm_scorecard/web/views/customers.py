"""Customer pages: search as you type (and its results as CSV), and the customer 360.
Thin: parse the request, call the crm selectors, render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm_scorecard.clv import selectors as clv_selectors
from crm_scorecard.crm import selectors
from crm_scorecard.reports.exports import CONTENT_TYPES, Format
from crm_scorecard.reports.tables import csv_bytes

from .shared import attachment, file_stem


def customer_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    page = selectors.customer_search_page(user=request.user, query=query)
    context = {
        "query": query,
        "results": page.customers,
        "total": page.total,
        "total_is_exact": page.total_is_exact,
        "min_chars": selectors.SEARCH_MIN_CHARS,
    }
    if request.headers.get("HX-Request"):
        return render(request, "web/_customer_results.html", context)
    return render(request, "web/customer_search.html", context)


def customer_search_csv(request: HttpRequest) -> HttpResponse:
    """The results table of `?q=` as CSV: the same customers, in the same order, as the
    page shows that user (the selector keeps to their departments)."""
    query = request.GET.get("q", "")
    results = selectors.customer_search(user=request.user, query=query)
    header = ["customer_id", "name", "email", "phone", "city", "status", "department"]
    rows = [
        [
            c.external_id,
            c.full_name,
            c.email,
            c.phone,
            c.city,
            c.get_status_display(),
            c.department.name,
        ]
        for c in results
    ]
    return attachment(
        filename=f"{file_stem('customers', query) or 'customers'}.csv",
        content_type=CONTENT_TYPES[Format.CSV],
        content=csv_bytes(header, rows),
    )


def customer_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    context = selectors.customer_360(user=request.user, external_id=external_id)
    # The customer was read through the 360's scope, so their value is theirs to see.
    context["value"] = clv_selectors.customer_value(customer=context["customer"])  # type: ignore[arg-type]
    return render(request, "web/customer_detail.html", context)
