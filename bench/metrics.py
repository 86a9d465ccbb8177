"""Benchmark: the KPI catalogue, monthly, on each engine, against a pandas baseline.

Usage:
  .venv/bin/python bench/metrics.py [--database-url URL] [--engines auto,duckdb,app] [--seed-customers N]

The database at URL must hold a seeded company (`crm-scorecard seed`); with
--seed-customers the script seeds it first (replacing its CRM data). Prints seconds for
the whole catalogue on each engine, and for a core set of KPIs on each engine and in a
straightforward pandas implementation an analyst would write (load the tables, group by
month), with the ratio to pandas. Results are checked to agree with pandas.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date

CORE = [
    "revenue",
    "orders",
    "active_customers",
    "new_customers",
    "retention_rate",
    "average_handle_time",
    "average_hold_time",
    "average_wait_time",
    "first_contact_resolution_rate",
    "repeat_contact_rate",
    "topics_per_contact",
    "csat",
    "nps",
    "complaints",
    "complaint_resolution_hours",
]


def pandas_load(read) -> dict:
    """The tables the core KPIs need, loaded into pandas the way an analyst would."""
    return {
        "orders": read("SELECT id, customer_id, ordered_at FROM crm_order"),
        "lines": read("SELECT order_id, amount FROM crm_orderline"),
        "calls": read(
            "SELECT customer_id, channel, started_at, wait_seconds, hold_seconds, handle_seconds, "
            "topic_count, resolved_first_contact FROM crm_interaction"
        ),
        "feedback": read("SELECT submitted_at, rating, recommend FROM crm_feedback"),
        "complaints": read("SELECT opened_at, resolved_at FROM crm_complaint"),
    }


def pandas_core(frames: dict) -> dict[str, dict[int, float | None]]:
    """The core KPIs the way an analyst would write them in pandas."""
    import pandas as pd

    def month(series):
        ts = pd.to_datetime(series, utc=True)
        return ts.dt.year * 12 + ts.dt.month - 1

    orders, lines, calls = frames["orders"].copy(), frames["lines"], frames["calls"].copy()
    feedback, complaints = frames["feedback"].copy(), frames["complaints"]
    out: dict[str, dict[int, float | None]] = {}
    orders["p"] = month(orders.ordered_at)
    lines = lines.merge(orders[["id", "p"]], left_on="order_id", right_on="id")
    out["revenue"] = (
        lines.groupby("p").amount.apply(lambda s: float(s.astype(float).sum())).to_dict()
    )
    out["orders"] = orders.groupby("p").id.nunique().to_dict()
    active = orders[["customer_id", "p"]].drop_duplicates()
    out["active_customers"] = active.groupby("p").size().to_dict()
    first = orders.groupby("customer_id").p.min()
    out["new_customers"] = first.value_counts().to_dict()
    prev = active.assign(p=active.p + 1)
    kept = active.merge(prev, on=["customer_id", "p"])
    den = prev.groupby("p").size()
    out["retention_rate"] = (
        kept.groupby("p").size().reindex(den.index, fill_value=0) / den
    ).to_dict()
    calls["p"] = month(calls.started_at)
    phone = calls[calls.channel == "call"]
    for key, col in [
        ("average_handle_time", "handle_seconds"),
        ("average_hold_time", "hold_seconds"),
        ("average_wait_time", "wait_seconds"),
    ]:
        out[key] = phone.groupby("p")[col].mean().to_dict()
    calls["resolved"] = calls.resolved_first_contact.fillna(False).astype(bool).astype(int)
    out["first_contact_resolution_rate"] = calls.groupby("p").resolved.mean().to_dict()
    calls["ts"] = pd.to_datetime(calls.started_at, utc=True)
    calls = calls.sort_values(["customer_id", "ts"])
    nxt = calls.groupby("customer_id").ts.shift(-1)
    calls["repeat"] = ((nxt - calls.ts).dt.total_seconds() <= 7 * 86400).astype(int)
    out["repeat_contact_rate"] = calls.groupby("p").repeat.mean().to_dict()
    out["topics_per_contact"] = calls.groupby("p").topic_count.mean().to_dict()
    feedback["p"] = month(feedback.submitted_at)
    rated = feedback[feedback.rating.notna()]
    out["csat"] = (rated.assign(ok=rated.rating >= 4).groupby("p").ok.mean()).to_dict()
    rec = feedback[feedback.recommend.notna()]
    out["nps"] = (
        rec.groupby("p")
        .recommend.apply(lambda s: ((s >= 9).mean() - (s <= 6).mean()) * 100)
        .to_dict()
    )
    complaints["p"] = month(complaints.opened_at)
    out["complaints"] = complaints.groupby("p").size().to_dict()
    done = complaints[complaints.resolved_at.notna()].copy()
    done["hours"] = (
        pd.to_datetime(done.resolved_at, utc=True) - pd.to_datetime(done.opened_at, utc=True)
    ).dt.total_seconds() / 3600
    done["p"] = month(done.resolved_at)
    out["complaint_resolution_hours"] = done.groupby("p").hours.median().to_dict()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/crm_scorecard_bench"
    )
    parser.add_argument("--engines", default="auto,duckdb,app")
    parser.add_argument("--seed-customers", type=int)
    parser.add_argument("--months", type=int, default=24)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    import django

    django.setup()
    import pandas as pd
    from django.core.management import call_command
    from django.db import connection

    from crm_scorecard.crm import models as m
    from crm_scorecard.crm.seed import SeedPlan, crm_data_clear, crm_seed
    from crm_scorecard.metrics.catalogue import builtin_registry
    from crm_scorecard.metrics.connect import connect
    from crm_scorecard.metrics.engine import Engine, period_index

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
        f"data: {m.Customer.objects.count():,} customers, {m.Interaction.objects.count():,} interactions, "
        f"{m.OrderLine.objects.count():,} order lines on {connection.vendor}"
    )

    def read(sql: str):
        with connection.cursor() as cursor:
            cursor.execute(sql)
            columns = [c[0] for c in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=columns)

    began = time.perf_counter()
    frames = pandas_load(read)
    load_seconds = time.perf_counter() - began
    began = time.perf_counter()
    expected = pandas_core(frames)
    compute_seconds = time.perf_counter() - began
    pandas_seconds = load_seconds + compute_seconds
    del frames
    print(
        f"pandas baseline, {len(CORE)} core KPIs: load {load_seconds:.2f} s + compute "
        f"{compute_seconds:.2f} s = {pandas_seconds:.2f} s"
    )

    registry = builtin_registry()
    keys = [x.key for x in registry if x.kind != "manual"]
    for choice in args.engines.split(","):
        if choice == "auto":
            from crm_scorecard.metrics.mirror import mirror_folder, mirror_sync

            began = time.perf_counter()
            copied = mirror_sync(mirror_folder(), refresh=True)
            print(
                f"columnar mirror: first copy of {len(copied)} tables {time.perf_counter() - began:.2f} s; "
                "later runs copy only changed tables"
            )
        began = time.perf_counter()
        with Engine(connect(choice), registry) as engine:
            results = {k: engine.compute(k) for k in CORE}
        core_seconds = time.perf_counter() - began
        mismatches = []
        for key in CORE:
            got = {period_index(p, "month"): v for p, _, v in results[key]}
            for p, want in expected[key].items():
                if (
                    p in got
                    and got[p] is not None
                    and want is not None
                    and want == want
                    and abs(got[p] - float(want)) > 1e-6 * max(1, abs(float(want)))
                ):
                    mismatches.append((key, p, got[p], want))
        began = time.perf_counter()
        with Engine(connect(choice), registry, materialise=True) as engine:
            engine.prefetch(keys)  # as `crm-scorecard compute` does
            for key in keys:
                engine.compute(key)
            label = f"{engine.conn.name} ({choice})"
        all_seconds = time.perf_counter() - began
        print(
            f"{label:<22} core {core_seconds:7.2f} s = {pandas_seconds / core_seconds:5.1f}x pandas "
            f"({compute_seconds / core_seconds:4.1f}x its compute alone); "
            f"whole catalogue ({len(keys)} metrics, month) {all_seconds:7.2f} s; "
            f"{'agrees with pandas' if not mismatches else f'{len(mismatches)} DIFFERENCES, e.g. {mismatches[:2]}'}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
