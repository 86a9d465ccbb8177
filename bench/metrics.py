"""Benchmark: the KPI catalogue, monthly, on each engine, against a pandas baseline.

Usage:
  .venv/bin/python bench/metrics.py [--database-url URL] [--engines auto,duckdb,app] [--seed-customers N]
                                   [--runs N] [--slowest N] [--skip-pandas] [--skip-pandas-app]
                                   [--skip-departments] [--skip-copy] [--fixed-rounds N]
                                   [--forget-sql]

The database at URL must hold a seeded company (`crm-scorecard seed`); with
--seed-customers the script seeds it first (replacing its CRM data). In one run, side by side:

- the columnar mirror's first copy out of the app database (every table copied again);
- pandas over the same Parquet files the default engine reads, loaded into memory first:
  the whole catalogue, monthly, as an analyst would write it, compute alone (the baseline
  the engines' ratios are taken against); and pandas reading the app database (load +
  compute), as a second line, its values checked equal to the first's;
- the fixed cost of one query (compile + round trip) on an empty company;
- what a mirror version works out when it is made (the company's contacts, each with the
  customer's next one: `mirror.derive_sources`), timed apart: the default engine reads it
  instead of working it out, so its ratio is also given counting that time;
- each engine, whole catalogue, monthly, in a process of its own as `crm-scorecard compute`
  runs (connect, sources built, every metric computed, values not stored; the mirror already
  warm; importing Ibis's backend, once per process as importing pandas is, timed apart), with every value checked against pandas, where its time went (queries, compiling,
  work tables, Python) and with --slowest N its N slowest metrics (a metric's time includes
  the inputs it computed first; the batch of plain aggregates is timed as "prefetch");
- on the default engine, company plus one series per department subtree, against the
  company-only run.

--runs N repeats each figure and prints the median; --skip-pandas leaves the baselines out,
to time one engine while working on it. Every line ends with the load average. The default
engine keeps the SQL its queries compiled to with the mirror version, so a run after the
first over one version compiles nothing (`compiled.py`); --forget-sql drops it before each
run, to time a first run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

# The columns of each table the pandas baseline reads: (table, columns) per frame.
FRAMES = {
    "orders": ("crm_order", ["id", "customer_id", "salesperson_id", "ordered_at"]),
    "lines": ("crm_orderline", ["order_id", "product_id", "amount"]),
    "products": ("crm_product", ["id", "category", "tier"]),
    "leads": ("crm_lead", ["created_at", "converted_at"]),
    "calls": (
        "crm_interaction",
        [
            "id",
            "customer_id",
            "channel",
            "started_at",
            "wait_seconds",
            "hold_seconds",
            "handle_seconds",
            "topic_count",
            "resolved_first_contact",
        ],
    ),
    "feedback": ("crm_feedback", ["submitted_at", "rating", "recommend"]),
    "complaints": ("crm_complaint", ["opened_at", "resolved_at"]),
    "employees": ("crm_employee", ["hired_at", "left_at"]),
    "engagement": ("crm_engagementanswer", ["answered_at", "rating"]),
}


def pandas_load(read) -> dict:
    """The tables the catalogue needs, loaded into pandas the way an analyst would;
    `read(table, columns)` returns one as a DataFrame."""
    return {name: read(table, columns) for name, (table, columns) in FRAMES.items()}


def pandas_catalogue(frames: dict, months: range) -> dict[str, dict[int, float | None]]:
    """The whole catalogue the way an analyst would write it in pandas: one frame per
    table, a month index per row, group by month. `months`: the month indexes reported."""
    import pandas as pd

    def month(series):
        ts = pd.to_datetime(series, utc=True)
        return ts.dt.year * 12 + ts.dt.month - 1

    def counts(frame) -> dict:
        return {p: float(frame.get(p, 0)) for p in months}

    def ratio(num: dict, den: dict, scale: float = 1.0) -> dict:
        return {p: (num.get(p, 0) / d * scale if d else None) for p, d in den.items()}

    out: dict[str, dict[int, float | None]] = {}
    orders = frames["orders"].copy()
    orders["p"] = month(orders.ordered_at)
    lines = frames["lines"].merge(
        orders[["id", "customer_id", "p"]], left_on="order_id", right_on="id"
    )
    lines = lines.merge(frames["products"], left_on="product_id", right_on="id", how="left")
    out["revenue"] = counts(lines.groupby("p").amount.apply(lambda s: float(s.astype(float).sum())))
    out["orders"] = counts(orders.groupby("p").size())
    active = orders[["customer_id", "p"]].drop_duplicates()
    out["active_customers"] = counts(active.groupby("p").size())
    first = orders.groupby("customer_id").p.min().rename("first_p")
    out["new_customers"] = counts(first.value_counts())
    history = active.join(first, on="customer_id")
    out["repeat_customers"] = counts(history[history.p > history.first_p].groupby("p").size())
    out["average_order_value"] = ratio(out["revenue"], out["orders"])
    out["revenue_per_customer"] = ratio(out["revenue"], out["active_customers"])
    out["purchase_frequency"] = ratio(out["orders"], out["active_customers"])
    out["repeat_purchase_rate"] = ratio(out["repeat_customers"], out["active_customers"])
    prev = active.assign(p=active.p + 1)
    kept = active.merge(prev, on=["customer_id", "p"])
    den = prev.groupby("p").size()
    out["retention_rate"] = {
        p: kept.groupby("p").size().get(p, 0) / d for p, d in den.items() if p in months
    }
    out["churn_rate"] = {p: 1 - v for p, v in out["retention_rate"].items()}
    # Up-selling: first premium purchase now, first purchase of any line before.
    line_first = lines.groupby("customer_id").p.min().rename("first_p")
    premium = lines[lines.tier == "premium"]
    first_premium = premium.groupby("customer_id").p.min().rename("prem_p")
    upsold = first_premium.to_frame().join(line_first)
    upsold = upsold[upsold.first_p < upsold.prem_p]
    out["upsell_customers"] = counts(upsold.groupby("prem_p").size())
    out["upsell_rate"] = ratio(out["upsell_customers"], out["repeat_customers"])
    # Cross-selling: some category bought for the first time now, after earlier purchases.
    firsts = lines[lines.category.notna()].groupby(["customer_id", "category"]).p.min()
    firsts = firsts.rename("cat_p").reset_index().join(line_first, on="customer_id")
    crossed = firsts[firsts.first_p < firsts.cat_p][["customer_id", "cat_p"]].drop_duplicates()
    out["cross_sell_customers"] = counts(crossed.groupby("cat_p").size())
    out["cross_sell_rate"] = ratio(out["cross_sell_customers"], out["repeat_customers"])
    leads = frames["leads"].copy()
    leads["p"] = month(leads.created_at)
    gap = (
        pd.to_datetime(leads.converted_at, utc=True) - pd.to_datetime(leads.created_at, utc=True)
    ).dt.total_seconds()
    leads["hit"] = ((gap >= 0) & (gap <= 30 * 86400)).astype(int)
    out["leads"] = counts(leads.groupby("p").size())
    out["lead_conversion_rate"] = leads.groupby("p").hit.mean().to_dict()
    out["active_salespeople"] = counts(orders.groupby("p").salesperson_id.nunique())
    for key, num in [
        ("revenue_per_salesperson", "revenue"),
        ("new_customers_per_salesperson", "new_customers"),
        ("repeat_customers_per_salesperson", "repeat_customers"),
    ]:
        out[key] = ratio(out[num], out["active_salespeople"])
    calls = frames["calls"].copy()
    calls["p"] = month(calls.started_at)
    out["interactions"] = counts(calls.groupby("p").size())
    phone = calls[calls.channel == "call"]
    out["calls"] = counts(phone.groupby("p").size())
    for key, col in [
        ("average_handle_time", "handle_seconds"),
        ("average_hold_time", "hold_seconds"),
        ("average_wait_time", "wait_seconds"),
    ]:
        out[key] = phone.groupby("p")[col].mean().to_dict()
    out["wait_time_p90"] = phone.groupby("p").wait_seconds.quantile(0.9).to_dict()
    calls["resolved"] = calls.resolved_first_contact.fillna(False).astype(bool).astype(int)
    out["first_contact_resolution_rate"] = calls.groupby("p").resolved.mean().to_dict()
    calls["ts"] = pd.to_datetime(calls.started_at, utc=True)
    calls = calls.sort_values(["customer_id", "ts", "id"])
    nxt = calls.groupby("customer_id").ts.shift(-1)
    calls["repeat"] = ((nxt - calls.ts).dt.total_seconds() <= 7 * 86400).astype(int)
    out["repeat_contact_rate"] = calls.groupby("p").repeat.mean().to_dict()
    out["topics_per_contact"] = calls.groupby("p").topic_count.mean().to_dict()
    visits = calls[calls.channel == "visit"]
    out["visits"] = counts(visits.groupby("p").size())
    out["visiting_customers"] = counts(visits.groupby("p").customer_id.nunique())
    out["visits_per_customer"] = ratio(out["visits"], out["visiting_customers"])
    feedback = frames["feedback"].copy()
    feedback["p"] = month(feedback.submitted_at)
    out["rated_feedback"] = counts(feedback[feedback.rating.notna()].groupby("p").size())
    out["satisfied_feedback"] = counts(feedback[feedback.rating >= 4].groupby("p").size())
    out["csat"] = ratio(out["satisfied_feedback"], out["rated_feedback"])
    out["average_rating"] = feedback.groupby("p").rating.mean().to_dict()
    out["nps_answers"] = counts(feedback[feedback.recommend.notna()].groupby("p").size())
    out["promoters"] = counts(feedback[feedback.recommend >= 9].groupby("p").size())
    out["detractors"] = counts(feedback[feedback.recommend <= 6].groupby("p").size())
    out["nps"] = {
        p: ((out["promoters"][p] - out["detractors"][p]) / n * 100 if n else None)
        for p, n in out["nps_answers"].items()
    }
    complaints = frames["complaints"].copy()
    complaints["p"] = month(complaints.opened_at)
    complaints["done_p"] = month(complaints.resolved_at)
    out["complaints"] = counts(complaints.groupby("p").size())
    out["complaints_per_1000_customers"] = ratio(out["complaints"], out["active_customers"], 1000)
    done = complaints[complaints.resolved_at.notna()].copy()
    done["hours"] = (
        pd.to_datetime(done.resolved_at, utc=True) - pd.to_datetime(done.opened_at, utc=True)
    ).dt.total_seconds() / 3600
    out["complaint_resolution_hours"] = done.groupby("done_p").hours.median().to_dict()
    out["open_complaints"] = {
        p: float(((complaints.p <= p) & ~(complaints.done_p <= p)).sum()) for p in months
    }
    employees = frames["employees"].copy()
    employees["p"] = month(employees.hired_at)
    employees["left_p"] = month(employees.left_at)
    out["employees_left"] = counts(employees.groupby("left_p").size())
    out["headcount"] = {
        p: float(((employees.p < p) & ~(employees.left_p < p)).sum()) for p in months
    }
    out["employee_turnover_rate"] = ratio(out["employees_left"], out["headcount"])
    engagement = frames["engagement"].copy()
    engagement["p"] = month(engagement.answered_at)
    out["employee_engagement"] = engagement.groupby("p").rating.mean().to_dict()
    return out


def _instrument(engine) -> dict[str, float]:
    """Count the queries `engine` (a metrics Engine) runs, and the seconds spent compiling
    Ibis expressions to SQL and in running them (the engine's execute, compile included,
    and its backend's raw SQL: the work tables); wraps the methods in place. Queries are
    counted at the engine: over a mirror version they run from SQL text (kept with the
    version, or compiled once), not through Ibis's execute."""
    spent = {"queries": 0, "compile": 0.0, "execute": 0.0, "raw_sql": 0.0}

    def timed(name: str, method, count: bool = False):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - began
                if count:
                    spent["queries"] += 1

        return wrapper

    backend = engine.conn.backend
    backend.compile = timed("compile", backend.compile)
    engine.execute = timed("execute", engine.execute, count=True)
    backend.raw_sql = timed("raw_sql", backend.raw_sql)
    return spent


class _Recorded:
    """A DuckDB connection that notes every statement run on it (its text and parameters),
    to run them again on DuckDB alone (`_replayed`); everything else passes through."""

    def __init__(self, con, statements: list) -> None:
        self._con = con
        self._statements = statements

    def sql(self, query, *args, **kwargs):
        self._statements.append((str(query), kwargs.get("params")))
        return self._con.sql(query, *args, **kwargs)

    def execute(self, query, *args, **kwargs):
        self._statements.append((str(query), args[0] if args else kwargs.get("parameters")))
        return self._con.execute(query, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _replayed(choice: str, statements: list) -> float:
    """Seconds `statements` (text, parameters) take run back to back on a fresh DuckDB
    connection of engine `choice`, each result read whole into Arrow: what DuckDB itself
    spends on the run, without the engine's Python between queries or turning results
    into pandas."""
    from crm_scorecard.metrics.connect import connect

    conn = connect(choice, sync=False)
    try:
        con = conn.backend.con
        began = time.perf_counter()
        for query, params in statements:
            result = con.sql(query, params=params) if params else con.sql(query)
            if result is not None:
                result.to_arrow_table()
        return time.perf_counter() - began
    finally:
        conn.close()


def _backend_name(choice: str) -> str:
    """The Ibis backend engine `choice` connects through."""
    if choice == "app":
        from django.db import connection

        return "postgres" if connection.vendor == "postgresql" else connection.vendor
    return "pyspark" if choice.startswith("spark:") else "duckdb"


def run_engine(choice: str, keys: list[str], by: list[str | None]) -> dict:
    """The whole catalogue on one engine, as `crm-scorecard compute` runs it (`by`: None
    for the company's values, "department" for one series per department subtree too):
    the values by metric and month index (company-wide), with seconds in all and per
    metric, and where they went (queries, compiling, running)."""
    from crm_scorecard.metrics.connect import connect
    from crm_scorecard.metrics.definitions import registry
    from crm_scorecard.metrics.engine import Engine
    from crm_scorecard.periods import period_index

    out: dict = {}
    # Importing the Ibis backend is once per process (0.15-0.2 s for DuckDB's, which
    # imports every SQL dialect's compiler), like importing pandas, which no pandas figure
    # counts either: timed apart and left out of the run.
    began = time.perf_counter()
    importlib.import_module(f"ibis.backends.{_backend_name(choice)}")
    out["import"] = time.perf_counter() - began
    began = time.perf_counter()
    timings: dict[str, float] = {}
    values = 0
    statements: list = []
    with Engine(connect(choice), registry(), materialise=True) as engine:
        spent = _instrument(engine)
        if engine.conn.name == "duckdb":
            engine.conn.backend.con = _Recorded(engine.conn.backend.con, statements)
        out["connect"] = time.perf_counter() - began
        for dimension in by:
            engine.prefetch(keys, by=dimension)  # as `crm-scorecard compute` does
        timings["prefetch"] = time.perf_counter() - began - out["connect"]
        results = {}
        for key in keys:
            started = time.perf_counter()
            for dimension in by:
                rows = engine.compute(key, by=dimension)
                values += len(rows)
                if dimension is None:
                    results[key] = {period_index(p, "month"): v for p, _, v in rows}
            timings[key] = time.perf_counter() - started
        out["label"] = f"{engine.conn.name} ({choice})"
        kept = engine.conn.compiled
        # Queries (work tables included) compiled in this run, and read as the SQL an
        # earlier run over the same mirror version compiled.
        out["sql"] = {"compiled": kept.compiled, "read": kept.read} if kept else None
    out["seconds"] = time.perf_counter() - began
    if statements:
        out["duckdb_alone"] = {
            "statements": len(statements),
            "seconds": _replayed(choice, statements),
        }
    out["timings"] = timings
    out["spent"] = spent
    out["values"] = values
    out["results"] = {k: list(v.items()) for k, v in results.items()}
    return out


def run_mirror_copy() -> dict:
    """The columnar mirror's first copy (every table copied again), timed per table."""
    from crm_scorecard.metrics.mirror import mirror_folder, mirror_sync

    stamps: list[tuple[str, float]] = []
    began = time.perf_counter()
    tables = mirror_sync(
        mirror_folder(),
        refresh=True,
        progress=lambda table: stamps.append((table, time.perf_counter())),
    )
    seconds = time.perf_counter() - began
    per_table, last = {}, began
    for table, at in stamps:
        per_table[table] = at - last
        last = at
    # `seconds`: the whole sync (stamps, copies, anything derived from the copies, the
    # manifest); `copy`: from the start to the last table written.
    copy = (stamps[-1][1] - began) if stamps else seconds
    return {"tables": len(tables), "seconds": seconds, "copy": copy, "per_table": per_table}


def run_derive() -> dict:
    """What a mirror version works out for the whole company when it is made
    (`derive_sources`: the contacts, each with the customer's next one), timed on the
    current version's tables linked into a scratch folder beside it (the version's own
    files never change)."""
    from crm_scorecard.metrics.mirror import derive_sources, mirror_folder, mirror_pin
    from crm_scorecard.metrics.sources import TABLES

    pin = mirror_pin(mirror_folder())
    scratch = Path(tempfile.mkdtemp(prefix=".bench-derive-", dir=pin.path.parent))
    try:
        for table in TABLES:
            os.link(pin.path / f"{table}.parquet", scratch / f"{table}.parquet")
        began = time.perf_counter()
        derive_sources(scratch)
        return {"seconds": time.perf_counter() - began}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        pin.release()


def run_fixed_cost(rounds: int) -> dict:
    """The fixed cost of one query, measured on an empty company (the mirror's tables with
    no rows): a fresh engine computing one count (connect, compile, coverage, the query, as
    a page does per request), and one more query on an open engine (compile + round trip);
    and both again with their SQL kept beside the files, as a run over a mirror version an
    earlier run read finds it (nothing compiled)."""
    import statistics

    from crm_scorecard.metrics.backends import ParquetConnection, connect_parquet, duckdb_in_utc
    from crm_scorecard.metrics.columnar_copy import PARQUET
    from crm_scorecard.metrics.compiled import FILE, CompiledSql
    from crm_scorecard.metrics.definitions import registry
    from crm_scorecard.metrics.engine import Engine
    from crm_scorecard.metrics.mirror import mirror_folder, mirror_pin

    folder = Path(tempfile.mkdtemp(prefix="crm-bench-empty-"))
    pin = mirror_pin(mirror_folder())
    try:
        con = duckdb_in_utc()
        for source in pin.path.glob("*.parquet"):
            quoted = str(source).replace("'", "''")
            target = str(folder / source.name).replace("'", "''")
            con.raw_sql(
                f"COPY (SELECT * FROM read_parquet('{quoted}') LIMIT 0) TO '{target}' ({PARQUET})"
            )
        con.disconnect()
    finally:
        pin.release()

    def kept_sql() -> ParquetConnection:
        """A connection over the empty files whose SQL is kept with them, as a mirror
        version's is (compiled.py)."""
        return ParquetConnection(
            duckdb_in_utc(), parquet=folder, compiled=CompiledSql(folder / FILE)
        )

    reg = registry()

    def timed(connection, region) -> tuple[float, float]:
        """Median ms of a fresh engine's one count, and of one more query filtered by
        `region(i)`, over the rounds."""
        fresh, more = [], []
        for i in range(rounds):
            began = time.perf_counter()
            with Engine(connection(), reg) as engine:
                engine.compute("orders")
                fresh.append(time.perf_counter() - began)
                began = time.perf_counter()
                engine.compute("orders", filters={"region": region(i)})
                more.append(time.perf_counter() - began)
        return statistics.median(fresh) * 1000, statistics.median(more) * 1000

    try:
        # A new region each round: compiled every time.
        fresh_ms, more_ms = timed(lambda: connect_parquet(folder), lambda i: f"nowhere {i}")
        with Engine(kept_sql(), reg) as engine:  # compiles and keeps both queries' SQL
            engine.compute("orders")
            engine.compute("orders", filters={"region": "nowhere"})
        fresh_kept_ms, more_kept_ms = timed(kept_sql, lambda i: "nowhere")
        return {
            "fresh_ms": fresh_ms,
            "more_ms": more_ms,
            "fresh_kept_ms": fresh_kept_ms,
            "more_kept_ms": more_kept_ms,
            "rounds": rounds,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def child(args: argparse.Namespace, *spec: str) -> dict:
    """Run one measurement in a process of its own (as `crm-scorecard compute` runs, rather
    than in one still holding what the pandas baseline allocated)."""
    done = subprocess.run(
        [sys.executable, __file__, "--database-url", args.database_url, "--child", *spec],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def forget_sql() -> None:
    """Drop the SQL texts kept with the mirror's current version (compiled.py)."""
    from crm_scorecard.metrics.compiled import FILE
    from crm_scorecard.metrics.mirror import mirror_folder, mirror_version

    version = mirror_version(mirror_folder())
    if version is not None:
        (version / FILE).unlink(missing_ok=True)


def load() -> str:
    return open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/crm_scorecard_bench"
    )
    parser.add_argument("--engines", default="auto,duckdb,app")
    parser.add_argument("--seed-customers", type=int)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--runs", type=int, default=1, help="runs of each figure (median)")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--skip-pandas-app", action="store_true")
    parser.add_argument("--skip-departments", action="store_true")
    parser.add_argument("--skip-copy", action="store_true", help="keep the mirror as it is")
    parser.add_argument("--slowest", type=int, default=0)
    parser.add_argument("--fixed-rounds", type=int, default=20)
    parser.add_argument(
        "--forget-sql",
        action="store_true",
        help="drop the SQL kept with the mirror version before each run (every query compiled)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    import django

    django.setup()
    from crm_scorecard.metrics.definitions import registry

    keys = [x.key for x in registry() if x.kind != "manual"]
    if args.child:
        kind, *rest = args.child
        if kind == "engine":
            result = run_engine(rest[0], keys, json.loads(rest[1]))
        elif kind == "mirror":
            result = run_mirror_copy()
        elif kind == "derive":
            result = run_derive()
        else:
            result = run_fixed_cost(int(rest[0]))
        json.dump(result, sys.stdout)
        return 0

    import statistics

    import pandas as pd
    from django.core.management import call_command
    from django.db import connection

    from crm_scorecard.crm import models as m
    from crm_scorecard.crm.seed import SeedPlan, crm_data_clear, crm_seed
    from crm_scorecard.metrics.mirror import mirror_folder, mirror_pin, mirror_sync
    from crm_scorecard.periods import period_index

    call_command("migrate", verbosity=0)
    if args.seed_customers:
        crm_data_clear()
        began = time.perf_counter()
        crm_seed(
            plan=SeedPlan(
                customers=args.seed_customers, months=args.months, seed=1, end=date(2026, 10, 1)
            )
        )
        print(f"seeded {args.seed_customers:,} customers in {time.perf_counter() - began:.0f} s")
    print(
        f"data: {m.Customer.objects.count():,} customers, {m.Interaction.objects.count():,} "
        f"interactions, {m.OrderLine.objects.count():,} order lines on {connection.vendor}; "
        f"{os.cpu_count()} cores, load average {load()} at start"
    )
    print("(every figure in seconds of wall-clock time; 'median of N' where --runs N > 1)")

    if not args.skip_copy:
        copies = [child(args, "mirror") for _ in range(args.runs)]
        seconds = statistics.median(c["copy"] for c in copies)
        whole = statistics.median(c["seconds"] for c in copies)
        slowest = sorted(copies[-1]["per_table"].items(), key=lambda kv: -kv[1])[:3]
        print(
            f"columnar mirror, first copy from {connection.vendor} of {copies[0]['tables']} "
            f"tables (every table copied to Parquet in a new version folder): {seconds:.2f} s "
            f"(runs: {', '.join(f'{c["copy"]:.2f}' for c in copies)}; slowest tables: "
            + ", ".join(f"{t} {s:.2f}" for t, s in slowest)
            + f"); the whole sync, with what is derived from the copies, {whole:.2f} s; "
            f"load {load()}"
        )
    else:
        mirror_sync()

    def month_range(frames) -> range:
        stamps = pd.to_datetime(frames["orders"].ordered_at, utc=True)
        low, high = (period_index(x.date(), "month") for x in (stamps.min(), stamps.max()))
        return range(low, high + 1)

    def pandas_timed(frames) -> tuple[dict, list[float]]:
        months, times, out = month_range(frames), [], {}
        # Warm up first (pandas' first group-by and merge import and compile code: 0.3 s).
        pandas_catalogue({k: f.head(2000) for k, f in frames.items()}, months)
        for _ in range(args.runs):
            began = time.perf_counter()
            out = pandas_catalogue(frames, months)
            times.append(time.perf_counter() - began)
        return out, times

    expected: dict = {}
    compute_seconds = app_seconds = float("nan")
    if not args.skip_pandas:
        pin = mirror_pin(mirror_folder())
        try:
            began = time.perf_counter()
            frames = pandas_load(
                lambda table, columns: pd.read_parquet(
                    pin.path / f"{table}.parquet", columns=columns
                )
            )
            load_seconds = time.perf_counter() - began
        finally:
            pin.release()
        expected, times = pandas_timed(frames)
        compute_seconds = statistics.median(times)
        del frames
        missing = sorted(set(keys) - set(expected))
        print(
            f"pandas over the mirror (the same Parquet files the default engine reads), whole "
            f"catalogue ({len(expected)} metrics, monthly): compute alone {compute_seconds:.2f} s "
            f"(tables already in memory; runs: {', '.join(f'{t:.2f}' for t in times)}); loading "
            f"the files into pandas, not in that figure, {load_seconds:.2f} s; load {load()}"
            + (f"; NOT IN PANDAS: {missing}" if missing else "")
        )

        if not args.skip_pandas_app:

            def read(table: str, columns: list[str]):
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")
                    return pd.DataFrame(cursor.fetchall(), columns=columns)

            began = time.perf_counter()
            frames = pandas_load(read)
            app_load = time.perf_counter() - began
            again, times = pandas_timed(frames)
            del frames
            app_seconds = app_load + statistics.median(times)
            differ = [
                k
                for k in expected
                if any(
                    (v is None) != (again[k].get(p) is None)
                    or (
                        v is not None
                        and v == v
                        and abs(float(again[k][p]) - float(v)) > 1e-9 * max(1, abs(float(v)))
                    )
                    for p, v in expected[k].items()
                )
            ]
            print(
                f"pandas reading the app database ({connection.vendor}): load {app_load:.2f} s + "
                f"compute {statistics.median(times):.2f} s = {app_seconds:.2f} s"
                + (
                    f"; DIFFERS from pandas over the mirror in {differ}"
                    if differ
                    else "; same values as pandas over the mirror"
                )
                + f"; load {load()}"
            )
    connection.close()

    if "auto" in args.engines.split(","):
        fixed = child(args, "fixed", str(args.fixed_rounds))
        print(
            f"fixed cost per query on an empty company (DuckDB over empty Parquet files, median "
            f"of {fixed['rounds']}): a fresh engine computing one count (connect, compile, "
            f"coverage query, the query) {fixed['fresh_ms']:.1f} ms; one more query on an open "
            f"engine (compile + round trip) {fixed['more_ms']:.1f} ms; the same with their SQL "
            f"kept, as over a mirror version an earlier run read (compiled.py): "
            f"{fixed['fresh_kept_ms']:.1f} ms and {fixed['more_kept_ms']:.1f} ms; load {load()}"
        )

    derived = 0.0
    if "auto" in args.engines.split(","):
        derives = [child(args, "derive")["seconds"] for _ in range(args.runs)]
        derived = statistics.median(derives)
        print(
            f"worked out when a mirror version is made (in the sync, not in the default "
            f"engine's figure below): the company's contacts, each with the customer's next "
            f"one, {derived:.2f} s (runs: {', '.join(f'{d:.2f}' for d in derives)}); "
            f"load {load()}"
        )

    for choice in args.engines.split(","):
        runs = []
        for _ in range(args.runs):
            if args.forget_sql:
                forget_sql()
            runs.append(child(args, "engine", choice, json.dumps([None])))
        seconds = statistics.median(r["seconds"] for r in runs)
        run = runs[-1]
        label = run["label"]
        mismatches, compared = [], 0
        for key in keys:
            got = dict(run["results"][key])
            for p, want in expected.get(key, {}).items():
                if p not in got or want is None or want != want:
                    continue
                compared += 1
                if got[p] is None or abs(got[p] - float(want)) > 1e-6 * max(1, abs(float(want))):
                    mismatches.append((key, p, got[p], want))
        spread = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        what = (
            "warm mirror: connect, sources built, every metric computed, values not stored"
            if choice == "auto"
            else "connect (and any copy the engine makes), every metric computed"
        )
        if not expected:
            print(
                f"{label:<22} whole catalogue {seconds:7.2f} s ({what}; runs: {spread}) "
                f"(not checked: --skip-pandas); load {load()}"
            )
        else:
            agreement = (
                f"agrees with pandas on {compared} values"
                if not mismatches
                else f"{len(mismatches)} DIFFERENCES of {compared}, e.g. {mismatches[:3]}"
            )
            ratios = f"{compute_seconds / seconds:4.1f}x pandas compute alone"
            if derived and choice == "auto":
                # Like with like: pandas works out every contact's next one itself.
                ratios += (
                    f" ({compute_seconds / (seconds + derived):.1f}x counting the "
                    f"{derived:.2f} s the mirror version spent on the company's contacts)"
                )
            if app_seconds == app_seconds:
                ratios += f", {app_seconds / seconds:5.1f}x pandas reading the app database"
            print(
                f"{label:<22} whole catalogue {seconds:7.2f} s ({what}; runs: {spread}) = "
                f"{ratios}; {agreement}; load {load()}",
                flush=True,
            )
        spent = run["spent"]
        print(
            f"    where the time went (last run): importing Ibis's backend, once per process "
            f"and not in the run, {run['import']:.2f} s; connect {run['connect']:.2f} s; "
            f"{spent['queries']} queries, {spent['execute']:.2f} s in them (of which compiling "
            f"Ibis to SQL {spent['compile']:.2f} s); work tables and other SQL "
            f"{spent['raw_sql']:.2f} s; Python between queries "
            f"{run['seconds'] - run['connect'] - spent['execute'] - spent['raw_sql']:.2f} s"
        )
        if run.get("duckdb_alone"):
            alone = run["duckdb_alone"]
            print(
                f"    the same {alone['statements']} statements (work tables, views and "
                f"queries) run back to back on a fresh DuckDB connection, each result read "
                f"whole into Arrow: {alone['seconds']:.2f} s; so the engine's own part (connect, "
                f"Python between queries, results turned into pandas) "
                f"{run['seconds'] - alone['seconds']:.2f} s of {run['seconds']:.2f} s"
            )
        if run.get("sql"):
            print(
                "    SQL kept with the mirror version (compiled.py), per run: "
                + "; ".join(
                    f"{r['sql']['compiled']} compiled, {r['sql']['read']} read" for r in runs
                )
            )
        slowest = sorted(run["timings"].items(), key=lambda kv: -kv[1])[: args.slowest]
        for key, spent_s in slowest:
            print(f"    {key:<36} {spent_s:7.2f} s")
        if choice == "auto" and not args.skip_departments:
            deps = [
                child(args, "engine", choice, json.dumps([None, "department"]))
                for _ in range(args.runs)
            ]
            dep_seconds = statistics.median(r["seconds"] for r in deps)
            print(
                f"{label:<22} company + one series per department subtree {dep_seconds:.2f} s "
                f"({deps[-1]['values']:,} values against {run['values']:,}; runs: "
                f"{', '.join(f'{r["seconds"]:.2f}' for r in deps)}) = "
                f"{dep_seconds / seconds:.2f}x the company-only run (target 1.5x); load {load()}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
