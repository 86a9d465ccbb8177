"""Where the metrics run: a connection to each engine, and what differs between their
dialects (timestamps, booleans, intervals, PostgreSQL's work tables and settings).

- the app database itself: SQLite, or PostgreSQL (`connect_app`);
- DuckDB over the app database, each table copied once per connection: attached to
  PostgreSQL; from SQLite, copied to Parquet by a process of its own (`columnar_copy.py`:
  DuckDB never opens the SQLite file in a process that uses it through Python's sqlite3)
  (`connect_duckdb`);
- DuckDB over Parquet files: a pinned version of the columnar mirror (`mirror.py`), or
  files written by `crm-scorecard export-parquet` (`connect_parquet`);
- Spark (local mode, or the cluster named by `SPARK_MASTER`) over the same Parquet files.

Which one a run uses is METRICS_ENGINE's choice (`connect.py`)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import ibis
import ibis.expr.operations as ops
import ibis.expr.schema as sch
import ibis.expr.types as ir
from ibis.expr.types import Table

from .columnar_copy import PARQUET, extension_path, sqlite_to_parquet
from .compiled import FILE, CompiledSql, digest

WORK_PREFIX = "crm_metrics_work_"

# Text columns with a handful of values, read from Parquet files (which never change under
# a connection) as DuckDB ENUMs: one byte a row where a table of the rows is written.
# The order lines' work table (each line with its order's channel and its product's
# category and tier) at 1,000,000 customers: 0.86-0.88 s -> 0.62 s; each customer's
# first purchase per category read off it 0.25-0.28 -> 0.15-0.17 s. The values are in
# their text order, so comparing and sorting them is as for the text. (Not the contacts'
# channel: a scan of ten million contacts casting each, 0.37 -> 0.50 s.)
CATEGORICAL = {"crm_order": ("channel",), "crm_product": ("category", "tier")}


def _drop_orphan_work_tables(backend: Any) -> None:
    """Drop the work tables of PostgreSQL sessions that no longer exist."""
    cursor = backend.raw_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND starts_with(tablename, %s)",
        params=(WORK_PREFIX,),
    )
    names = [row[0] for row in cursor.fetchall()]
    cursor.close()
    if not names:
        return
    cursor = backend.raw_sql("SELECT pid FROM pg_stat_activity")
    alive = {str(row[0]) for row in cursor.fetchall()}
    cursor.close()
    for name in names:
        pid = name[len(WORK_PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and pid not in alive:
            backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"').close()


@dataclass
class Connection:
    """An Ibis backend plus how to reach the CRM tables on it."""

    backend: Any
    database: str | None = None
    parquet: Path | None = None
    copy: bool = False  # copy each table into DuckDB's columnar memory on first use
    shared: bool = False  # the backend is shared by the process (Spark): close() leaves it running
    # What is worked out once from files that never change (a pinned mirror version kept
    # open between requests, see live.py): each source's periods, a breakdown's values.
    # None: the data may change under the connection, nothing is kept beyond one engine.
    snapshot: dict[tuple[Any, ...], Any] | None = None
    _loaded: dict[str, Table] = field(default_factory=dict)
    _work: list[str] = field(default_factory=list)  # tables made by work_table, to drop
    _pid: int | None = None  # PostgreSQL's server process for this connection
    _unlogged: bool = False  # PostgreSQL: work tables are unlogged tables (else temporary)
    _closed: bool = False
    tree_depth: int | None = None  # levels of the department tree, once (sources.department_depth)
    _small_ids: dict[tuple[str, tuple[str, ...]], bool] = field(default_factory=dict)
    _declared: list[str] = field(default_factory=list)  # views `declare` made, not yet loaded
    # DuckDB: each view's schema, from the DESCRIBE its statement was written from.
    _schemas: dict[str, sch.Schema] = field(default_factory=dict)
    # DuckDB over a mirror version: the SQL its queries compiled to, kept with the version
    # (compiled.py); and each work table's name -> the name it has in the kept texts.
    compiled: CompiledSql | None = None
    _aliases: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.backend.name)

    def close(self) -> None:
        """Release the connection (and DuckDB's own connection to an attached database);
        closing twice does nothing."""
        if self.shared:
            for table in self._loaded.values():
                self.backend.drop_view(table.get_name(), force=True)
            self._loaded.clear()
            return
        if self._closed:
            return
        self._closed = True
        for name in self._work:
            self.backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"').close()
        if self.database:
            self.backend.raw_sql(f"DETACH {self.database}")
        self.backend.disconnect()

    def work_table(self, label: str, table: Table) -> Table:
        """`table` computed into a table that lasts as long as the connection."""
        if self.name == "duckdb":
            # Written directly: Ibis's create_table took 0.9-1.0 s for the order lines of a
            # million customers, this 0.6-0.7 s.
            # Its schema is the expression's: Ibis's table() would DESCRIBE it again (8 work
            # tables of the catalogue; each DESCRIBE with Ibis parsing its types, 1-3 ms).
            key = digest(table, self._aliases) if self.compiled is not None else None
            sql = self.sql(table, lambda: ibis.to_sql(table, dialect="duckdb"), key)
            self.backend.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{label}" AS {sql}')
            if key is not None:
                self._aliases[label] = f"work_{key[:24]}"
            return self.bound(label, table.schema(), catalog="temp", database="main")
        if self.name != "postgres":
            return self.backend.create_table(label, table, temp=True, overwrite=True)
        # On PostgreSQL an unlogged table rather than a temporary one: PostgreSQL reads
        # and fills temporary tables in one process only, unlogged ones with its parallel
        # workers (the whole catalogue over a million customers: 41 s -> 32 s). Named
        # after this session's server process, and dropped on close; those a crashed
        # process left behind are dropped by the next connection. A database user who
        # may not create tables in its schema gets temporary ones.
        if self._pid is None:
            cursor = self.backend.raw_sql(
                "SELECT pg_backend_pid(), has_schema_privilege(current_schema(), 'CREATE')"
            )
            pid, self._unlogged = cursor.fetchone()
            self._pid = int(pid)
            cursor.close()
            if self._unlogged:
                _drop_orphan_work_tables(self.backend)
        if self._unlogged:
            name = f"{WORK_PREFIX}{self._pid}_{label}"
            if len(name) > 63:  # PostgreSQL's longest name: keep it unique when shortened
                name = f"{name[:54]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"
            sql = ibis.to_sql(table, dialect="postgres")
            self.backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"').close()
            self.backend.raw_sql(f'CREATE UNLOGGED TABLE "{name}" AS {sql}').close()
            self._work.append(name)
            kept = self.backend.table(name)
        else:
            kept = self.backend.create_table(label, table, temp=True, overwrite=True)
            # Dropped on close too, not left to the server process's exit, which happens
            # after the client has gone (a role dropped meanwhile fails on them).
            self._work.append(kept.get_name())
        # Autovacuum analyses new tables only after a while (and temporary ones never):
        # without statistics PostgreSQL guesses their size and plans joins on them badly
        # (retention over 1,000,000 customers took 6.1 s so, 2.1 s once analysed).
        self.backend.raw_sql(f'ANALYZE "{kept.get_name()}"').close()
        return kept

    def small_ids(self, table: str, columns: tuple[str, ...]) -> bool:
        """Whether every value of `table`'s integer `columns` fits in 32 bits, on DuckDB
        over Parquet files or its own copies (read off their statistics: a few ms, once per
        connection); False elsewhere, where finding out would scan the table."""
        key = (table, columns)
        if key not in self._small_ids:
            fits = False
            if self.name == "duckdb" and (self.parquet is not None or self.copy):
                self.table(table)  # its view
                ends = ", ".join(f'min("{c}"), max("{c}")' for c in columns)
                row = self.backend.raw_sql(f'SELECT {ends} FROM "{table}"').fetchone()
                fits = all(v is None or -(2**31) <= v < 2**31 for v in row)
            self._small_ids[key] = fits
        return self._small_ids[key]

    def sql(self, expr: Any, compile: Callable[[], str], key: str | None = None) -> str:
        """The SQL text `compile()` gives for Ibis expression `expr`: kept with the mirror
        version where the connection reads one (`key`: `expr`'s digest, when known)."""
        if self.compiled is None:
            return compile()
        if key is None:
            key = digest(expr, self._aliases)
        return self.compiled.text(key, compile, self._aliases)

    def table(self, name: str) -> Table:
        if name not in self._loaded:
            if name in self._schemas:  # declared
                self._loaded[name] = self.bound(name, self._schemas[name])
            else:
                self._loaded[name] = self._open(name)
        return self._loaded[name]

    def bound(
        self,
        name: str,
        schema: sch.Schema,
        *,
        catalog: str | None = None,
        database: str | None = None,
    ) -> Table:
        """Table `name` on this connection's backend, whose schema is known already: what
        the backend's `table` gives (the same operation, so the same expression), without
        its DESCRIBE."""
        return ops.DatabaseTable(
            name,
            schema=schema,
            source=self.backend,
            namespace=ops.Namespace(catalog=catalog, database=database),
        ).to_expr()

    def opened(self) -> tuple[str, ...]:
        """The tables `table` (or `declare`) has opened on this connection, in the order it
        opened them: what a query compiled here reads, which another connection declares
        before running the query's text (profile.py keeps the text, never the views)."""
        return tuple(dict.fromkeys([*self._loaded, *self._declared]))

    def declare(self, names: tuple[str, ...]) -> None:
        """The tables `names` readable by SQL text compiled on another connection, as
        `table` makes them. DuckDB over Parquet files only declares the views: Ibis's
        table of one reads its file's schema again (a fresh connection's profile spent
        about 9 ms of 28 opening three tables, load 3.7), which the SQL text never needs."""
        for name in names:
            if name in self._loaded or name in self._declared:
                continue
            if self.name == "duckdb" and self.parquet is not None and not self.shared:
                self.backend.raw_sql(self._statement(name))
                self._declared.append(name)
            else:
                self.table(name)

    def _open(self, name: str) -> Table:
        if self.parquet is not None and self.shared:
            # On a shared session each connection registers views under its own generated
            # names, so concurrent engines never see each other's files.
            return self.backend.read_parquet(str(self.parquet / f"{name}.parquet"))
        if self.name != "duckdb":
            return self.backend.table(name, database=self.database)
        self.backend.raw_sql(self._statement(name))
        if self.parquet is None:
            # Through PostgreSQL's scanner DuckDB describes NOT NULL columns that its copy
            # (a table of its own) leaves nullable: described once made.
            return self.backend.table(name)
        return self.bound(name, self._schemas[name])

    def _statement(self, name: str) -> str:
        """DuckDB's statements that make table `name` readable under its own name (its
        schema kept in `_schemas`, as DuckDB will describe what the statement makes). Over
        a mirror version they are kept with the version (compiled.py), as its files never
        change: a fresh connection then opens a table in one round trip, with no DESCRIBE
        of its file and no scan for its ENUMs' values (the whole catalogue ran 79 -> 60
        statements, a few milliseconds fewer at 200,000 customers; see the README)."""
        key = f"table {name}"
        versioned = self.compiled if self.parquet is not None else None
        kept = versioned.get(key) if versioned is not None else None
        if kept is not None:
            statement, described = json.loads(kept)
            self._schemas[name] = described_schema(self.backend, described)
            return str(statement)
        if self.parquet is not None:
            path = str(self.parquet / f"{name}.parquet").replace("'", "''")
            origin = f"read_parquet('{path}')"
        else:
            origin = f'{self.database}."{name}"'
        described = naive_utc_columns(self.backend, origin)
        select = naive_utc_view(origin, described)
        self._schemas[name] = described_schema(self.backend, described)
        types: list[str] = []
        if self.parquet is not None and name in CATEGORICAL:
            types, select = self._categorical(name, origin, select)
        if self.copy and self.database:
            # One scan of the app database per table; every metric then reads the
            # columnar copy instead of going back through the scanner.
            return f'CREATE OR REPLACE TABLE main."{name}" AS {select}'
        statement = ";\n".join([*types, f'CREATE OR REPLACE TEMP VIEW "{name}" AS {select}'])
        if versioned is not None:
            versioned.add(key, json.dumps([statement, described]))
        return statement

    def _categorical(self, name: str, origin: str, select: str) -> tuple[list[str], str]:
        """The statements making the ENUM of each CATEGORICAL column of table `name` (its
        file `origin`), of the values the file holds in text order, and `select` (every
        column of `origin`) with those columns cast to them."""
        types, kinds = [], []
        for column in CATEGORICAL[name]:
            kind = f"crm_values_{name}_{column}"
            rows = self.backend.raw_sql(
                f'SELECT DISTINCT "{column}" FROM {origin} WHERE "{column}" IS NOT NULL ORDER BY 1'
            ).fetchall()
            if not rows:
                continue  # an ENUM has one value at least
            values = ", ".join(sql_text(str(value)) for (value,) in rows)
            types.append(f"CREATE TYPE IF NOT EXISTS {kind} AS ENUM ({values})")
            kinds.append(f'CAST("{column}" AS {kind}) AS "{column}"')
        if not kinds:
            return types, select
        return types, f"SELECT * REPLACE ({', '.join(kinds)}) FROM ({select})"


def sql_text(value: str) -> str:
    """`value` as an SQL string literal (DuckDB, PostgreSQL: quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def naive_utc_select(backend: Any, origin: str) -> str:
    """SELECT every column of `origin` (DuckDB), with timestamps that carry a time zone as
    plain UTC ones. DuckDB reads the calendar fields of a zoned timestamp, and even casts
    it, through ICU: measured here on ten million events, a month index took 2.2 s zoned,
    1.7 s through a cast, 0.2 s from the epoch microseconds. Every connection runs in UTC."""
    return naive_utc_view(origin, naive_utc_columns(backend, origin))


def naive_utc_columns(backend: Any, origin: str) -> list[tuple[str, str, bool, bool]]:
    """Each column of `origin` (DuckDB) as `naive_utc_select` gives it, from one DESCRIBE:
    (name, type, nullable, whether a zoned timestamp made plain)."""
    described = backend.raw_sql(f"DESCRIBE SELECT * FROM {origin}").fetchall()
    zoned = "TIMESTAMP WITH TIME ZONE"
    return [
        (row[0], "TIMESTAMP" if row[1] == zoned else row[1], row[2] == "YES", row[1] == zoned)
        for row in described
    ]


def naive_utc_view(origin: str, columns: list[tuple[str, str, bool, bool]]) -> str:
    """`naive_utc_select`'s SELECT of `origin`, whose `columns` naive_utc_columns gave."""
    zoned = [name for name, _, _, made_plain in columns if made_plain]
    if not zoned:
        return f"SELECT * FROM {origin}"
    plain = ", ".join(f'make_timestamp(epoch_us("{c}")) AS "{c}"' for c in zoned)
    return f"SELECT * REPLACE ({plain}) FROM {origin}"


def described_schema(backend: Any, columns: list[Any]) -> sch.Schema:
    """The schema of what `naive_utc_view` gives, as Ibis reads it (Ibis's DuckDB
    get_schema reads DESCRIBE's rows so): its columns' names, types and nullability."""
    types = backend.compiler.type_mapper
    return sch.Schema(
        {name: types.from_string(kind, nullable=nullable) for name, kind, nullable, _ in columns}
    )


def epoch_seconds(conn: Connection, ts: Any) -> Any:
    """Seconds since 1970, with their fraction, on every engine. Ibis's own drops the
    fraction on SQLite (strftime('%s')) and Spark (unix_timestamp): over a million customers
    the median complaint resolution came out up to 0.2 s short on SQLite. SQLite's date
    functions keep only milliseconds, so the fraction is read off the text itself (ISO
    text: the characters after the 19th, '.ffffff', then any zone, which the cast stops at)."""
    if conn.name == "sqlite":
        return ts.epoch_seconds() + ts.cast("string").substr(19).cast("float64")
    if conn.name == "pyspark":
        return _unix_micros(ts.cast("timestamp('UTC')")) / 1_000_000
    return ts.epoch_seconds()


def within(conn: Connection, start: Any, end: Any, days: int) -> Any:
    """Whether `end` comes at most `days` after `start` (and not before it). Compared as
    timestamps where the engine can shift one by an interval: PostgreSQL works out epoch
    seconds as numerics, which made the repeat-contact query 1 s slower over ten million
    contacts. SQLite (before 3.46) cannot shift a timestamp, so there it is epoch seconds."""
    if conn.name == "sqlite":
        gap = epoch_seconds(conn, end) - epoch_seconds(conn, start)
        return (gap >= 0) & (gap <= days * 86400)
    return (end >= start) & (end <= start + ibis.interval(days=days))


@ibis.udf.scalar.builtin(name="unix_micros")
def _unix_micros(ts) -> int:  # type: ignore[no-untyped-def, empty-body]
    """Spark's microseconds since 1970 (of a timestamp with a zone: Spark takes no other)."""


class Pin(Protocol):
    """A version of the columnar mirror held for one reader (mirror.MirrorPin)."""

    path: Path

    def release(self) -> None: ...


@dataclass
class ParquetConnection(Connection):
    """DuckDB over Parquet files that last as long as the connection: a pinned version of
    the mirror (released on close), or a copy of the SQLite tables (deleted on close)."""

    pin: Pin | None = None
    scratch: Path | None = None

    def close(self) -> None:
        try:
            if self.compiled is not None and not self._closed:
                self.compiled.save()
            super().close()
        finally:
            if self.pin is not None:
                self.pin.release()
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)


def connect_app() -> Connection:
    """Ibis on the app database (SQLite or PostgreSQL), as Django's settings name it."""
    from django.db import connection as django_connection

    db = django_connection.settings_dict
    if django_connection.vendor == "sqlite":
        return Connection(ibis.sqlite.connect(str(db["NAME"])))
    return Connection(postgres(db))


def postgres(db: dict[str, Any]) -> Any:
    """An Ibis PostgreSQL backend for Django's database settings `db`, set for metrics."""
    params = pg_params(db)
    params["database"] = params.pop("dbname")
    backend = ibis.postgres.connect(**params)
    # The metrics sort and hash millions of rows at once (the repeat-contact window,
    # distinct customers); PostgreSQL's default 4 MB per operation spills them to disk.
    backend.raw_sql(f"SET work_mem = '{os.environ.get('METRICS_PG_WORK_MEM', '256MB')}'").close()
    # PostgreSQL cannot estimate how many periods a computed period index has, guesses
    # one per row, and so never splits an aggregate over its parallel workers; with
    # the cost of moving rows between workers set to nothing it does (a month's
    # aggregates over 10M contacts: 4.5 s -> 3.2 s on 2 cores).
    backend.raw_sql("SET parallel_tuple_cost = 0").close()
    backend.raw_sql("SET parallel_setup_cost = 0").close()
    return backend


def connect_duckdb(tables: tuple[str, ...], *, copy: bool) -> Connection:
    """DuckDB over the app database's `tables`; `copy`: each table copied into DuckDB once
    (else read through PostgreSQL's scanner at every query)."""
    from django.db import connection as django_connection

    db = django_connection.settings_dict
    if django_connection.vendor == "sqlite":
        scratch = Path(tempfile.mkdtemp(prefix="crm-scorecard-duckdb-"))
        try:
            files = {t: scratch / f"{t}.parquet" for t in tables}
            sqlite_to_parquet(database=str(db["NAME"]), targets=files)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return ParquetConnection(duckdb_in_utc(), parquet=scratch, scratch=scratch)
    backend = duckdb_in_utc()
    backend.raw_sql(f"LOAD '{extension_path('duckdb_extension_postgres_scanner')}'")
    dsn = pg_conninfo(db).replace("'", "''")
    backend.raw_sql(f"ATTACH '{dsn}' AS app (TYPE postgres, READ_ONLY)")
    return Connection(backend, database="app", copy=copy)


def connect_parquet(folder: Path, *, spark: bool = False) -> Connection:
    """DuckDB (or Spark) over the Parquet files in `folder`, one per table."""
    if spark:
        return Connection(ibis.pyspark.connect(spark_session()), parquet=folder, shared=True)
    return Connection(duckdb_in_utc(), parquet=folder)


def connect_pinned(pin: Pin) -> Connection:
    """DuckDB over a pinned version of the columnar mirror, released on close."""
    return ParquetConnection(
        duckdb_in_utc(), parquet=pin.path, pin=pin, compiled=CompiledSql(pin.path / FILE)
    )


def spark_session() -> Any:
    """The process's Spark session (started once; a JVM takes seconds to start), in UTC."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ValueError(
            "METRICS_ENGINE=spark:DIR needs PySpark: pip install 'crm-scorecard[spark]' (and Java 17+)"
        ) from None
    # Spark's Python workers must run the same Python as this process.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
        .appName("crm-scorecard")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"))
        .getOrCreate()
    )


def duckdb_in_utc() -> Any:
    """An in-memory DuckDB that works in UTC, as the metrics' periods are UTC."""
    backend = ibis.duckdb.connect()
    backend.raw_sql("SET TimeZone = 'UTC'")
    return backend


# Django's PostgreSQL OPTIONS that are not libpq's (the rest, sslmode and the like, are).
DJANGO_ONLY_OPTIONS = {
    "isolation_level",
    "server_side_binding",
    "assume_role",
    "pool",
    "cursor_factory",
}


def pg_params(db: dict[str, Any]) -> dict[str, Any]:
    """libpq's connection parameters for Django's database settings: host, port, user,
    password, database name and the OPTIONS libpq takes (sslmode, sslrootcert... as
    DATABASE_URL's query string gives them)."""
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if k not in DJANGO_ONLY_OPTIONS}
    params = {
        "host": db.get("HOST") or "localhost",
        "port": int(db.get("PORT") or 5432),
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "dbname": db["NAME"],
        **options,
    }
    return {k: v for k, v in params.items() if v is not None}


