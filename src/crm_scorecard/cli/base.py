"""What every product command shares: the domain's errors as a refusal with the reason and
exit status 1, a check that the schema is current, and progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from crm_scorecard.errors import DomainError


def database_label() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite file {settings['NAME']}"
    return f"{connection.vendor} database {settings['NAME']!r} on {settings.get('HOST') or 'localhost'}"


def schema_problem() -> str | None:
    """None when the schema is current, otherwise what is wrong in words a user can act on."""
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return f"Cannot reach the {database_label()}: {exc}".strip()
    if not plan:
        return None
    applied = executor.loader.applied_migrations
    state = "has an old schema" if applied else "has no schema yet"
    return f"The {database_label()} {state}: run `crm-scorecard migrate` first."


def require_current_schema() -> None:
    problem = schema_problem()
    if problem:
        raise CommandError(problem)


class DomainCommand(BaseCommand):
    """A command that maps the domain's errors (`crm_scorecard.errors`), once for every
    command: not found, not allowed or refused is a `CommandError` with the reason, which
    Django prints as `CommandError: <reason>` on stderr with exit status 1."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc


class ProductCommand(DomainCommand):
    """A command that works on the product's data, so needs the schema to be current."""

    requires_migrations_checks = False

    def execute(self, *args: Any, **options: Any) -> Any:
        require_current_schema()
        return super().execute(*args, **options)


@contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Any]:
    """A progress bar on stderr; `advance(n)` moves it. Silent when not enabled."""
    if not enabled:
        yield lambda n=1: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
