"""Customer pages: search as you type, and the customer 360. Thin: parse the request, call
the crm selectors, render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm_scorecard.crm import selectors


def customer_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    results = selectors.customer_search(user=request.user, query=query)
    context = {"query": query, "results": results, "min_chars": selectors.SEARCH_MIN_CHARS}
    if request.headers.get("HX-Request"):
        return render(request, "web/_customer_results.html", context)
    return render(request, "web/customer_search.html", context)


def customer_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    context = selectors.customer_360(user=request.user, external_id=external_id)
    return render(request, "web/customer_detail.html", context)