def pg_conninfo(db: dict[str, Any]) -> str:
    """The libpq connection string for Django's database settings, each value quoted as
    libpq needs (a password with spaces or quotes stays one value)."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo("", **pg_params(db))


def flag(column: Any) -> Any:
    """1 for true, 0 for false or unknown. Booleans arrive as booleans from PostgreSQL and
    SQLite through Ibis, but as integers through DuckDB's SQLite scanner; and PostgreSQL
    cannot cast a boolean to an integer, so each gets its own comparison."""
    if column.type().is_boolean():
        return column.fill_null(False).ifelse(1, 0)
    return (column == 1).ifelse(1, 0)


@ibis.udf.scalar.builtin(name="datetime")
def _sqlite_datetime(seconds: int, modifier: str) -> datetime:  # type: ignore[empty-body]
    """SQLite's datetime(seconds, 'unixepoch')."""


def shifted(conn: Connection, ts: Any, hours: Any) -> Any:
    """`ts` plus a number of hours that varies by row. SQLite before 3.42 shifts no
    timestamp that has fractions of a second, so there it goes through whole epoch seconds:
    dropping the fraction moves no time across a period boundary (boundaries are whole
    seconds)."""
    if conn.name == "sqlite":
        return _sqlite_datetime(ts.epoch_seconds().cast("int64") + hours * 3600, "unixepoch")
    return ts + hours.as_interval("h")


