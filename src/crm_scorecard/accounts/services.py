"""Writes to departments, users and their API tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm_scorecard.errors import Invalid, NotFound

from .models import ApiToken, Department, Level, User
from .scope import Actor

log = logging.getLogger(__name__)


@transaction.atomic
def department_ensure(*, name: str, parent: Department | None = None) -> Department:
    """Create the department if it is new; move it under `parent` if it exists."""
    dept, _ = Department.objects.get_or_create(name=name, defaults={"parent": parent})
    if dept.parent_id != (parent.pk if parent else None):
        dept.parent = parent
        dept.full_clean()
        dept.save(update_fields=["parent"])
    return dept


def _name_free(name: str, *, other_than: Department | None = None) -> None:
    if not name:
        raise ValidationError({"name": "A department needs a name."})
    # Names are unique ignoring letter case: imports and commands find departments that way.
    clash = Department.objects.filter(name__iexact=name)
    if other_than is not None:
        clash = clash.exclude(pk=other_than.pk)
    found = clash.first()
    if found is not None:
        raise ValidationError({"name": f"A department named {found.name!r} already exists."})


@transaction.atomic
def department_create(*, name: str, parent: Department | None = None) -> Department:
    """Add a unit of the company, at the top of the tree or inside `parent`."""
    name = name.strip()
    _name_free(name)
    dept = Department(name=name, parent=parent)
    dept.full_clean()
    dept.save()
    return dept


@transaction.atomic
def department_move(*, department: Department, parent: Department | None) -> Department:
    """Put a department (with everything inside it) under another, or at the top (None).
    A department cannot go inside itself or inside one of its own sub-departments."""
    node = parent
    while node is not None:
        if node.pk == department.pk:
            where = "itself" if parent == department else f"{parent}, which is inside it"
            raise ValidationError({"parent": f"Cannot move {department.name} under {where}."})
        node = node.parent
    department.parent = parent
    department.full_clean()
    department.save(update_fields=["parent"])
    return department


@transaction.atomic
def department_rename(*, department: Department, name: str) -> Department:
    """Give a department a new name; what belongs to it stays with it."""
    name = name.strip()
    _name_free(name, other_than=department)
    department.name = name
    department.full_clean()
    department.save(update_fields=["name"])
    return department


@dataclass
class DepartmentsImported:
    """What a department file did (or would do, on a dry run): names created, names that
    existed (their parent set as given), and names refused with the reason."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


@transaction.atomic
def departments_import(
    *, parents: Mapping[str, str | None], dry_run: bool = False
) -> DepartmentsImported:
    """Create or re-parent many departments at once, as a department file lists them: each
    name with its parent's name (None: at the top). A parent may be another name given here
    or a department that exists; names match ignoring letter case. A name whose parent is
    unknown (or itself refused), or that would end up inside itself, is refused with the
    reason and left as it was; the others are written."""
    existing = {d.name.lower(): d for d in Department.objects.all()}
    by_pk = {d.pk: key for key, d in existing.items()}
    wanted = {name.lower(): (name, parent or None) for name, parent in parents.items()}
    refused: dict[str, str] = {}

    def parent_of(key: str) -> str | None:
        if key in wanted and key not in refused:
            parent = wanted[key][1]
            return parent.lower() if parent else None
        dept = existing.get(key)
        return by_pk.get(dept.parent_id) if dept and dept.parent_id else None

    def shown(key: str) -> str:
        return wanted[key][0] if key in wanted else existing[key].name

    changed = True
    while changed:  # refusing one name can leave another without its parent: look again
        changed = False
        for key, (name, parent) in wanted.items():
            if key in refused or parent is None:
                continue
            up = parent.lower()
            if up not in existing and up not in wanted:
                refused[key] = f"no department named {parent!r} in the file or the database"
            elif up in refused and up not in existing:
                refused[key] = f"its parent {parent!r} is refused"
            else:
                chain, visited = [name], {key}
                node: str | None = up
                while node is not None and node not in visited:
                    chain.append(shown(node))
                    visited.add(node)
                    node = parent_of(node)
                if node != key:
                    continue
                chain.append(name)
                refused[key] = f"{name} would be inside itself ({' → '.join(chain)})"
            changed = True

    result = DepartmentsImported(refused={wanted[k][0]: r for k, r in refused.items()})
    accepted = [key for key in wanted if key not in refused]
    for key in accepted:
        (result.updated if key in existing else result.created).append(wanted[key][0])
    if dry_run:
        return result
    objects = dict(existing)
    for key in accepted:
        if key not in existing:
            dept = Department(name=wanted[key][0].strip())
            dept.full_clean()
            dept.save()
            objects[key] = dept
    # Point every department at the in-memory parent object, so clean() checks the tree
    # as it will be, not half old and half new.
    for dept in objects.values():
        if dept.parent_id is not None and dept.parent_id in by_pk:
            dept.parent = objects[by_pk[dept.parent_id]]
    moved = []
    for key in accepted:
        parent = wanted[key][1]
        target = objects[parent.lower()] if parent else None
        dept = objects[key]
        if dept.parent_id != (target.pk if target else None):
            dept.parent = target
            moved.append(dept)
    for dept in moved:
        dept.full_clean()
        dept.save(update_fields=["parent"])
    return result


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    level: Level | str,
    departments: Sequence[Department] = (),
    email: str = "",
    is_staff: bool = False,
) -> User:
    """Add a person with a level and the departments they belong to."""
    user = User(username=username, email=email, level=level, is_staff=is_staff)
    user.set_password(password)
    user.full_clean()
    user.save()
    user.departments.set(departments)
    return user


