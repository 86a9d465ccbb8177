"""Benchmark: Customers › Profile views, on the default engine against the app database.

Usage:
  .venv/bin/python bench/profile.py [--database-url URL] [--customers N] [--runs 20]
                                    [--app-runs 3] [--skip-app] [--department NAME]

The database at URL must hold a seeded company (`crm-scorecard seed`). With --customers N
(PostgreSQL) it grows the company to N customers first: seeding a million customers takes
hours on a loaded two-core machine (19 million rows, mostly contacts), so it seeds
--base customers (default 20,000; unless it holds some already) and copies its customers,
orders and order lines, with new ids, until there are N customers: the seed's own mix of
regions, ages, products and orders per customer, at any size. The other tables (contacts,
feedback, leads...) are not copied: the profile does not read them. The search indexes on
customers are dropped during the copy and built again after it. The columnar mirror is brought up to date once, untimed, as `compute` or an
import leaves it (with the profile's cube and customers' totals, `metrics/profile_cube.py`,
which its sync writes; a mirror version from before them gets them here, also untimed).
Each view is then timed as the page and the API run it (`page`: over the connection the
process keeps for the mirror's version, `metrics/live.py`), and as `crm-scorecard profile`
runs it (`auto`: a fresh engine per call, a pinned mirror version and a new DuckDB
connection): the profile query and its rows read back; one untimed run first. The same views run on the app database itself
(`METRICS_ENGINE=app`, PostgreSQL or SQLite) --app-runs times each. Views run company-wide
and, with --department, as an agent of that department (its subtree's customers only).
Prints p50/p95/max per view and p95 over every view's runs, with the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def grow(connection, target: int) -> None:
    """Copy the customers (with their orders and order lines) until there are `target`:
    copy k of row `id` gets id + k * (the table's highest id), and its text ids a suffix."""
    if connection.vendor != "postgresql":
        raise SystemExit("--customers grows a PostgreSQL database only; seed SQLite instead")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(id) FROM crm_customer")
        have, top = cursor.fetchone()
        copies = -(-target // have) - 1  # after the originals
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'crm_customer' "
            "AND (indexdef LIKE '%%gin_trgm_ops%%' OR indexdef LIKE '%%upper(%%' "
            "OR indexdef LIKE '%%translate(%%')"
        )
        search = cursor.fetchall()
        for name, _ in search:
            cursor.execute(f'DROP INDEX "{name}"')
        tops = {"crm_customer": top}
        for table in ("crm_order", "crm_orderline"):
            cursor.execute(f"SELECT max(id) FROM {table}")
            tops[table] = cursor.fetchone()[0] or 0
        shift = {
            "crm_customer": {"id": "crm_customer"},
            "crm_order": {"id": "crm_order", "customer_id": "crm_customer"},
            "crm_orderline": {"id": "crm_orderline", "order_id": "crm_order"},
        }
        for table, moved in shift.items():
            columns = _columns(cursor, table)
            values = []
            for c in columns:
                if c in moved:
                    values.append(f"t.{c} + k.k * {tops[moved[c]]}")
                elif c == "external_id":
                    values.append("t.external_id || '-' || k.k")
                else:
                    values.append(f"t.{c}")
            where = f"t.id <= {tops[table]}"
            parent = {
                "crm_order": ("crm_customer", "customer_id"),
                "crm_orderline": ("crm_order", "order_id"),
            }
            if table in parent:
                # Only for the copies of the parents that were kept.
                other, key = parent[table]
                where += (
                    f" AND EXISTS (SELECT 1 FROM {other} p "
                    f"WHERE p.id = t.{key} + k.k * {tops[moved[key]]})"
                )
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} "
                f"FROM {table} t CROSS JOIN generate_series(1, {copies}) AS k(k) WHERE {where}"
            )
            if table == "crm_customer":
                # The last copy stops at the target.
                cursor.execute(
                    "DELETE FROM crm_customer WHERE id IN "
                    f"(SELECT id FROM crm_customer ORDER BY id OFFSET {target})"
                )
            cursor.execute(f"SELECT max(id) FROM {table}")
            cursor.execute(
                f"ALTER TABLE {table} ALTER COLUMN id RESTART WITH {cursor.fetchone()[0] + 1}"
            )
        for _, definition in search:
            cursor.execute(definition)
        for table in shift:
            cursor.execute(f"ANALYZE {table}")


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), load average {load}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_scorecard_bench"
        ),
    )
    parser.add_argument("--customers", type=int, help="grow the company to this many customers")
    parser.add_argument("--base", type=int, default=20_000, help="customers seeded to copy")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per view, default engine")
    parser.add_argument("--app-runs", type=int, default=3, help="timed runs per view, app database")
    parser.add_argument("--skip-app", action="store_true")
    parser.add_argument("--department", help="also time the views as an agent of this department")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from crm_scorecard.accounts.models import Department, Level, User
    from crm_scorecard.crm import models as m
    from crm_scorecard.metrics import profile_cube
    from crm_scorecard.metrics.api import customer_profile, engine_for, refresh_mirror
    from crm_scorecard.metrics.mirror import mirror_pin

    call_command("migrate", verbosity=0)
    if args.customers and m.Customer.objects.count() < args.customers:
        began = time.perf_counter()
        if not m.Customer.objects.exists():
            cli = os.path.join(os.path.dirname(sys.executable), "crm-scorecard")
            seed = [cli, "seed", "--customers", str(min(args.base, args.customers))]
            subprocess.run([*seed, "--seed", "1", "--end", "2026-10", "--no-progress"], check=True)
        grow(connection, args.customers)
        print(f"grew to {args.customers:,} customers in {time.perf_counter() - began:.0f} s")
    customers = m.Customer.objects.count()
    lines = m.OrderLine.objects.count()
    print(
        f"data: {customers:,} customers, {m.Order.objects.count():,} orders, {lines:,} order "
        f"lines on {connection.vendor}"
    )
    began = time.perf_counter()
    refresh_mirror()
    print(f"mirror brought up to date in {time.perf_counter() - began:.1f} s (not timed below)")
    pin = mirror_pin()
    try:
        began = time.perf_counter()
        profile_cube.build(pin.path)
        print(f"the profile's files ready in {time.perf_counter() - began:.1f} s (not timed)")
    finally:
        pin.release()

    country = m.Customer.objects.values_list("country", flat=True).order_by("country").first() or ""
    first_half = {"since": date(2026, 1, 1), "until": date(2026, 6, 30)}
    views: list[tuple[str, dict]] = [
        ("region", {"by": ["region"]}),
        ("city", {"by": ["city"]}),
        ("age bracket, H1 2026", {"by": ["age_bracket"], **first_half}),
        (
            "product category x age bracket, H1 2026",
            {"by": ["product_category", "age_bracket"], **first_half},
        ),
        ("country x segment", {"by": ["country", "segment"]}),
        (
            f"tier x channel, country={country}, H1 2026",
            {"by": ["product_tier", "channel"], "filters": {"country": country}, **first_half},
        ),
        (
            "acquisition channel x region, H1 2026",
            {"by": ["acquisition_channel", "region"], **first_half},
        ),
        ("department x product category", {"by": ["department", "product_category"]}),
    ]
    who: list[tuple[str, object]] = [("company-wide", None)]
    if args.department:
        department = Department.objects.get(name=args.department)
        agent, _ = User.objects.get_or_create(
            username="bench-profile-agent", defaults={"level": Level.AGENT}
        )
        agent.departments.set([department])
        who.append((f"agent of {department.name}", agent))

    engines = [("page", args.runs), ("auto", args.runs)]
    engines += [] if args.skip_app else [("app", args.app_runs)]
    print(f"machine: {machine()}")
    print(f"{'engine':<6} {'who':<28} {'view':<46} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} rows")
    overall: dict[tuple[str, str], list[float]] = {}
    for choice, runs in engines:
        for label, user in who:
            for name, view in views:
                times: list[float] = []
                rows = 0
                for n in range(runs + 1):
                    began = time.perf_counter()
                    if choice == "page":
                        rows = len(customer_profile(user=user, **view).rows)
                    else:
                        with engine_for(user=user, engine=choice, sync=False) as engine:  # type: ignore[arg-type]
                            rows = len(customer_profile(engine=engine, **view).rows)
                    if n:  # the first run warms the operating system's caches
                        times.append((time.perf_counter() - began) * 1000)
                overall.setdefault((choice, label), []).extend(times)
                print(
                    f"{choice:<6} {label:<28} {name:<46} {statistics.median(times):>9.1f} "
                    f"{percentile(times, 0.95):>9.1f} {max(times):>9.1f} {rows}",
                    flush=True,
                )
    print()
    for (choice, label), times in overall.items():
        print(
            f"{choice:<6} {label:<28} every view: p50 {statistics.median(times):.1f} ms, "
            f"p95 {percentile(times, 0.95):.1f} ms over {len(times)} runs"
        )
    print(f"machine after: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
