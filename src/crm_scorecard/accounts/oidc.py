"""Single sign-on with OpenID Connect: people sign in with the company's identity provider
(Entra ID, Okta, Keycloak, Google…) through the authorization-code flow of
mozilla-django-oidc, and their groups there decide their level and departments here.

On from the settings (`OIDC_ISSUER`, settings/base.py); the provider's endpoints and keys
come from its discovery document. The ID token's signature, issuer, audience, expiry and
nonce are checked. At every sign-in the person's groups are mapped again
(`OIDC_GROUP_MAP`), so someone moved in the directory moves here; someone in no mapped
group is refused and keeps no departments here. A person is known by the provider's
lasting id for them (`SignInIdentity`), so their username never changes; a local account
with the same name stays a separate account (nobody can take it over by naming
themselves after it at the provider)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from .models import Department, Level, SignInIdentity, User

log = logging.getLogger(__name__)

# Highest first: a person in several mapped groups gets the highest of their levels.
RANK = [Level.EXECUTIVE, Level.MANAGER, Level.ANALYST, Level.AGENT]
# How long the provider's discovery document is kept before it is read again.
DISCOVERY_SECONDS = 3600


def enabled() -> bool:
    return bool(getattr(settings, "OIDC_ISSUER", ""))


class SignInRefused(Exception):
    """Why a person who came back from the identity provider is not signed in here; the
    text is shown to them."""


# ---- the provider -----------------------------------------------------------------------

_discovered: dict[str, tuple[float, dict[str, Any]]] = {}


def provider() -> dict[str, Any]:
    """The provider's discovery document (endpoints, keys' address), read from
    `OIDC_ISSUER/.well-known/openid-configuration` and kept for an hour."""
    issuer = settings.OIDC_ISSUER
    kept = _discovered.get(issuer)
    if kept and kept[0] > time.monotonic():
        return kept[1]
    address = f"{issuer}/.well-known/openid-configuration"
    try:
        answer = requests.get(address, timeout=settings.OIDC_TIMEOUT)
        answer.raise_for_status()
        document = answer.json()
    except (requests.RequestException, ValueError) as exc:
        log.error("OIDC discovery at %s failed: %s", address, exc)
        raise SignInRefused(
            "The identity provider cannot be reached just now; try again in a moment. "
            "(An administrator finds the details in the log.)"
        ) from None
    needed = ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"]
    missing = [key for key in needed if not isinstance(document.get(key), str)]
    if document.get("issuer") != issuer or missing:
        log.error(
            "OIDC discovery at %s: issuer %r (OIDC_ISSUER is %r), missing %s",
            address,
            document.get("issuer"),
            issuer,
            missing,
        )
        raise SignInRefused(
            "The identity provider's description does not match this site's settings; "
            "an administrator finds the details in the log."
        )
    _discovered[issuer] = (time.monotonic() + DISCOVERY_SECONDS, document)
    return dict(document)


# ---- from groups to a scope -------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """What a person's groups give them here: a level and departments (by name)."""

    level: Level
    departments: tuple[str, ...]
    groups: tuple[str, ...]  # the mapped groups it comes from


def groups_in(claims: Mapping[str, Any]) -> list[str]:
    """The groups the provider lists for the person (`OIDC_GROUPS_CLAIM`): a list of names,
    or one name; a dotted claim name reaches inside an object (Keycloak's
    `realm_access.roles`)."""
    value: Any = claims
    for part in settings.OIDC_GROUPS_CLAIM.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str | int)]
    return []


def grant_for(
    groups: Iterable[str], group_map: Mapping[str, tuple[str, tuple[str, ...]]]
) -> Grant | None:
    """The level and departments `groups` give by `group_map` (`OIDC_GROUP_MAP`): the
    highest of their levels and all their departments; None when no group is mapped."""
    mapped = [(group, group_map[group]) for group in dict.fromkeys(groups) if group in group_map]
    if not mapped:
        return None
    level = min((Level(level) for _, (level, _) in mapped), key=RANK.index)
    departments = tuple(dict.fromkeys(d for _, (_, names) in mapped for d in names))
    return Grant(level=level, departments=departments, groups=tuple(g for g, _ in mapped))


