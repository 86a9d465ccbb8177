"""Fast bulk writes of many rows: COPY on PostgreSQL, batched inserts elsewhere.

The only SQL written here is a COPY statement composed from model metadata with
psycopg's identifier quoting; no user input ever reaches it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.core.management.color import no_style
from django.db import connection, models
from django.db.models import Field

from .changes import tables_touch

BATCH = 2000


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert rows (tuples in `fields` order, primary key included) and return how many."""
    tables_touch(model)
    if connection.vendor == "postgresql":
        return _copy_rows(model, fields, rows)
    count = 0
    batch: list[models.Model] = []
    for row in rows:
        batch.append(model(**dict(zip(fields, row, strict=True))))
        if len(batch) >= BATCH:
            model._default_manager.bulk_create(batch)
            count += len(batch)
            batch = []
    if batch:
        model._default_manager.bulk_create(batch)
        count += len(batch)
    return count


def _copy_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    from psycopg import sql

    meta = model._meta
    columns: list[sql.Composable] = [
        sql.Identifier(str(cast(Field, meta.get_field(name)).column)) for name in fields
    ]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(meta.db_table), sql.SQL(", ").join(columns)
    )
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


def next_id(model: type[models.Model]) -> int:
    """The first free primary key, for writers that assign ids themselves."""
    top = model._default_manager.aggregate(top=models.Max("pk"))["top"]
    return (top or 0) + 1


def reset_sequences(*models_: type[models.Model]) -> None:
    """After inserting explicit ids, move PostgreSQL's id sequences past them."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(models_))
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def analyze(*models_: type[models.Model]) -> None:
    """Refresh PostgreSQL's planner statistics after a bulk load, so searches use indexes."""
    if connection.vendor != "postgresql":
        return
    from psycopg import sql

    with connection.cursor() as cursor:
        for model in models_:
            cursor.execute(
                sql.SQL("ANALYZE {}").format(sql.Identifier(model._meta.db_table)).as_string()
            )