@dataclass(frozen=True)
class Template:
    """A query compiled once, its parameters left as DuckDB's named placeholders ($name)."""

    sql: str
    names: dict[Any, str]  # each parameter (an Ibis scalar parameter) -> its placeholder


def duckdb_template(backend: Any, expr: Any, params: list[Any]) -> Template | None:
    """`expr` compiled for DuckDB with each of `params` (Ibis scalar parameters) left as a
    placeholder: compiling an Ibis expression took 20-40 ms, as long as a month's breakdown
    itself. The placeholders take the place of stand-in values, which must all be found
    (else None: compile it with its values each time)."""
    from sqlglot import exp

    standins = {p: _standin(p, i) for i, p in enumerate(params)}
    tree = backend.compiler.to_sqlglot(expr.as_table(), params=standins)
    shapes = {
        param: backend.compiler.to_sqlglot(ibis.literal(v).name("v").as_table()).expressions[0].this
        for param, v in standins.items()
    }
    kinds = tuple({type(shape) for shape in shapes.values()})
    texts = {param: shape.sql(dialect="duckdb") for param, shape in shapes.items()}
    names: dict[Any, str] = {}

    def placeholder(node: Any) -> Any:
        # Nodes of a stand-in's kind only (comparing every node of a large query with
        # `==` hashed each subtree again and took seconds), compared by their SQL: a
        # timestamp added to an interval holds its seconds as a number, elsewhere as text.
        if isinstance(node, kinds):
            for i, (param, text) in enumerate(texts.items()):
                if type(node) is type(shapes[param]) and node.sql(dialect="duckdb") == text:
                    names[param] = f"p{i}"
                    return exp.Placeholder(this=f"p{i}")
        return None

    # Replaced where each parent holds it: a parameter used twice in one query (the
    # repeat-contact rate's span, narrowing both its contacts and its rows) can be one
    # node under two parents, and replacing the node itself left it under one of them
    # (that query was compiled again on every request, about 100 ms).
    for parent in list(tree.walk()):
        for key, value in list(parent.args.items()):
            children = enumerate(value) if isinstance(value, list) else [(None, value)]
            for j, child in list(children):
                new = placeholder(child)
                if new is not None:
                    parent.set(key, new, index=j)
    text = str(tree.sql(dialect="duckdb"))
    if any(shape in text for shape in texts.values()):
        return None  # a stand-in is left where no placeholder took its place
    return Template(text, names)


