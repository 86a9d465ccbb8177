"""Settings shared by every environment; overlays read the rest from the environment."""

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from .env import (
    cache_from_url,
    env_bool,
    env_group_map,
    env_int,
    env_issuer,
    env_list,
    mailer_from_url,
    proxy_ssl_header,
    trusted_origins,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CRM_DATA_DIR", Path.cwd())).resolve()

SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-dev-key-change-me")
DEBUG = os.environ.get("DEBUG", "") == "1"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

# Behind a reverse proxy that ends HTTPS: the header it sets to say the browser used HTTPS
# (e.g. SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto), so sign-in's CSRF check compares the
# browser's https:// origin with an https:// site; and the origins browsers use when the
# proxy passes on another host name (CSRF_TRUSTED_ORIGINS=https://crm.example.com).
# Set the header only behind a proxy that always sets it, or a browser could claim HTTPS.
SECURE_PROXY_SSL_HEADER = proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
CSRF_TRUSTED_ORIGINS = trusted_origins("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "crm_scorecard.accounts",
    "crm_scorecard.crm",
    "crm_scorecard.clv",
    "crm_scorecard.segments",
    "crm_scorecard.voc",
    "crm_scorecard.metrics",
    "crm_scorecard.scorecards",
    "crm_scorecard.surveys",
    "crm_scorecard.alerts",
    "crm_scorecard.jobs",
    "crm_scorecard.web",
    "crm_scorecard.cli",
    "ninja",
    "axes",
    "simple_history",  # the audit trail of scorecards (scorecards.history)
    "django_tasks_db",  # the background jobs' queue, in the app database (jobs)
]

MIDDLEWARE = [
    "crm_scorecard.requestlog.RequestIdMiddleware",  # first: every log line of a request names it
    "crm_scorecard.health.ProbesFirst",  # /healthz, /readyz: before the host check and redirect
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm_scorecard.web.middleware.PagesRequireLogin",
    # The audit trail records the signed-in user of the request as who made a change.
    "simple_history.middleware.HistoryRequestMiddleware",
    "crm_scorecard.web.middleware.ScopeOncePerRequest",
    "crm_scorecard.web.middleware.DomainErrorsAsPages",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: answers locked-out sign-ins
]

# The audit trail cannot be changed from the app: the admin shows history, never reverts it.
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_EDIT = False

# Content-Security-Policy: scripts and styles only from this site's own files (or carrying
# the request's nonce), so text a user stored can never run as script, even if a template
# or chart let it through as HTML. ECharts needs no eval and sets styles through the DOM,
# which the policy allows; htmx's own inline <style> is switched off in web/base.html.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

ROOT_URLCONF = "crm_scorecard.urls"
WSGI_APPLICATION = "crm_scorecard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

DEFAULT_SQLITE_URL = f"sqlite:///{DATA_DIR / 'crm-scorecard.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_SQLITE_URL),
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,  # a connection the server or a proxy dropped is reopened
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the web app read while a long import or seed writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is refused for AXES_COOLOFF_TIME, on the sign-in
# page and the admin alike; other people, and the same person from elsewhere, still sign in.
# A success clears the count. `crm-scorecard axes_reset_username NAME` (or deleting the
# attempt in the admin) lifts a lockout early.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# A return from the single sign-on provider is no password guess (accounts/oidc.py).
AXES_WHITELIST_CALLABLE = "crm_scorecard.accounts.oidc.not_a_password"

# Single sign-on with OpenID Connect (accounts/oidc.py, README "Single sign-on"): off unless
# OIDC_ISSUER names the company's identity provider; local accounts keep working either way.
# The provider's endpoints and keys come from its discovery document under the issuer.
OIDC_ISSUER = env_issuer("OIDC_ISSUER")
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "").strip()
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "").strip()
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "").strip() or "single sign-on"
OIDC_RP_SCOPES = os.environ.get("OIDC_SCOPES", "").strip() or "openid email profile"
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_SIGN_ALGO", "").strip() or "RS256"
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "").strip() or "groups"
# The claim a new user's name here is made from (once: it never changes afterwards).
OIDC_USERNAME_CLAIM = os.environ.get("OIDC_USERNAME_CLAIM", "").strip() or "preferred_username"
# group -> (level, department names): who may sign in, and with what scope.
OIDC_GROUP_MAP = env_group_map("OIDC_GROUP_MAP")
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)  # seconds to wait for the provider
OIDC_USE_PKCE = True
if OIDC_ISSUER:
    _missing = [
        name
        for name, value in [
            ("OIDC_CLIENT_ID", OIDC_RP_CLIENT_ID),
            ("OIDC_CLIENT_SECRET", OIDC_RP_CLIENT_SECRET),
            ("OIDC_GROUP_MAP", OIDC_GROUP_MAP),
        ]
        if not value
    ]
    if _missing:
        raise ImproperlyConfigured(
            f"OIDC_ISSUER is set, so single sign-on needs {' and '.join(_missing)} too "
            "(.env.example says what each holds)"
        )
    if not OIDC_RP_SIGN_ALGO.startswith(("RS", "ES", "PS")):
        raise ImproperlyConfigured(
            f"OIDC_SIGN_ALGO={OIDC_RP_SIGN_ALGO!r}: use the provider's public-key algorithm, "
            "e.g. RS256 (the default), ES256 or PS256"
        )
    AUTHENTICATION_BACKENDS.append("crm_scorecard.accounts.oidc.SignInBackend")

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# One cache shared by every server process on the machine (files under the data folder,
# nothing to run): scored scorecards and rendered dashboards are keyed by what they were
# computed from (see scorecards/signals.py), and sessions are read from it and written
# through to the database, so a sign-out in one process holds in all. The key prefix names
# the database, so two databases served from one data folder never share an entry.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
_db = DATABASES["default"]
# Several servers share one cache through Redis: CACHE_URL=redis://HOST:6379/0 (needs
# `pip install 'crm-scorecard[redis]'`); the keys are the same either way.
CACHES = {
    "default": cache_from_url(
        os.environ.get("CACHE_URL", ""),
        file_location=os.environ.get("CRM_CACHE_DIR") or str(DATA_DIR / "crm-scorecard-cache"),
        key_prefix=re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{_db.get('HOST') or ''}{_db['NAME']}"),
    )
}

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None  # set for collectstatic in production
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve straight from the app folders: `crm-scorecard serve` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The currency money is shown in (ISO code; EUR, USD, GBP, JPY, CHF, INR get their symbol).
CRM_CURRENCY = os.environ.get("CRM_CURRENCY", "EUR")

