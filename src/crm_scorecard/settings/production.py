"""Settings for production: everything secret or host-specific comes from the environment
(`.env.example` lists it all), and HTTPS is required unless the environment says otherwise.
The knobs every environment shares (ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS,
SECURE_PROXY_SSL_HEADER, DATABASE_URL, CACHE_URL, EMAIL_URL, CRM_CURRENCY, TIME_ZONE,
LOG_LEVEL) are read in `base`."""

import os

from .base import *  # noqa: F403
from .env import env_bool, env_int

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False

# HTTPS only: plain-HTTP requests are redirected (set SECURE_SSL_REDIRECT=0 when the proxy
# redirects already); /healthz and /readyz answer over plain HTTP (health.ProbesFirst).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# HSTS: browsers remember to use HTTPS only. Starts at a minute, so a mistake is soon
# forgotten; raise SECURE_HSTS_SECONDS to 31536000 (a year) once HTTPS works everywhere.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# `crm-scorecard demo` adds users whose password is `demo`: never here (accounts.guards).
DEMO_ALLOWED = False
