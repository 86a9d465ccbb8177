"""Rating sheet pages: the customer's public sheet (reached by its link, no sign-in) and the
page on which an employee issues a link from the customer 360. Thin: parse, call the
surveys selectors and services, render."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from crm_scorecard.accounts.models import User
from crm_scorecard.crm.selectors import customer_get
from crm_scorecard.surveys import selectors, services
from crm_scorecard.surveys.forms import RatingLinkForm, RatingSheetForm
from crm_scorecard.surveys.models import LinkStatus, RatingLink

CLOSED_STATUS = {"answered": 410, "expired": 410, "unknown": 404}


def _sheet_response(
    request: HttpRequest, template: str, context: dict, status: int
) -> HttpResponse:
    response = render(request, template, context, status=status)
    response["Content-Language"] = translation.get_language()
    response["X-Robots-Tag"] = "noindex, nofollow"
    add_never_cache_headers(response)  # the page carries a personal link; keep it out of caches
    return response


def _closed(request: HttpRequest, status: str) -> HttpResponse:
    return _sheet_response(
        request, "surveys/closed.html", {"status": status}, CLOSED_STATUS[status]
    )


@login_not_required  # the link is the customer's credential; see PagesRequireLogin
@require_http_methods(["GET", "POST"])
def rating_sheet(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = selectors.rating_link_by_token(token=token)
    except RatingLink.DoesNotExist:
        # Changed, guessed or made up: the same answer, in the visitor's browser language.
        with translation.override(translation.get_language_from_request(request)):
            return _closed(request, "unknown")
    with translation.override(link.language or settings.RATING_SHEET_LANGUAGE):
        status = selectors.rating_link_status(link=link)
        if status != LinkStatus.OPEN:
            return _closed(request, status)
        form = RatingSheetForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                services.rating_sheet_answer(token=token, **form.cleaned_data)
            except services.SheetClosed as closed:
                return _closed(request, closed.status)
            return _sheet_response(request, "surveys/thanks.html", {}, 200)
        context = {"form": form, "link": link}
        return _sheet_response(
            request, "surveys/sheet.html", context, 400 if form.is_bound else 200
        )


@require_http_methods(["GET", "POST"])
def rating_link_new(request: HttpRequest, external_id: str) -> HttpResponse:
    customer = customer_get(user=request.user, external_id=external_id)
    orders, interactions = selectors.rating_subjects(customer=customer)
    form = RatingLinkForm(
        request.POST if request.method == "POST" else None,
        orders=orders,
        interactions=interactions,
    )
    issued = None
    emailed_to = ""
    status = 200
    if form.is_bound:
        if form.is_valid():
            issued = services.rating_link_create(
                customer=customer,
                created_by=request.user if isinstance(request.user, User) else None,
                language=form.cleaned_data["language"],
                **form.subject(),
            )
            if form.cleaned_data["send_email"] and customer.email:
                emailed_to = services.rating_link_email(issued=issued)
        else:
            status = 400
    context = {
        "customer": customer,
        "form": form,
        "issued": issued,
        "emailed_to": emailed_to,
        "links": selectors.rating_links_of(user=request.user, customer=customer),
    }
    return render(request, "web/survey_link.html", context, status=status)
