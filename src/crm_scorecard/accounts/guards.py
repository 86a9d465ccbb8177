"""Checks that keep a convenience from becoming a way in: the demo's well-known logins."""

from __future__ import annotations

from collections.abc import Collection

from django.conf import settings
from django.core.management.base import CommandError
from django.db import DatabaseError, connection

from .models import User

SHOWN = 5  # real usernames named in the refusal


def demo_allowed(*, demo_usernames: Collection[str]) -> str | None:
    """None when `crm-scorecard demo` may add its users (password `demo`, `ceo` a superuser)
    to this database; otherwise why not, in words the operator can act on.

    Refused under settings that say so (`DEMO_ALLOWED = False`, as production's do) and on
    a database holding any user the demo would not have created: its users would become a
    way into real data."""
    if not getattr(settings, "DEMO_ALLOWED", True):
        return (
            f"The demo is refused under these settings ({settings.SETTINGS_MODULE}): it adds "
            f"{len(demo_usernames)} users whose password is 'demo', one of them a superuser. "
            "Run it with the default settings against a database of its own."
        )
    try:
        if User._meta.db_table not in connection.introspection.table_names():
            return None  # a new database: the demo migrates it first
        others = list(
            User.objects.exclude(username__in=list(demo_usernames))
            .order_by("username")
            .values_list("username", flat=True)[: SHOWN + 1]
        )
    except DatabaseError as exc:
        return f"Cannot tell whether this database holds real users ({exc}); the demo is refused."
    if not others:
        return None
    named = ", ".join(others[:SHOWN]) + (", ..." if len(others) > SHOWN else "")
    return (
        f"This database holds users the demo did not create ({named}): the demo would add "
        f"{len(demo_usernames)} users whose password is 'demo', one of them a superuser. "
        "Run it against a database of its own, e.g. "
        "DATABASE_URL=sqlite:///demo.sqlite3 crm-scorecard demo."
    )


def demo_guard(*, demo_usernames: Collection[str]) -> None:
    """For `crm-scorecard demo`, before it touches the database: stop (exit status 1) with
    the reason when the demo's users must not be added here."""
    reason = demo_allowed(demo_usernames=demo_usernames)
    if reason is not None:
        raise CommandError(reason)