# ---- API tokens ----------------------------------------------------------------------------

TOKEN_MARK = "crm_"
"""Every key starts with this, so a secret scanner (or a person) can tell what it is."""
TOKEN_DAYS = 90
"""How long a token works when its creator does not say."""
TOKEN_MAX_DAYS = 365
"""The longest a token may work, unless the site's settings say otherwise (API_TOKEN_MAX_DAYS)."""
TOKEN_TOUCH_SECONDS = 60
"""A token's last use is written at most this often, not on every request."""


def token_max_days() -> int:
    """The longest a new token may work, in days (the setting API_TOKEN_MAX_DAYS)."""
    return int(getattr(settings, "API_TOKEN_MAX_DAYS", TOKEN_MAX_DAYS))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class TokenCreated:
    """A new token and its key. The key is in no other place: show it once, then drop it."""

    token: ApiToken
    key: str


@transaction.atomic
def token_create(*, user: User, name: str, days: int | None = None) -> TokenCreated:
    """Give `user` a new personal API token named `name` (what it is for), working for `days`
    (default TOKEN_DAYS, at most `token_max_days()`). A script that sends its key as
    `Authorization: Bearer <key>` acts as `user`, seeing exactly what they see."""
    name = name.strip()
    longest = token_max_days()
    days = TOKEN_DAYS if days is None else days
    if not name:
        raise Invalid("name: say what the token is for, e.g. 'ERP sync'")
    if len(name) > 100:
        raise Invalid(f"name: at most 100 characters (this one has {len(name)})")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise Invalid("name: cannot contain control characters (a tab, a new line, \\x00...)")
    if not 1 <= days <= longest:
        raise Invalid(f"days: a token works for 1 to {longest} days, not {days}")
    if not user.is_active:
        raise Invalid(f"user: {user.username} is inactive; an inactive user has no tokens")
    key = TOKEN_MARK + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name,
        prefix=key[: len(TOKEN_MARK) + 6],
        key_hash=_digest(key),
        expires_at=timezone.now() + timedelta(days=days),
    )
    token.full_clean()
    token.save()
    log.info("API token %s (%r) created for %s", token.pk, name, user.username)
    return TokenCreated(token=token, key=key)


@transaction.atomic
def token_revoke(*, token: ApiToken) -> ApiToken:
    """Stop a token for good; a request that sends it is refused from then on. Revoking a
    token again changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        log.info("API token %s (%r) of %s revoked", token.pk, token.name, token.user.username)
    return token


def tokens_of(*, user: User) -> QuerySet[ApiToken]:
    """A person's tokens, newest first, revoked and expired ones included (their page)."""
    return ApiToken.objects.filter(user=user)


def token_get(*, user: Actor, pk: int) -> ApiToken:
    """One of `user`'s own tokens (any token, for a superuser); any other answers like one
    that does not exist."""
    qs = ApiToken.objects.select_related("user")
    if not (isinstance(user, User) and user.is_active and user.is_superuser):
        if not isinstance(user, User) or not user.is_authenticated:
            raise NotFound("No such token.")
        qs = qs.filter(user=user)
    found = qs.filter(pk=pk).first()
    if found is None:
        raise NotFound("No such token.")
    return found


class TokenRefused(Exception):
    """A request's token does not sign anyone in; the message says why, for its sender."""


def token_user(*, key: str) -> User:
    """The person a request's key signs in, noting when the token was last used. Raises
    TokenRefused for a key that is unknown, revoked, expired or whose user is inactive."""
    now = timezone.now()
    token = ApiToken.objects.select_related("user").filter(key_hash=_digest(key)).first()
    if token is None:
        raise TokenRefused("Unknown API token.")
    if token.revoked_at is not None:
        raise TokenRefused("This API token has been revoked.")
    if token.expires_at <= now:
        raise TokenRefused("This API token has expired.")
    if not token.user.is_active:
        raise TokenRefused("This API token's user is inactive.")
    if token.last_used_at is None or now - token.last_used_at >= timedelta(
        seconds=TOKEN_TOUCH_SECONDS
    ):
        # One UPDATE that only the first of several simultaneous requests needs to win.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now)
        ).update(last_used_at=now)
    return token.user