# Complaint service level: hours from logging to resolution, per severity. The environment
# may change some, e.g. CRM_COMPLAINT_SLA_HOURS="critical=2,high=12".
CRM_COMPLAINT_SLA_HOURS = {"critical": 4, "high": 24, "medium": 72, "low": 168} | {
    name.strip(): int(hours)
    for name, _, hours in (
        item.partition("=")
        for item in os.environ.get("CRM_COMPLAINT_SLA_HOURS", "").split(",")
        if item.strip()
    )
}

# Rating sheets (surveys): how many days a link stays open, the language of a sheet whose
# link names none, and the address links start with (the one customers can reach).
RATING_LINK_DAYS = int(os.environ.get("RATING_LINK_DAYS", "30"))
RATING_SHEET_LANGUAGE = os.environ.get("RATING_SHEET_LANGUAGE", "en")
CRM_SITE_URL = os.environ.get("CRM_SITE_URL", "http://127.0.0.1:8000")
# The longest a personal API token may work, in days (a new one works 90 unless told).
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365)
# Mail (rating sheet links) is printed to the console unless EMAIL_URL (see settings/env.py:
# smtp+tls://USER:PASSWORD@HOST:587) or EMAIL_HOST names an SMTP server.
_mailer: dict[str, Any]
if os.environ.get("EMAIL_URL"):
    _mailer = mailer_from_url(os.environ["EMAIL_URL"])
elif os.environ.get("EMAIL_HOST"):
    _mailer = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ["EMAIL_HOST"],
            "port": env_int("EMAIL_PORT", 587),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS", True),
        },
    }
else:
    _mailer = {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
MAILERS = {"default": _mailer}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# Background jobs (Django's task framework): queued in the app database, run by
# `crm-scorecard worker` (jobs app), which also keeps the schedule: the nightly compute at
# CRM_COMPUTE_AT and the scheduled report emails at CRM_REPORTS_AT, local time (TIME_ZONE).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
CRM_COMPUTE_AT = os.environ.get("CRM_COMPUTE_AT", "02:00")
CRM_REPORTS_AT = os.environ.get("CRM_REPORTS_AT", "06:00")

# Logs go to stderr (where gunicorn, systemd and containers collect them), each line with
# time, level, logger and the request's id (the X-Request-ID header the proxy sent, or a
# new one, returned in the answer); a server error is logged with its traceback.
# LOG_LEVEL=INFO shows more; the default keeps commands quiet (warnings and errors only).
LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "crm_scorecard.requestlog.RequestIdFilter"}},
    "formatters": {
        "line": {
            "format": "%(asctime)s %(levelname)s %(name)s [request %(request_id)s] %(message)s",
        }
    },
    "handlers": {
        "stderr": {
            "class": "crm_scorecard.requestlog.StderrHandler",
            "filters": ["request_id"],
            "formatter": "line",
        }
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    # Django's own handlers (the console when DEBUG, mail to ADMINS) make way for the one above.
    "loggers": {"django": {"handlers": [], "level": LOG_LEVEL, "propagate": True}},
}
