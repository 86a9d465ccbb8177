"""Every page requires signing in, except the API, which answers 401 itself; a request
works out its user's department scope once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from crm_scorecard.accounts.models import User
from crm_scorecard.errors import Invalid, NotFound


class PagesRequireLogin(LoginRequiredMiddleware):
    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/"):
            return None  # the API's own authentication answers 401, not a redirect to a form
        return super().process_view(request, view_func, view_args, view_kwargs)


class ScopeOncePerRequest:
    """Gives the request's signed-in user a memo for `visible_department_ids`, which lives
    as long as the request (the user object is loaded afresh for each one)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if isinstance(user, User) and user.is_authenticated:
            user.scope_memo = {}  # type: ignore[attr-defined]
        return self.get_response(request)  # type: ignore[no-any-return]


class DomainErrorsAsPages:
    """Maps the domain's errors (`crm_scorecard.errors`) for every page, once: no such
    object is the 404 page (which says nothing of what was asked for), a refused request
    is the 400 page with the reason as text. `NotAllowed` is Django's `PermissionDenied`,
    so the 403 page needs nothing here. The API maps the same errors itself
    (`api.endpoints`). A view catches one of these only to show it somewhere better: a
    form's refusal in the form, an unscorable scorecard on its own page."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.path.startswith("/api/"):
            return None
        if isinstance(exception, NotFound):
            raise Http404(str(exception)) from exception
        if isinstance(exception, Invalid):
            return render(request, "400.html", {"reason": str(exception)}, status=400)
        return None