def _standin(param: Any, i: int) -> Any:
    """A value no query holds of its own, of the parameter's type."""
    kind = param.type()
    if kind.is_timestamp():
        return datetime(1111, 1, 1 + i, 1, 1, 1, 111111 + i)
    if kind.is_integer():
        return 987_654_321_000 + i
    raise ValueError(f"no stand-in for parameters of type {kind}")


def write_parquet(conn: Connection, expr: Table, target: Path) -> None:
    """`expr` (on DuckDB connection `conn`) written to the Parquet file `target`, in its
    order, under a temporary name renamed when complete: a reader finds the whole file or
    none. In Parquet's second format, whose encodings store sorted timestamps and ids as
    differences (`PARQUET`): the company's ten million contacts 240 -> 147 MB, written
    0.2-0.3 s sooner (of 3.2-3.3 s), a month of them read in 12 ms rather than 24."""
    partial = target.parent / f".{target.name}.{uuid.uuid4().hex}"
    try:
        sql = ibis.to_sql(expr, dialect="duckdb")
        quoted = str(partial).replace("'", "''")
        conn.backend.raw_sql(f"COPY ({sql}) TO '{quoted}' ({PARQUET})")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def duckdb_run(backend: Any, template: Template, expr: Any, values: dict[Any, Any]) -> Any:
    """What `backend.execute(expr, params=values)` gives (a DataFrame of Ibis's types), run
    from `template`."""
    import pandas as pd
    import pyarrow.types as pat
    from ibis.backends.duckdb.converter import DuckDBPandasData

    given = {name: values[param] for param, name in template.names.items()}
    table = backend.con.sql(template.sql, params=given or None).to_arrow_table()
    schema = expr.as_table().schema()
    if schema.names != tuple(table.column_names):
        raise ValueError("schema names don't match input data columns")
    # As Ibis's DuckDB backend turns Arrow into pandas (Backend.execute, then the
    # expression's __pandas_result__), each column converted once: Ibis makes a DataFrame
    # of the columns, converts it into another, and a table's result converts that again
    # to the same types (the whole catalogue's 36 results at 200,000 customers: 46 -> 20 ms).
    frame = pd.DataFrame(
        {
            name: DuckDBPandasData.convert_column(
                pd.Series(
                    col.to_pylist()
                    if pat.is_nested(col.type) or pat.is_dictionary(col.type) or col.null_count
                    else col.to_pandas()
                ),
                dtype,
            )
            for (name, dtype), col in zip(schema.items(), table.columns, strict=True)
        }
    )
    if isinstance(expr, ir.Table):
        return frame
    return expr.__pandas_result__(frame)