def _username(claims: Mapping[str, Any]) -> str:
    """A new user's name here: the `OIDC_USERNAME_CLAIM` (or email, or sub) in the
    characters a username may hold, made unique with -2, -3… (a local account keeps its
    name)."""
    wanted = ""
    for claim in (settings.OIDC_USERNAME_CLAIM, "email", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            wanted = value.strip()
            break
    base = re.sub(r"[^\w.@+-]+", "-", wanted).strip("-")[:140] or "user"
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _profile(claims: Mapping[str, Any]) -> dict[str, str]:
    """Email and names as the provider has them now (an email that is not one is left out)."""
    email = claims.get("email")
    try:
        validate_email(email)
    except ValidationError:
        email = ""
    given, family = claims.get("given_name"), claims.get("family_name")
    if not isinstance(given, str) and isinstance(claims.get("name"), str):
        given, _, family = str(claims["name"]).partition(" ")
    return {
        "email": str(email)[:254],
        "first_name": given[:150] if isinstance(given, str) else "",
        "last_name": family[:150] if isinstance(family, str) else "",
    }


def user_sign_in_sync(*, issuer: str, claims: Mapping[str, Any]) -> User:
    """The user who signs in with these claims, created the first time, with the level and
    departments their groups give now and their email and name as the provider has them.
    Raises SignInRefused (and takes their departments away) when no group is mapped."""
    subject = str(claims["sub"])
    groups = groups_in(claims)
    grant = grant_for(groups, settings.OIDC_GROUP_MAP)
    if grant is None:
        # Moved out of every mapped group: their API tokens see nothing from now on.
        # (An executive sees every department whatever their own: the level goes too.)
        for identity in SignInIdentity.objects.filter(issuer=issuer, subject=subject):
            identity.user.departments.clear()
            User.objects.filter(pk=identity.user_id).update(level=Level.AGENT)
        log.warning("OIDC sign-in refused: %s is in no mapped group (groups: %s)", subject, groups)
        raise SignInRefused(
            "Your account at the identity provider is in none of the groups that give access "
            "to CRM Scorecard. Ask your administrator to add you to one."
        )
    with transaction.atomic():
        return _user_sync(issuer=issuer, subject=subject, claims=claims, grant=grant)


def _user_sync(*, issuer: str, subject: str, claims: Mapping[str, Any], grant: Grant) -> User:
    identity = (
        SignInIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    known = {d.name.lower(): d for d in Department.objects.all()}
    missing = [name for name in grant.departments if name.lower() not in known]
    if missing:
        log.error(
            "OIDC sign-in refused: OIDC_GROUP_MAP names departments that do not exist: %s",
            ", ".join(missing),
        )
        raise SignInRefused(
            f"Your group gives access to the department {missing[0]!r}, which does not exist "
            "here yet. Ask your administrator to add it (or to correct the group map)."
        )
    if identity is None:
        user = User(username=_username(claims), **_profile(claims))
        user.set_unusable_password()  # signs in only through the provider
        user.full_clean(exclude=["password"])
        user.save()
        identity = SignInIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    user = identity.user
    if not user.is_active:
        raise SignInRefused("Your account here is switched off. Ask your administrator.")
    for field, value in _profile(claims).items():
        setattr(user, field, value)
    user.level = grant.level
    user.save(update_fields=["email", "first_name", "last_name", "level"])
    user.departments.set([known[name.lower()] for name in grant.departments])
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["last_sign_in_at"])
    log.info(
        "OIDC sign-in: %s as %s, %s of %s (groups %s)",
        subject,
        user.username,
        grant.level,
        ", ".join(grant.departments) or "every department",
        ", ".join(grant.groups),
    )
    return user


# ---- mozilla-django-oidc, told where the provider is ------------------------------------


class SignInBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """Signs in a person the provider sent back with a code: exchanges it for tokens,
    checks the ID token, reads their claims (ID token and userinfo) and maps their groups.
    Answers nothing to a username and password (the local accounts' backend does)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the parent's: its endpoints are settings, ours come from discovery, and only
        # when someone signs in (this backend is also asked to load the signed-in user).
        self.UserModel = User
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if request is None or "nonce" not in kwargs or not enabled():
            return None  # not a return from the provider
        try:
            found = provider()
            self.OIDC_OP_TOKEN_ENDPOINT = found["token_endpoint"]
            self.OIDC_OP_USER_ENDPOINT = found["userinfo_endpoint"]
            self.OIDC_OP_JWKS_ENDPOINT = found["jwks_uri"]
            user: User | None = super().authenticate(request, **kwargs)
        except SignInRefused as exc:
            request.oidc_refusal = str(exc)  # type: ignore[attr-defined]
            return None
        except (requests.RequestException, SuspiciousOperation, jwt.PyJWTError) as exc:
            log.error("OIDC sign-in failed: %s: %s", type(exc).__name__, exc)
            request.oidc_refusal = (  # type: ignore[attr-defined]
                "The identity provider's answer could not be checked, so you are not signed "
                "in. Try again; if it keeps happening, an administrator finds the details in "
                "the log."
            )
            return None
        return user

    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        """The token's claims, once its signature, algorithm, issuer, audience (this site)
        and expiry are right; the parent checks neither issuer nor audience."""
        alg = jwt.get_unverified_header(payload).get("alg")
        if alg != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"token signed with {alg!r}, not {self.OIDC_RP_SIGN_ALGO}")
        try:
            claims: dict[str, Any] = jwt.decode(
                payload,
                key,
                algorithms=[alg],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_ISSUER,
                options={"require": ["iss", "aud", "exp", "sub"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from None
        return claims

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> User | None:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if str(userinfo.get("sub")) != str(payload["sub"]):
            raise SuspiciousOperation("userinfo is about someone else than the ID token")
        # Groups may come in either (Entra ID puts them in the ID token): userinfo is newer.
        claims = {**payload, **userinfo}
        return user_sign_in_sync(issuer=settings.OIDC_ISSUER, claims=claims)

    def get_user(self, user_id: Any) -> User | None:
        user = User.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None


def refused(request: HttpRequest, reason: str, status: int = 403) -> HttpResponse:
    return render(
        request,
        "accounts/sign_in_refused.html",
        {"reason": reason, "provider": settings.OIDC_PROVIDER_NAME},
        status=status,
    )


@method_decorator(login_not_required, name="dispatch")
class SignInStart(OIDCAuthenticationRequestView):  # type: ignore[misc]
    """Sends the browser to the provider's sign-in page (with state, nonce and PKCE)."""

    def __init__(self, **kwargs: Any) -> None:
        View.__init__(self, **kwargs)  # the parent reads endpoints from settings

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider()["authorization_endpoint"]
        except SignInRefused as exc:
            return refused(request, str(exc), status=502)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        response: HttpResponse = super().get(request)
        return response


@method_decorator(login_not_required, name="dispatch")
class SignInReturn(OIDCAuthenticationCallbackView):  # type: ignore[misc]
    """Where the provider sends the browser back: signs the person in, or says why not."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            raise Http404
        try:
            response: HttpResponse = super().get(request)
        except SuspiciousOperation:  # a state this browser never asked for (or used already)
            return refused(
                request, "This sign-in link was used already or has expired. Start again.", 400
            )
        return response

    def login_failure(self) -> HttpResponse:
        request = self.request
        reason = getattr(request, "oidc_refusal", None)
        if reason is None and request.GET.get("error"):
            # Only the error's code, in its own alphabet: the address could be anyone's link,
            # and its free-text description would then be their words on this site's page.
            code = re.sub(r"[^a-z_]", "", request.GET["error"].lower())[:40]
            reason = f"The identity provider did not sign you in (it answered {code!r})."
        if reason is None:
            reason = "You are not signed in: the sign-in took too long or was started elsewhere."
        return refused(request, reason)


def not_a_password(request: HttpRequest | None, credentials: Any = None) -> bool:
    """For django-axes (AXES_WHITELIST_CALLABLE): a return from the identity provider is
    no password guess, so it is neither counted nor locked out; otherwise a few people
    refused for their groups would lock everyone behind the same address out of single
    sign-on. The provider throttles its own sign-ins."""
    path_info = getattr(request, "path_info", None)
    return path_info is not None and path_info == reverse("oidc_authentication_callback")


class SignInPage(LoginView):
    """The sign-in page: local accounts' form, and the provider's button when configured."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        context["sso_provider"] = settings.OIDC_PROVIDER_NAME if enabled() else None
        return context


urlpatterns = [
    path("callback/", SignInReturn.as_view(), name="oidc_authentication_callback"),
    path("authenticate/", SignInStart.as_view(), name="oidc_authentication_init"),
]
