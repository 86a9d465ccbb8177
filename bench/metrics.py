"""Benchmark: the KPI catalogue, monthly, on each engine, against a pandas baseline.

Usage:
  .venv/bin/python bench/metrics.py [--database-url URL] [--engines auto,duckdb,app] [--seed-customers N]
                                   [--skip-pandas] [--slowest N]

The database at URL must hold a seeded company (`crm-scorecard seed`); with
--seed-customers the script seeds it first (replacing its CRM data). Prints seconds for
the whole catalogue, monthly, on each engine and in a straightforward pandas implementation
an analyst would write (load the tables, group by month), with the ratio to pandas. Every
value is checked to agree with pandas. Each engine runs in a process of its own, as
`crm-scorecard compute` does. --slowest N prints, for each engine, the N metrics
that took longest (a metric's time includes the inputs it computed first, and the batch of
plain aggregates is timed as "prefetch"); --skip-pandas leaves the baseline out, to time one
engine while working on it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date


def pandas_load(read) -> dict:
    """The tables the catalogue needs, loaded into pandas the way an analyst would."""
    return {
        "orders": read("SELECT id, customer_id, salesperson_id, ordered_at FROM crm_order"),
        "lines": read("SELECT order_id, product_id, amount FROM crm_orderline"),
        "products": read("SELECT id, category, tier FROM crm_product"),
        "leads": read("SELECT created_at, converted_at FROM crm_lead"),
        "calls": read(
            "SELECT id, customer_id, channel, started_at, wait_seconds, hold_seconds, "
            "handle_seconds, topic_count, resolved_first_contact FROM crm_interaction"
        ),
        "feedback": read("SELECT submitted_at, rating, recommend FROM crm_feedback"),
        "complaints": read("SELECT opened_at, resolved_at FROM crm_complaint"),
        "employees": read("SELECT hired_at, left_at FROM crm_employee"),
        "engagement": read("SELECT answered_at, rating FROM crm_engagementanswer"),
    }


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


def run_engine(choice: str, keys: list[str]) -> dict:
    """The whole catalogue on one engine, as `crm-scorecard compute` runs it; the values by
    metric and month index, with seconds in all and per metric."""
    from crm_scorecard.metrics.connect import connect
    from crm_scorecard.metrics.definitions import registry
    from crm_scorecard.metrics.engine import Engine
    from crm_scorecard.periods import period_index

    out: dict = {"mirror_seconds": None}
    if choice == "auto":
        from crm_scorecard.metrics.mirror import mirror_folder, mirror_sync

        began = time.perf_counter()
        out["mirror_tables"] = len(mirror_sync(mirror_folder(), refresh=True))
        out["mirror_seconds"] = time.perf_counter() - began
    began = time.perf_counter()
    timings: dict[str, float] = {}
    with Engine(connect(choice), registry(), materialise=True) as engine:
        engine.prefetch(keys)  # as `crm-scorecard compute` does
        timings["prefetch"] = time.perf_counter() - began
        results = {}
        for key in keys:
            started = time.perf_counter()
            results[key] = {period_index(p, "month"): v for p, _, v in engine.compute(key)}
            timings[key] = time.perf_counter() - started
        out["label"] = f"{engine.conn.name} ({choice})"
    out["seconds"] = time.perf_counter() - began
    out["timings"] = timings
    out["results"] = {k: list(v.items()) for k, v in results.items()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/crm_scorecard_bench"
    )
    parser.add_argument("--engines", default="auto,duckdb,app")
    parser.add_argument("--seed-customers", type=int)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--slowest", type=int, default=0)
    parser.add_argument("--engine-child", help=argparse.SUPPRESS)  # internal: one engine
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    import django

    django.setup()
    from crm_scorecard.metrics.definitions import registry

    keys = [x.key for x in registry() if x.kind != "manual"]
    if args.engine_child:
        json.dump(run_engine(args.engine_child, keys), sys.stdout)
        return 0

    import pandas as pd
    from django.core.management import call_command
    from django.db import connection

    from crm_scorecard.crm import models as m
    from crm_scorecard.crm.seed import SeedPlan, crm_data_clear, crm_seed
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
        f"data: {m.Customer.objects.count():,} customers, {m.Interaction.objects.count():,} interactions, "
        f"{m.OrderLine.objects.count():,} order lines on {connection.vendor}"
    )

    def read(sql: str):
        with connection.cursor() as cursor:
            cursor.execute(sql)
            columns = [c[0] for c in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=columns)

    expected: dict = {}
    pandas_seconds = compute_seconds = float("nan")
    if not args.skip_pandas:
        began = time.perf_counter()
        frames = pandas_load(read)
        load_seconds = time.perf_counter() - began
        stamps = frames["orders"].ordered_at
        low, high = (
            period_index(pd.Timestamp(x).date(), "month") for x in (stamps.min(), stamps.max())
        )
        began = time.perf_counter()
        expected = pandas_catalogue(frames, range(low, high + 1))
        compute_seconds = time.perf_counter() - began
        pandas_seconds = load_seconds + compute_seconds
        del frames
        missing = sorted(set(keys) - set(expected))
        print(
            f"pandas baseline, whole catalogue ({len(expected)} metrics, month): load "
            f"{load_seconds:.2f} s + compute {compute_seconds:.2f} s = {pandas_seconds:.2f} s"
            + (f"; NOT IN PANDAS: {missing}" if missing else "")
        )
    connection.close()

    for choice in args.engines.split(","):
        # Each engine in a process of its own, as `crm-scorecard compute` runs, rather than
        # in one still holding what the pandas baseline allocated.
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--database-url",
                args.database_url,
                "--engine-child",
                choice,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        run = json.loads(child.stdout)
        if run["mirror_seconds"] is not None:
            print(
                f"columnar mirror: first copy of {run['mirror_tables']} tables "
                f"{run['mirror_seconds']:.2f} s; later runs copy only changed tables"
            )
        label, seconds = run["label"], run["seconds"]
        mismatches, compared = [], 0
        for key in keys:
            got = dict(run["results"][key])
            for p, want in expected.get(key, {}).items():
                if p not in got or want is None or want != want:
                    continue
                compared += 1
                if got[p] is None or abs(got[p] - float(want)) > 1e-6 * max(1, abs(float(want))):
                    mismatches.append((key, p, got[p], want))
        if not expected:
            print(f"{label:<22} whole catalogue {seconds:7.2f} s (not checked: --skip-pandas)")
        else:
            agreement = (
                f"agrees with pandas on {compared} values"
                if not mismatches
                else f"{len(mismatches)} DIFFERENCES of {compared}, e.g. {mismatches[:3]}"
            )
            print(
                f"{label:<22} whole catalogue {seconds:7.2f} s = {pandas_seconds / seconds:5.1f}x "
                f"pandas ({compute_seconds / seconds:4.1f}x its compute alone); {agreement}",
                flush=True,
            )
        slowest = sorted(run["timings"].items(), key=lambda kv: -kv[1])[: args.slowest]
        for key, spent in slowest:
            print(f"    {key:<36} {spent:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
