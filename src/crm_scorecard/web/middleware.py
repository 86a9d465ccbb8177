"""Every page requires signing in, except the API, which answers 401 itself."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponseBase


class PagesRequireLogin(LoginRequiredMiddleware):
    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/"):
            return None  # the API's own authentication answers 401, not a redirect to a form
        return super().process_view(request, view_func, view_args, view_kwargs)
