"""What the DuckDB engine saves of its fixed costs per query: the tables it opens and the
work tables it computes are given the schemas it knows already (no DESCRIBE each), and
those schemas are exactly the ones DuckDB describes; the SQL compiled over a mirror version
is kept with it (compiled.py), so a second run over the version compiles nothing, and
reads the very text Ibis would compile.

The tiny company of tests/metrics_data.py (January to March 2026)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from datetime import datetime

import ibis
import pandas as pd
import pytest

from crm_scorecard.crm.models import OrderLine
from crm_scorecard.metrics.backends import Connection, Template, duckdb_in_utc, duckdb_run
from crm_scorecard.metrics.compiled import FILE, CompiledSql, digest
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine
from crm_scorecard.metrics.kinds import Request
from crm_scorecard.metrics.live import live_connection, live_forget
from crm_scorecard.metrics.mirror import mirror_sync

from . import metrics_data


@pytest.fixture(scope="module")
def company(django_db_setup, django_db_blocker, tmp_path_factory):
    """The tiny company, committed (DuckDB reads the mirror, not the test's transaction)
    and mirrored."""
    folder = tmp_path_factory.mktemp("mirror")
    with django_db_blocker.unblock():
        metrics_data.build()
        mirror_sync(folder)
    yield folder
    live_forget()
    with django_db_blocker.unblock():
        metrics_data.clear()


@pytest.fixture
def mirrored(company, monkeypatch):
    """The default engine reading the company's mirror."""
    monkeypatch.setenv("METRICS_ENGINE", "auto")
    monkeypatch.setenv("METRICS_MIRROR", str(company))
    return company


def described(conn, table) -> object:
    """The schema Ibis reads back from DuckDB for `table` (a table of `conn`'s backend)."""
    op = table.op()
    return conn.backend.table(op.name, database=(op.namespace.catalog, op.namespace.database))


def work_tables(engine: Engine) -> dict[str, object]:
    """Each source's monthly core that the engine keeps in a table of its own, by source."""
    found = {}
    for name in engine.registry.model.sources:
        table = engine.table(name, Request(grain="month"))
        if type(table.op()).__name__ == "DatabaseTable":
            found[name] = table
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("choice", ["auto", "duckdb"])
def test_every_table_and_work_table_has_the_schema_duckdb_describes(mirrored, choice):
    # Given a run of the whole catalogue as `crm-scorecard compute` makes it (sources kept
    # in work tables), over the mirror or over DuckDB's own copy of the app database
    reg = registry()
    with Engine(connect(choice), reg, materialise=True) as engine:
        schema_reads = []
        describe = engine.conn.backend.get_schema
        engine.conn.backend.get_schema = lambda *a, **k: schema_reads.append(a) or describe(*a, **k)
        # When every metric is computed
        for metric in reg:
            if metric.kind != "manual":
                engine.compute(metric.key)
        kept = work_tables(engine)
        opened = engine.conn.opened()
        read = [a[0] for a in schema_reads]
        # Then no table was described on the way (but the tables DuckDB copied through
        # PostgreSQL's scanner); every source that joins tables (or works much out for each
        # row: complaints) has a work table, and each table the engine opened or computed
        # has exactly the schema (types and nullability) DuckDB describes for it
        if engine.conn.parquet is None:
            assert sorted(read) == sorted(opened)
        else:
            assert read == []
        assert sorted(kept) == ["complaints", "engagement", "feedback", "order_lines", "orders"]
        # (over the mirror, the company's contacts its version holds worked out besides)
        derived = ["derived_contacts"] if choice == "auto" else []
        assert len(opened) == 12 + len(derived)
        assert [n for n in opened if n == "derived_contacts"] == derived
        for name in opened:
            table = engine.conn.table(name)
            assert table.schema() == described(engine.conn, table).schema(), name
        for name, table in kept.items():
            assert table.schema() == described(engine.conn, table).schema(), name


@pytest.mark.django_db
def test_a_live_connections_resident_tables_have_the_schema_duckdb_describes(mirrored):
    # Given the connection kept open for live reads, with its resident tables (every
    # department's sources in period order)
    live_forget()
    with live_connection() as conn:
        engine = Engine(conn, registry(), narrow=True)
        # When the sources are read for a month
        kept = work_tables(engine)
        # Then each resident table has exactly the schema DuckDB describes for it
        assert sorted(kept) == ["complaints", "engagement", "feedback", "order_lines", "orders"]
        for name, table in kept.items():
            assert table.schema() == described(conn, table).schema(), name
    live_forget()


@pytest.mark.django_db
def test_a_parquet_view_declared_then_opened_has_the_schema_duckdb_describes(mirrored):
    # Given a connection over the mirror that declared the order tables' views
    with closing(connect("auto")) as conn:
        conn.declare(("crm_order", "crm_orderline"))
        # When the engine opens them
        orders = conn.table("crm_order")
        lines = conn.table("crm_orderline")
        # Then they have the schema DuckDB describes, the order time a plain UTC timestamp
        assert orders.schema() == described(conn, orders).schema()
        assert lines.schema() == described(conn, lines).schema()
        assert str(orders.schema()["ordered_at"]) == "timestamp(6)"


@pytest.mark.django_db
def test_a_few_valued_text_is_written_as_an_enum_in_text_order_over_the_mirror(mirrored):
    # Given a run over the mirror that keeps the order lines in a work table (the one a
    # breakdown by the order's channel reads, with every column)
    with Engine(connect("auto"), registry(), materialise=True) as engine:
        name = engine.table("order_lines", Request(grain="month", by="channel")).op().name
        run = engine.conn.backend.con.execute
        # When DuckDB describes the work table, and its text is read back
        types = {row[0]: row[1] for row in run(f'DESCRIBE "temp"."main"."{name}"').fetchall()}
        read = run(
            f"SELECT min(product_category), max(product_category), "
            f"count(*) FILTER (WHERE product_tier = 'premium'), "
            f"count(*) FILTER (WHERE product_category < 'B') "
            f'FROM "temp"."main"."{name}"'
        ).fetchone()
        # Then the order's channel and the product's category and tier are ENUMs of the
        # values the files hold, in text order, compared and ordered as text
        assert types["channel"] == "ENUM('online')"
        assert types["product_category"] == "ENUM('Accessories', 'Devices')"
        assert types["product_tier"] == "ENUM('premium', 'standard')"
        assert types["customer"] == "BIGINT"
        lines = OrderLine.objects
        assert read == (
            "Accessories",
            "Devices",
            lines.filter(product__tier="premium").count(),
            lines.filter(product__category="Accessories").count(),
        )
        assert read[2] > 0 and 0 < read[3] < lines.count()


def catalogue(engine: Engine) -> dict[str, list]:
    """Every metric of the catalogue (monthly, the company's), as `compute` gives it."""
    return {m.key: engine.compute(m.key) for m in engine.registry if m.kind != "manual"}


@pytest.mark.django_db
def test_a_second_run_over_the_same_mirror_version_compiles_nothing(mirrored):
    # Given a first run of the whole catalogue over the mirror, as `crm-scorecard compute`
    # makes it, which compiled its queries (and kept their text with the mirror version)
    reg = registry()
    with Engine(connect("auto"), reg, materialise=True) as first:
        version = first.conn.parquet
        (version / FILE).unlink(missing_ok=True)
        values = catalogue(first)
        assert first.conn.compiled is not None
        compiled = first.conn.compiled.compiled
    assert (version / FILE).exists()
    # When a second run reads the same version, its work tables named afresh
    with Engine(connect("auto"), reg, materialise=True) as second:
        compiles = []
        compile = second.conn.backend.compile
        second.conn.backend.compile = lambda *a, **k: compiles.append(a) or compile(*a, **k)
        again = catalogue(second)
        assert second.conn.parquet == version
        kept = second.conn.compiled
    # Then it compiles nothing, reads every text the first compiled, and finds the same numbers
    assert compiles == []
    assert (kept.compiled, kept.read) == (0, compiled)
    assert compiled > 30
    assert again == values


@pytest.mark.django_db
def test_the_kept_text_is_what_ibis_compiles_with_this_runs_table_names(mirrored):
    # Given the texts a first run kept
    reg = registry()
    with Engine(connect("auto"), reg, materialise=True) as first:
        (first.conn.parquet / FILE).unlink(missing_ok=True)
        catalogue(first)
    # When a second run reads them, each beside what Ibis compiles for the same query now
    pairs = []
    with Engine(connect("auto"), reg, materialise=True) as second:
        sql = second.conn.sql

        def compared(expr, compile, key=None):
            pairs.append((sql(expr, compile, key), compile()))
            return pairs[-1][0]

        second.conn.sql = compared
        catalogue(second)
        work = [n for n in second.conn._aliases if n.startswith("source_orders_")]
    # Then every text read is the one compiled, naming this run's own work tables
    assert len(pairs) > 30
    assert [kept for kept, _ in pairs] == [fresh for _, fresh in pairs]
    assert len(work) == 1 and any(f'"{work[0]}"' in kept for kept, _ in pairs)


DIGEST = """
import datetime, decimal, ibis
from crm_scorecard.metrics.compiled import digest
t = ibis.table({"ts": "timestamp", "amount": "decimal(12, 2)", "region": "string"}, name="sales")
x = t.filter(t.ts >= datetime.datetime(2026, 1, 1), t.region.isin(["North", "South"]))
x = x.join(x.view(), "region")
print(digest(x.group_by("region").aggregate(total=x.amount.sum() * decimal.Decimal("1.5"))))
"""


def test_an_expressions_digest_is_the_same_in_every_process():
    # Given one expression (a literal timestamp and decimal, a list, a self-join) built in
    # two processes whose string hashes differ
    def digest_in(seed: str, code: str = DIGEST) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    # When each digests it
    first, second = digest_in("1"), digest_in("2")
    # Then the digests are equal, and another literal gives another digest
    assert len(first) == 64 and first == second
    assert digest_in("1", DIGEST.replace('"1.5"', '"1.6"')) != first
    assert digest_in("1", DIGEST.replace('"North"', '"north"')) != first


def test_a_parameter_or_data_in_memory_has_no_digest():
    # Given an expression with a parameter, and one over a table of data in memory
    t = ibis.table({"p": "int64"}, name="events")
    with_param = t.filter(t.p >= ibis.param("int64")).count()
    in_memory = ibis.memtable({"p": [1, 2]}).count()
    # When each is digested / Then neither has a digest (each is compiled every time)
    assert digest(with_param) is None
    assert digest(in_memory) is None
    assert digest(t.count()) is not None


def opened_product(folder) -> tuple[Connection, list[str]]:
    """A connection over the version in `folder` (its texts kept there) that opened the
    products' table, and the statements it ran to open it."""
    conn = Connection(duckdb_in_utc(), parquet=folder, compiled=CompiledSql(folder / FILE))
    statements: list[str] = []
    run = conn.backend.raw_sql
    conn.backend.raw_sql = lambda sql, *a, **k: statements.append(str(sql)) or run(sql, *a, **k)
    conn.table("crm_product")
    return conn, statements


def test_a_versions_table_opens_in_one_statement_once_a_connection_opened_it(tmp_path):
    # Given a mirror version's products' file: a category typed with a quote in it, a tier
    # left empty, and a time with a zone; and a first connection that opened it
    quoted = str(tmp_path / "crm_product.parquet").replace("'", "''")
    duckdb_in_utc().raw_sql(
        "COPY (SELECT * FROM (VALUES (1, 'Kids'' toys', 'premium', TIMESTAMPTZ '2026-01-31 "
        "23:30:00+00'), (2, 'Devices', NULL, TIMESTAMPTZ '2026-02-01 00:10:00+00')) "
        f"AS t(id, category, tier, created_at)) TO '{quoted}' (FORMAT parquet)"
    )
    first, statements = opened_product(tmp_path)
    made = list(statements)
    query = "SELECT id, category, tier, created_at, category < 'Kids' FROM crm_product ORDER BY id"
    rows = first.backend.raw_sql(query).fetchall()
    kinds = first.backend.raw_sql("DESCRIBE crm_product").fetchall()
    assert first.compiled is not None
    first.compiled.save()
    first.close()
    # When a second connection over the version opens it
    second, statements = opened_product(tmp_path)
    # Then it runs one statement for it (the first described the file and read the
    # values of its ENUMs), and reads the same types, schema and rows: the quoted
    # category whole, the time a plain UTC one
    assert len(statements) == 1 and len(made) == 4
    assert [s.split()[0] for s in made] == ["DESCRIBE", "SELECT", "SELECT", "CREATE"]
    assert "DESCRIBE" not in statements[0] and "DISTINCT" not in statements[0]
    assert second.backend.raw_sql("DESCRIBE crm_product").fetchall() == kinds
    assert {row[0]: row[1] for row in kinds}["category"] == "ENUM('Devices', 'Kids'' toys')"
    assert second.backend.raw_sql(query).fetchall() == rows
    assert [r[1:4] for r in rows] == [
        ("Kids' toys", "premium", datetime(2026, 1, 31, 23, 30)),
        ("Devices", None, datetime(2026, 2, 1, 0, 10)),
    ]
    assert [r[4] for r in rows] == [False, True]
    product = second.table("crm_product")
    assert product.schema() == described(second, product).schema()
    assert str(product.schema()["created_at"]) == "timestamp(6)"
    second.close()


def test_a_query_run_from_its_sql_gives_what_ibis_execute_gives():
    # Given a DuckDB table of whole numbers, fractions, text (some missing), times and
    # flags, and queries over it: the rows, grouped rows, one column, one value, none
    backend = duckdb_in_utc()
    backend.raw_sql(
        "CREATE TABLE t AS SELECT * FROM (VALUES "
        "(1, 2.5, 'North', TIMESTAMP '2026-01-31 23:30:00', DATE '2026-01-31', TRUE, 7), "
        "(2, NULL, NULL, TIMESTAMP '2026-02-01 00:10:00', NULL, FALSE, NULL), "
        "(3, 4.0, 'Kids'' toys', NULL, DATE '2026-03-01', NULL, 9)) "
        "AS v(id, amount, region, ts, day, flag, n)"
    )
    t = backend.table("t")
    queries = [
        t,
        t.group_by("region").aggregate(total=t.amount.sum(), rows=t.count(), most=t.n.max()),
        t.filter(t.id > 5),
        t.region,
        t.amount.mean(),
        t.filter(t.id > 5).n.max(),
    ]
    for expr in queries:
        template = Template(str(ibis.to_sql(expr, dialect="duckdb")), {})
        # When each runs from its SQL, and through Ibis
        ours, ibis_own = duckdb_run(backend, template, expr, {}), backend.execute(expr)
        # Then the results are the same, to the types and the missing values
        if isinstance(ibis_own, pd.DataFrame):
            pd.testing.assert_frame_equal(ours.sort_index(axis=1), ibis_own.sort_index(axis=1))
            assert list(ours.columns) == list(ibis_own.columns)
        elif isinstance(ibis_own, pd.Series):
            pd.testing.assert_series_equal(ours, ibis_own)
        else:
            assert type(ours) is type(ibis_own)
            assert ours == ibis_own or (pd.isna(ours) and pd.isna(ibis_own))
    backend.disconnect()
