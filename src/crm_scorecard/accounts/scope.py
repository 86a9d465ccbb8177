"""The access scope: which departments a person may see. Every selector starts from here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from .models import Department, Level, User


def descendant_ids(*, roots: Iterable[int]) -> set[int]:
    """The given departments and every department below them in the tree."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for pk, parent_id in Department.objects.values_list("pk", "parent_id"):
        children[parent_id].append(pk)
    result: set[int] = set()
    stack = list(roots)
    while stack:
        pk = stack.pop()
        if pk in result:
            continue
        result.add(pk)
        stack.extend(children[pk])
    return result


Actor = User | AnonymousUser | AbstractBaseUser
"""Whoever is asking: request.user, which may be anonymous."""


def visible_department_ids(*, user: Actor) -> set[int] | None:
    """Department ids the user may see, or None for "all of them" (executives).

    A department is its subtree: everyone sees their own departments and every department
    below them (their level decides what they may change, not what they see). Anonymous or
    inactive users see nothing."""
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return set()
    if user.level == Level.EXECUTIVE or user.is_superuser:
        return None
    # Within one web request (see web.middleware.ScopeOncePerRequest) the answer is kept on
    # the request's user, so a page that checks its scope several times asks once.
    memo: dict[str, set[int]] | None = getattr(user, "scope_memo", None)
    if memo is not None and "ids" in memo:
        return set(memo["ids"])
    own = set(user.departments.values_list("pk", flat=True))
    ids = descendant_ids(roots=own)
    if memo is not None:
        memo["ids"] = set(ids)
    return ids


def departments_for(*, user: Actor) -> QuerySet[Department]:
    """The departments the user may see."""
    ids = visible_department_ids(user=user)
    qs = Department.objects.all()
    return qs if ids is None else qs.filter(pk__in=ids)


def restrict(qs: QuerySet[Any], *, user: Actor, field: str = "department") -> QuerySet[Any]:
    """Narrow any queryset of department-owned records to what the user may see."""
    ids = visible_department_ids(user=user)
    if ids is None:
        return qs
    return qs.filter(**{f"{field}__in": ids})
