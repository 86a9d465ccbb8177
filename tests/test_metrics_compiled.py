"""What the DuckDB engine saves of its fixed costs per query: the tables it opens and the
work tables it computes are given the schemas it knows already (no DESCRIBE each), and
those schemas are exactly the ones DuckDB describes.

The tiny company of tests/metrics_data.py (January to March 2026)."""

from __future__ import annotations

from contextlib import closing

import pytest

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
        # PostgreSQL's scanner); every source that joins tables has a work table, and each
        # table the engine opened or computed has exactly the schema (types and
        # nullability) DuckDB describes for it
        if engine.conn.parquet is None:
            assert sorted(read) == sorted(opened)
        else:
            assert read == []
        assert sorted(kept) == ["engagement", "feedback", "order_lines", "orders"]
        assert len(opened) == 12
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
        assert sorted(kept) == ["engagement", "feedback", "order_lines", "orders"]
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
