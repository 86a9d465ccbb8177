"""Writes to departments and users."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from .models import Department, Level, User


@transaction.atomic
def department_ensure(*, name: str, parent: Department | None = None) -> Department:
    """Create the department if it is new; move it under `parent` if it exists."""
    dept, _ = Department.objects.get_or_create(name=name, defaults={"parent": parent})
    if dept.parent_id != (parent.pk if parent else None):
        dept.parent = parent
        dept.full_clean()
        dept.save(update_fields=["parent"])
    return dept


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
