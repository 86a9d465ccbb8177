"""Settings for production: everything secret or host-specific comes from the environment."""

import os

from .base import *  # noqa: F403

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
SESSION_COOKIE_SECURE = os.environ.get("SECURE_COOKIES", "1") == "1"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# `crm-scorecard demo` adds users whose password is `demo`: never here (accounts.guards).
DEMO_ALLOWED = False
