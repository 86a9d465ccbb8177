"""What PostgreSQL's planner is told about period indexes.

Every metric groups events by a period index computed from their timestamp (`period_expr`).
PostgreSQL estimates the number of groups of such an expression as the number of distinct
timestamps, millions, and so sorts ten million contacts on disk to group them where hashing
into 24 months would do: 4.6 s against 2.7 s for the call-centre aggregates. Expression
statistics on each event timestamp's period index, at each grain, tell it the truth. They
are created by a migration (PostgreSQL only); `tests/test_metrics.py` checks the planner
still recognises the expressions the engine emits."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import ibis
import sqlglot
from sqlglot import exp

from crm_scorecard.periods import GRAINS

from .kinds import period_expr
from .semantic import event_timestamps


def period_sql(column: str, grain: str) -> str:
    """The period index of `column` at `grain`, as the engine emits it for PostgreSQL."""
    t = ibis.table({column: "timestamp('UTC')"}, name="t")
    select = sqlglot.parse_one(
        ibis.to_sql(t.select(p=period_expr(t[column], grain)), dialect="postgres"),
        dialect="postgres",
    )
    assert isinstance(select, exp.Select)
    bare = select.expressions[0].this.transform(
        lambda node: exp.column(node.name) if isinstance(node, exp.Column) else node
    )
    return str(bare.sql(dialect="postgres"))


def statistics(
    exists: Callable[[str, str], bool] | None = None,
) -> list[tuple[str, str, str]]:
    """(name, table, expression) of each statistics object; with `exists`, only those on
    columns the database has yet (a migration runs before later apps' columns exist)."""
    out = []
    for table, column in event_timestamps():
        if exists is not None and not exists(table, column):
            continue
        for grain in GRAINS:
            expression = period_sql(column, grain)
            digest = hashlib.sha1(expression.encode()).hexdigest()[:8]
            out.append((f"crm_period_{table[4:]}_{column}_{grain}_{digest}", table, expression))
    return out


def columns_present(connection: Any) -> Callable[[str, str], bool]:
    """Whether a (table, column) exists yet in the database of a Django `connection` (the
    app migrating it may run before the app adding a column the planner names)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
        found = {(str(t), str(c)) for t, c in cursor.fetchall()}
    return lambda table, column: (table, column) in found


def create_statistics(execute, exists=None) -> None:  # type: ignore[no-untyped-def]
    """Create the statistics objects (with `execute`, a function running one statement) on
    the columns `exists(table, column)` says are there, and analyse the tables so the
    planner has them at once."""
    tables = []
    for name, table, expression in statistics(exists):
        execute(f"CREATE STATISTICS IF NOT EXISTS {name} ON ({expression}) FROM {table}")
        tables.append(table)
    for table in dict.fromkeys(tables):
        execute(f"ANALYZE {table}")


def drop_statistics(execute) -> None:  # type: ignore[no-untyped-def]
    """Drop every period statistics object, including any made from an expression the
    engine no longer emits (their names carry the expression's digest)."""
    execute(
        "DO $$ DECLARE s record; BEGIN "
        "FOR s IN SELECT stxname FROM pg_statistic_ext WHERE starts_with(stxname, 'crm_period_') "
        "LOOP EXECUTE 'DROP STATISTICS IF EXISTS ' || quote_ident(s.stxname); END LOOP; END $$"
    )
