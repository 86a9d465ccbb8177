from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from crm_scorecard.accounts.models import ApiToken, User
from crm_scorecard.accounts.services import (
    TOKEN_DAYS,
    token_create,
    token_max_days,
    token_revoke,
)
from crm_scorecard.cli.base import ProductCommand


def _state(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= timezone.now() else "active"


def _when(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "never"


class Command(ProductCommand):
    help = (
        "Personal API tokens: create one for a user (its key is printed once), list them, "
        "revoke one. A script sends the key as 'Authorization: Bearer <key>' and sees what "
        "its user sees."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new token; prints its key, only this once")
        create.add_argument("--user", required=True, help="the username the token acts as")
        create.add_argument(
            "--days",
            type=int,
            default=TOKEN_DAYS,
            help=f"how long it works (default {TOKEN_DAYS}; at most API_TOKEN_MAX_DAYS)",
        )
        create.add_argument("--name", default="command line", help="what the token is for")
        listing = sub.add_parser("list", help="tokens with their state and last use")
        listing.add_argument("--user", help="only this user's tokens")
        revoke = sub.add_parser("revoke", help="stop a token for good")
        revoke.add_argument("id", type=int, help="the token's id, as `tokens list` shows")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _user(self, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"--user: no user named {username!r}")
        return user

    def _create(self, options: dict[str, Any]) -> None:
        user = self._user(options["user"])
        created = token_create(user=user, name=options["name"], days=options["days"])
        token = created.token
        # The key alone on stdout, so `KEY=$(crm-scorecard tokens create ...)` keeps it.
        self.stderr.write(
            f"token {token.pk} {token.name!r} for {user.username}, "
            f"expires {_when(token.expires_at)} (at most {token_max_days()} days). "
            "Its key follows, shown only this once:"
        )
        self.stdout.write(created.key)

    def _list(self, options: dict[str, Any]) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("user__username", "-pk")
        if options["user"]:
            tokens = tokens.filter(user=self._user(options["user"]))
        rows = [
            (
                str(t.pk),
                t.user.username,
                t.name,
                f"{t.prefix}…",
                _state(t),
                _when(t.expires_at),
                _when(t.last_used_at),
            )
            for t in tokens
        ]
        if not rows:
            self.stdout.write("no tokens")
            return
        header = ("id", "user", "name", "key", "state", "expires", "last used")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))

    def _revoke(self, options: dict[str, Any]) -> None:
        token = ApiToken.objects.select_related("user").filter(pk=options["id"]).first()
        if token is None:
            raise CommandError(f"no token with id {options['id']}")
        was = _state(token)
        token_revoke(token=token)
        note = " (it was already revoked)" if was == "revoked" else ""
        self.stdout.write(f"revoked token {token.pk} {token.name!r} of {token.user.username}{note}")
