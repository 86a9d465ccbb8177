"""Who is calling the API: a person signed in to the app (the session cookie), or a script
or another system with a personal API token (`Authorization: Bearer <key>`), acting as the
token's user. Either way `request.user` is that person, so every selector scopes the answer
to their departments exactly as for the pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, django_auth

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


token_auth = TokenAuth()
API_AUTH = [token_auth, django_auth]
"""The token first: it looks only at the Authorization header, so a request without one goes
on to the session, whose CSRF check then applies as for any signed-in browser."""
