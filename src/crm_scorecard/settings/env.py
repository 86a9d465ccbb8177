"""Reading settings from the environment: a wrong value stops the start with its name and
what would do, instead of quietly meaning something else."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use 1 or 0")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: use a whole number") from None


def env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated list; blanks dropped."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def trusted_origins(name: str) -> list[str]:
    origins = env_list(name)
    for origin in origins:
        if not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ImproperlyConfigured(
                f"{name}: {origin!r} is not an origin; write scheme and host, e.g. "
                "https://crm.example.com (no path)"
            )
    return origins


def proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto` (meaning: that header says `https`) or `Header: value`, as
    Django's SECURE_PROXY_SSL_HEADER; None when unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    header, _, expected = value.partition(":")
    if not re.fullmatch(r"[A-Za-z0-9-]+", header.strip()):
        raise ImproperlyConfigured(
            f"{name}={value!r}: name the header the proxy sets, e.g. X-Forwarded-Proto"
        )
    meta = "HTTP_" + header.strip().upper().replace("-", "_")
    return (meta, expected.strip() or "https")


def cache_from_url(url: str, *, file_location: str, key_prefix: str) -> dict[str, Any]:
    """Django's cache settings from CACHE_URL: unset, the file cache at `file_location`
    (one machine); `redis://[:PASSWORD@]HOST:PORT/DB` or `rediss://…` (TLS), Django's
    Redis cache, shared by every server; `file:///PATH`, the file cache there."""
    scheme = urlsplit(url).scheme if url else "file"
    if scheme in ("redis", "rediss", "unix"):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": key_prefix,
        }
    if scheme == "file":
        return {
            "BACKEND": "crm_scorecard.filecache.FileCache",  # Django's, culling less often
            "LOCATION": unquote(urlsplit(url).path) if url else file_location,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": {"MAX_ENTRIES": 5000},
        }
    raise ImproperlyConfigured(
        f"CACHE_URL starts with {scheme}://: use redis://HOST:6379/0, rediss://… or file:///PATH"
    )


def mailer_from_url(url: str) -> dict[str, Any]:
    """A MAILERS entry from EMAIL_URL: `smtp+tls://USER:PASSWORD@HOST:587` (STARTTLS),
    `smtp+ssl://…:465` or `smtps://…` (TLS from the start), `smtp://HOST:25` (plain, on
    a trusted network), `console://` (printed: trying things out). User name and password
    are URL-encoded (`%40` for @)."""
    parts = urlsplit(url)
    if parts.scheme == "console":
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    security = {"smtp": None, "smtp+tls": "tls", "smtp+ssl": "ssl", "smtps": "ssl"}
    if parts.scheme not in security or not parts.hostname:
        raise ImproperlyConfigured(
            f"EMAIL_URL starts with {parts.scheme}://: use smtp+tls://USER:PASSWORD@HOST:587, "
            "smtps://USER:PASSWORD@HOST:465, smtp://HOST:25 or console://"
        )
    mode = security[parts.scheme]
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if query.get("tls", "").lower() in _TRUE:
        mode = "tls"
    default_port = {"tls": 587, "ssl": 465, None: 25}[mode]
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": parts.hostname,
            "port": parts.port or default_port,
            "username": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "use_tls": mode == "tls",
            "use_ssl": mode == "ssl",
            "timeout": 30,
        },
    }


# Levels a group may give (accounts.models.Level's values; settings cannot import models).
_LEVELS = ("executive", "manager", "analyst", "agent")


def env_issuer(name: str) -> str:
    """The OpenID provider's issuer address (its discovery document is under it), without
    a trailing slash; '' when unset (single sign-on off). HTTPS, except on this machine."""
    value = os.environ.get(name, "").strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    local = parts.scheme == "http" and (parts.hostname or "") in ("localhost", "127.0.0.1", "::1")
    if not parts.hostname or not (parts.scheme == "https" or local) or parts.query:
        raise ImproperlyConfigured(
            f"{name}={value!r}: give the provider's issuer address, https://…, e.g. "
            "https://sso.example.com/realms/acme (Keycloak) or "
            "https://login.microsoftonline.com/TENANT-ID/v2.0 (Entra ID)"
        )
    return value


def env_group_map(name: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Which of the identity provider's groups give which level and departments here:
    `GROUP=LEVEL:DEPARTMENT|DEPARTMENT,GROUP=LEVEL:…`, e.g.
    `crm-sales-managers=manager:Sales,crm-service=agent:Customer Service,crm-board=executive:`.
    A level other than executive needs a department (it would see nothing without one)."""
    mapping: dict[str, tuple[str, tuple[str, ...]]] = {}
    example = "e.g. crm-sales-managers=manager:Sales|Field Sales"
    value = os.environ.get(name, "").strip()
    if len(value) > 1 and value[0] == value[-1] == '"':
        value = value[1:-1]  # quotes a reader of the file left on (they keep spaces together)
    for entry in value.split(","):
        if not entry.strip():
            continue
        group, equals, grant = (part.strip() for part in entry.partition("="))
        level, colon, departments = (part.strip() for part in grant.partition(":"))
        where = f"{name}: the entry {entry.strip()!r}"
        if not equals or not group or not colon:
            raise ImproperlyConfigured(f"{where} is not GROUP=LEVEL:DEPARTMENTS ({example})")
        if level.lower() not in _LEVELS:
            raise ImproperlyConfigured(
                f"{where}: {level!r} is not a level; use {', '.join(_LEVELS)} ({example})"
            )
        names = tuple(dict.fromkeys(d.strip() for d in departments.split("|") if d.strip()))
        if level.lower() != "executive" and not names:
            raise ImproperlyConfigured(
                f"{where}: a {level.lower()} needs at least one department, separated by | "
                f"({example}); only an executive sees every department without one"
            )
        if group in mapping:
            raise ImproperlyConfigured(f"{where} names the group {group!r} a second time")
        mapping[group] = (level.lower(), names)
    return mapping
