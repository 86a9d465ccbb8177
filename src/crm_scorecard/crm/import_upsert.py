"""Write a batch of imported records with one upsert: COPY into a staging table and one
INSERT ... ON CONFLICT on PostgreSQL, one prepared INSERT ... ON CONFLICT run for every row
on SQLite. Either every row of the batch is written or none is (the caller then finds the
guilty rows the slow way).

The only SQL here is composed from model metadata (table and column names, quoted as
identifiers); values always travel as parameters or COPY data, never in the text."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import Any, cast

from django.conf import settings
from django.db import connection, models
from django.db.models import Field

Adapt = Callable[[Any], Any]


def _fields(model: type[models.Model]) -> list[Field[Any, Any]]:
    return [cast(Field, f) for f in model._meta.concrete_fields if not f.primary_key]


def _default(field: Field[Any, Any]) -> Callable[[], Any]:
    if field.has_default() and callable(field.default):
        return field.get_default
    value = field.get_default()
    return lambda: value


def _utc_text(value: Any) -> Any:
    """An aware timestamp as Django's SQLite backend stores it when its zone is UTC."""
    if getattr(value, "tzinfo", None) is None:
        return connection.ops.adapt_datetimefield_value(value)
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _sqlite_adapter(field: Field[Any, Any]) -> Adapt | None:
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        if settings.USE_TZ and connection.timezone_name == "UTC":
            return _utc_text
        return ops.adapt_datetimefield_value
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(field, models.DecimalField):
        digits, places = field.max_digits, field.decimal_places
        return lambda v: ops.adapt_decimalfield_value(v, digits, places)
    return None


def records_upsert(
    model: type[models.Model],
    unique: str | tuple[str, ...],
    records: Sequence[Mapping[str, Any]],
) -> int:
    """Insert the records, or update the ones whose `unique` field (or fields, attnames:
    `("order_id", "line_no")`, a unique constraint of the model) exists already, in one
    statement. A record maps field attnames (`department_id` for a foreign key) to values;
    a field it leaves out gets the model's default, as a new model instance would. Call it
    inside a transaction; the keys in `records` must be distinct. Returns how many of them
    were there before (updated rather than inserted)."""
    keys_of = (unique,) if isinstance(unique, str) else unique
    fields = _fields(model)
    names = [f.attname for f in fields]
    defaults = [_default(f) for f in fields]
    rows = [
        tuple(
            record[name] if name in record else make()
            for name, make in zip(names, defaults, strict=True)
        )
        for record in records
    ]
    if connection.vendor == "postgresql":
        return _postgresql(model, keys_of, fields, rows)
    existed = _existing(model, keys_of, records)
    _sqlite(model, keys_of, fields, rows)
    return existed


def _existing(
    model: type[models.Model], unique: tuple[str, ...], records: Sequence[Mapping[str, Any]]
) -> int:
    """How many of the records' keys are in the table already (SQLite: counted before)."""
    first = unique[0]
    if len(unique) == 1:
        keys = [record[first] for record in records]
        return model._default_manager.filter(**{f"{first}__in": keys}).count()
    wanted = {tuple(record[k] for k in unique) for record in records}
    there = model._default_manager.filter(
        **{f"{first}__in": {key[0] for key in wanted}}
    ).values_list(*unique)
    return sum(1 for key in there if tuple(key) in wanted)


def _key_columns(model: type[models.Model], unique: tuple[str, ...]) -> list[str]:
    return [str(cast(Field, model._meta.get_field(name)).column) for name in unique]


def _postgresql(
    model: type[models.Model],
    unique: tuple[str, ...],
    fields: list[Field[Any, Any]],
    rows: list[tuple[Any, ...]],
) -> int:
    from psycopg import sql

    table = model._meta.db_table
    stage = sql.Identifier(f"import_stage_{table}")
    columns = sql.SQL(", ").join(sql.Identifier(str(f.column)) for f in fields)
    key_columns = _key_columns(model, unique)
    key = sql.SQL(", ").join(sql.Identifier(c) for c in key_columns)
    changing = [sql.Identifier(str(f.column)) for f in fields if f.column not in key_columns]
    updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(c) for c in changing)
    # A row that is already as the file says is left alone: re-importing a file then
    # rewrites no row and no index entry (it still counts as updated).
    unchanged = sql.SQL("({}) IS DISTINCT FROM ({})").format(
        sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in changing),
        sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(c) for c in changing),
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        raw.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {} FROM {} WITH NO DATA").format(
                stage, columns, sql.Identifier(table)
            )
        )
        raw.execute(sql.SQL("TRUNCATE {}").format(stage))
        with raw.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, columns)) as copy:
            for row in rows:
                copy.write_row(row)
        raw.execute(
            sql.SQL("SELECT count(*) FROM {} JOIN {} USING ({})").format(
                stage, sql.Identifier(table), key
            )
        )
        found = raw.fetchone()
        raw.execute(
            sql.SQL(
                "INSERT INTO {table} AS t ({columns}) SELECT {columns} FROM {stage} "
                "ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {unchanged}"
            ).format(
                table=sql.Identifier(table),
                columns=columns,
                stage=stage,
                key=key,
                updates=updates,
                unchanged=unchanged,
            )
        )
    return int(found[0]) if found else 0


def _sqlite(
    model: type[models.Model],
    unique: tuple[str, ...],
    fields: list[Field[Any, Any]],
    rows: list[tuple[Any, ...]],
) -> None:
    quote = connection.ops.quote_name
    key_columns = _key_columns(model, unique)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    updates = ", ".join(
        f"{quote(str(f.column))} = excluded.{quote(str(f.column))}"
        for f in fields
        if f.column not in key_columns
    )
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key_columns)}) DO UPDATE SET {updates}"
    )
    adapters = [(i, a) for i, a in enumerate(_sqlite_adapter(f) for f in fields) if a]
    if adapters:
        adapted = []
        for row in rows:
            cells = list(row)
            for i, adapt in adapters:
                if cells[i] is not None:
                    cells[i] = adapt(cells[i])
            adapted.append(cells)
        rows = [tuple(r) for r in adapted]
    with _row_triggers_off(model._meta.db_table), connection.cursor() as cursor:
        cursor.executemany(statement, rows)


@contextmanager
def _row_triggers_off(table: str) -> Iterator[None]:
    """SQLite: without the table's change-counting row triggers (migration crm 0006), which
    add one UPDATE of crm_tableversion per row written (25-40% of a bulk import's time).
    Only inside a transaction, which holds SQLite's one write lock until it ends: no other
    writer can write meanwhile, the triggers are back before anyone else can see the table,
    and a failure rolls their removal back with the rows. The writes are still counted:
    the importer counts its batch once (crm.changes.tables_touch) in the same transaction."""
    if not connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
            [table],
        )
        triggers = [(n, sql) for n, sql in cursor.fetchall() if n.startswith("crm_changed_")]
        for name, _ in triggers:
            cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for _, sql in triggers:
                cursor.execute(sql)
