"""Write a batch of imported records with one upsert: COPY into a staging table and one
INSERT ... ON CONFLICT on PostgreSQL, one prepared INSERT ... ON CONFLICT run for every row
on SQLite. Either every row of the batch is written or none is (the caller then finds the
guilty rows the slow way).

The only SQL here is composed from model metadata (table and column names, quoted as
identifiers); values always travel as parameters or COPY data, never in the text."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import Any, cast, overload

from django.conf import settings
from django.db import IntegrityError, connection, models
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


class Columns(Sequence[Mapping[str, Any]]):
    """Records held column by column (field attname -> one value per record), as
    `records_upsert` writes them fastest; read as a sequence, each record is a dict."""

    def __init__(self, columns: dict[str, list[Any]]) -> None:
        self.columns = columns
        self.length = len(next(iter(columns.values()), []))

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.length))]
        if not -self.length <= index < self.length:
            raise IndexError(index)
        return {name: values[index] for name, values in self.columns.items()}


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
    # column by column: one pass per field over the records is much cheaper than one
    # tuple per record built cell by cell
    columns = [_column(records, f.attname, _default(f)) for f in fields]
    if connection.vendor == "postgresql":
        return _postgresql(model, keys_of, fields, list(zip(*columns, strict=True)))
    existed = _existing(model, keys_of, records)
    _sqlite(model, keys_of, fields, columns)
    return existed


def _column(records: Sequence[Mapping[str, Any]], name: str, make: Callable[[], Any]) -> list[Any]:
    """One field's values across the records; the default where a record leaves it out."""
    if isinstance(records, Columns):
        found = records.columns.get(name)
        return found if found is not None else [make() for _ in range(len(records))]
    try:
        return [record[name] for record in records]
    except KeyError:
        return [record[name] if name in record else make() for record in records]


def _existing(
    model: type[models.Model], unique: tuple[str, ...], records: Sequence[Mapping[str, Any]]
) -> int:
    """How many of the records' keys are in the table already (SQLite: counted before)."""
    first = unique[0]
    if len(unique) == 1:
        if isinstance(records, Columns):
            keys = records.columns[first]
        else:
            keys = [record[first] for record in records]
        return _count_in(model, first, keys)
    if isinstance(records, Columns):
        wanted = set(zip(*(records.columns[k] for k in unique), strict=True))
    else:
        wanted = {tuple(record[k] for k in unique) for record in records}
    there = model._default_manager.filter(
        **{f"{first}__in": {key[0] for key in wanted}}
    ).values_list(*unique)
    return sum(1 for key in there if tuple(key) in wanted)


def _count_in(model: type[models.Model], name: str, values: Collection[Any]) -> int:
    """How many rows of the model have one of these (distinct) values in field `name`."""
    if connection.vendor == "sqlite" and all(type(v) is str or type(v) is int for v in values):
        # the values as one JSON parameter: Django's `__in` lookup compiles one parameter
        # per value, which took longer than the count itself
        quote = connection.ops.quote_name
        column = cast(Field, model._meta.get_field(name)).column
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {quote(model._meta.db_table)} "
                f"WHERE {quote(str(column))} IN (SELECT value FROM json_each(%s))",
                [json.dumps(list(values))],
            )
            return int(cursor.fetchone()[0])
    return model._default_manager.filter(**{f"{name}__in": values}).count()


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
    # The psycopg cursor under Django's wrapper, its errors turned into Django's (as the
    # wrapper's own execute does), so a batch the database refuses is an IntegrityError or
    # DatabaseError to the importer, which then writes it row by row.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
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
    columns: list[list[Any]],
) -> None:
    quote = connection.ops.quote_name
    key_columns = _key_columns(model, unique)
    changing = [quote(str(f.column)) for f in fields if f.column not in key_columns]
    updates = ", ".join(f"{c} = excluded.{c}" for c in changing)
    # A row that is already as the file says is left alone, as on PostgreSQL: re-importing
    # a file then rewrites no row and no index entry (it still counts as updated).
    unchanged = (
        f"({', '.join(f'{quote(model._meta.db_table)}.{c}' for c in changing)}) IS NOT "
        f"({', '.join(f'excluded.{c}' for c in changing)})"
    )
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(str(f.column)) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key_columns)}) DO UPDATE SET {updates} "
        f"WHERE {unchanged}"
    )
    for i, field in enumerate(fields):
        adapt = _sqlite_adapter(field)
        if adapt is not None:
            columns[i] = [None if v is None else adapt(v) for v in columns[i]]
    rows = list(zip(*columns, strict=True))
    with _row_triggers_off(model._meta.db_table), connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys")
        if not cursor.fetchone()[0]:
            _references_check(fields, columns)
        cursor.executemany(statement, rows)


def _references_check(fields: list[Field[Any, Any]], columns: list[list[Any]]) -> None:
    """SQLite with its foreign key checks off (`foreign_keys_off`): what they would have
    checked, once per batch instead of once per row: every reference the batch holds names a
    row that exists. Raises IntegrityError, refusing the whole batch, when one does not."""
    for field, column in zip(fields, columns, strict=True):
        if not isinstance(field, models.ForeignKey):
            continue
        wanted = {value for value in column if value is not None}
        if not wanted:
            continue
        related = cast(type[models.Model], field.related_model)
        found = _count_in(related, field.target_field.attname, wanted)
        if found != len(wanted):
            raise IntegrityError(
                f"FOREIGN KEY constraint failed: {len(wanted) - found} value(s) of "
                f"{field.model._meta.db_table}.{field.column} name no {related._meta.verbose_name}"
            )


@contextmanager
def foreign_keys_off() -> Iterator[None]:
    """SQLite: without its per-row foreign key checks, which cost about half of inserting a
    new customer (each row opens the tables it refers to and the eight that refer to it);
    `records_upsert` then checks a batch's references itself, once for the batch. SQLite
    can only switch them outside a transaction: inside one (or on another database) this
    changes nothing. They are on again before this returns."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    off = connection.disable_constraint_checking()
    try:
        yield
    finally:
        if off:
            connection.enable_constraint_checking()


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
