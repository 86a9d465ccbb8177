"""A person's API tokens page: their tokens (never anyone else's), a form that creates one and
shows its key once, on the answer to that POST, and a button that revokes one. Thin: parse,
call `accounts.services`, render. Administrators manage everyone's tokens in the admin."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from crm_scorecard.accounts.models import User
from crm_scorecard.accounts.services import (
    TokenCreated,
    token_create,
    token_get,
    token_revoke,
    tokens_of,
)
from crm_scorecard.errors import Invalid, NotFound

from ..token_forms import TokenForm


def _me(request: HttpRequest) -> User:
    # Signed in (PagesRequireLogin sends anyone else to sign in); the check is for the types.
    if not isinstance(request.user, User):
        raise NotFound("No such page.")
    return request.user


def _refused(form: TokenForm, exc: Invalid) -> None:
    """The service's refusal next to the field it names ("days: ..."), else above the form."""
    field, sep, reason = str(exc).partition(": ")
    if sep and field in form.fields:
        form.add_error(field, reason)
    else:
        form.add_error(None, str(exc))


@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    me = _me(request)
    form = TokenForm(request.POST if request.method == "POST" else None)
    created: TokenCreated | None = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                created = token_create(user=me, **form.cleaned_data)
                form = TokenForm()
            except Invalid as exc:
                _refused(form, exc)
        if created is None:
            status = 400
    context = {
        "form": form,
        "created": created,
        "tokens": tokens_of(user=me),
        "now": timezone.now(),
    }
    response = render(request, "web/api_tokens.html", context, status=status)
    # The answer to a creation holds the key: no cache, browser's or shared, may keep it.
    add_never_cache_headers(response)
    return response


@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    me = _me(request)
    token = token_get(user=me, pk=pk)
    if token.user_id != me.pk:
        # A superuser's selector sees every token; this page is about one's own.
        raise NotFound("No such token.")
    token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) revoked.")
    return redirect("api-tokens")
