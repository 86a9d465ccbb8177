"""Who is calling the API: a person signed in to the app (the session cookie), or a script
or another system with a personal API token (`Authorization: Bearer <key>`), acting as the
token's user. Either way `request.user` is that person, so every selector scopes the answer
to their departments exactly as for the pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, SessionAuth

from crm_scorecard.accounts.services import TokenRefused, token_user


class TokenAuth(HttpBearer):
    """A personal API token. A request that sends one is judged by it alone: a revoked,
    expired or unknown token answers 401 with why, and never falls back to a session."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            user = token_user(key=token)
        except TokenRefused as exc:
            raise AuthenticationError(message=str(exc)) from None
        user.scope_memo = {}  # type: ignore[attr-defined]  # as web.middleware does per request
        request.user = user
        return user


class SignedInSession(SessionAuth):
    """The browser session, whose writes need the CSRF token. Without a signed-in session
    there is nothing for CSRF to protect: the request answers 401 like any other, not the
    CSRF refusal's 403."""

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)


token_auth = TokenAuth()
session_auth = SignedInSession()
API_AUTH = [token_auth, session_auth]
"""The token first: it looks only at the Authorization header, so a request without one goes
on to the session, whose CSRF check then applies as for any signed-in browser."""


def refusal(reason: str) -> JsonResponse:
    """The API's 401: why, and that a bearer token (or a session) is wanted."""
    response = JsonResponse({"detail": reason}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="crm-scorecard"'
    return response


def signed_in_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For /api/docs and /api/openapi.json: the same callers as the API itself. A browser
    that is not signed in goes to the sign-in form and back; anyone else gets the 401."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            by_token = token_auth(request)
        except AuthenticationError as exc:
            return refusal(str(exc))
        if by_token is None and not request.user.is_authenticated:
            if "text/html" in request.headers.get("Accept", ""):
                return redirect_to_login(request.get_full_path())
            return refusal("Unauthorized")
        return view(request, *args, **kwargs)

    return checked
