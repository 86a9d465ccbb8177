"""Benchmark: seed rows/s, import rows/s, and customer search latency.

Usage: .venv/bin/python bench/seed_import.py [--customers 100000] [--database-url URL]
       .venv/bin/python bench/seed_import.py --import-only --customers 200000 [--database-url URL]

Defaults to a PostgreSQL database `crm_scorecard_bench` on the local server (created if
missing, and overwritten); `--database-url sqlite:////tmp/bench.sqlite3` for SQLite.
Baselines in the same run: seeding through Django's bulk_create instead of COPY (on a
sample), today's row-by-row importer (`records_import(fast=False)`: form fields per
cell, the ORM's bulk_create per batch) against the batch importer, and search without
the trigram indexes. `--import-only` skips seeding and search: it writes a customers
file of that many synthetic rows and measures only the imports. "update" imports the same
file again (rows already as it says are left alone); "every row changed" then imports it
with every customer's name changed (batch importer only). Each import figure is
rows per second of wall time and, in brackets, per second of this process's CPU time
(the two differ when the machine is shared; the database server's time is in the first).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/crm_scorecard_bench"
    )
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--import-only", action="store_true")
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=50_000,
        help="rows for today's row-by-row importer (it is slow; a sample is enough)",
    )
    parser.add_argument("--excel-rows", type=int, default=50_000)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    _ensure_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from crm_scorecard.accounts.models import Level, User
    from crm_scorecard.crm import bulk
    from crm_scorecard.crm import models as m
    from crm_scorecard.crm.seed import SeedPlan, crm_data_clear, crm_seed
    from crm_scorecard.crm.selectors import customer_search

    call_command("migrate", verbosity=0)
    crm_data_clear()
    if args.import_only:
        _import_only(args)
        return
    print(
        f"database: {connection.vendor} {connection.settings_dict['NAME']}; {args.customers:,} customers, {args.months} months"
    )

    # Seed (COPY on PostgreSQL).
    plan = SeedPlan(customers=args.customers, months=args.months, seed=1, end=date(2026, 10, 1))
    began = time.perf_counter()
    result = crm_seed(plan=plan, chunk=2000)
    seconds = time.perf_counter() - began
    print(
        f"seed:   {result.total:>12,} rows in {seconds:7.1f} s = {result.total / seconds:>10,.0f} rows/s "
        f"({result.rows.get('interaction', 0):,} interactions)"
    )

    # Baseline for seeding: the same generator through bulk_create, on a sample.
    sample = max(1000, args.customers // 50)
    crm_data_clear()
    original = connection.vendor
    connection.vendor = "baseline"  # insert_rows takes the bulk_create path
    try:
        began = time.perf_counter()
        base = crm_seed(
            plan=SeedPlan(customers=sample, months=args.months, seed=1, end=date(2026, 10, 1))
        )
        base_seconds = time.perf_counter() - began
    finally:
        connection.vendor = original
    print(
        f"  baseline bulk_create: {base.total:,} rows in {base_seconds:.1f} s = {base.total / base_seconds:,.0f} rows/s; "
        f"COPY is {(result.total / seconds) / (base.total / base_seconds):.1f}x"
    )
    crm_data_clear()
    result = crm_seed(plan=plan, chunk=2000)

    # Import: write the customers out as CSV and import them into a fresh table.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.csv"
        # The file's columns, read back from the stored customers (the id and the
        # department's name are stored under other names).
        stored = {"customer_id": "external_id", "department": "department__name"}
        header = customer_columns()
        fields = [stored.get(c, c) for c in header]
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in (
                m.Customer.objects.order_by("pk").values_list(*fields).iterator(chunk_size=5000)
            ):
                writer.writerow(["" if v is None else v for v in row])
        m.Customer.objects.update(
            external_id=m.models.functions.Concat(m.models.Value("old-"), "external_id")
        )
        _imports_compared(path, args.baseline_rows)

    # Search latency as an agent types.
    user, _ = User.objects.get_or_create(username="bench-exec", defaults={"level": Level.EXECUTIVE})
    rng = random.Random(3)
    names = list(m.Customer.objects.values_list("full_name", "email", "phone")[:5000])
    queries = []
    for _ in range(args.searches):
        name, email, phone = rng.choice(names)
        kind = rng.random()
        text = name.split()[1][:4] if kind < 0.5 else (email[2:8] if kind < 0.8 else phone[-5:])
        queries.append(text)

    def measure(label: str) -> None:
        timings = []
        for text in queries:
            began = time.perf_counter()
            customer_search(user=user, query=text)
            timings.append((time.perf_counter() - began) * 1000)
        timings.sort()
        p50 = statistics.median(timings)
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(f"search {label}: p50 {p50:7.1f} ms, p95 {p95:7.1f} ms over {len(timings)} queries")

    measure("with indexes   ")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            for name in (
                "crm_customer_name_trgm",
                "crm_customer_email_trgm",
                "crm_customer_phone_digits_trgm",
            ):
                cursor.execute(f"DROP INDEX {name}")
            measure("baseline no idx")
            cursor.execute("ROLLBACK")
    del bulk


def _imported_delete() -> None:
    """Delete the customers the last import wrote (they have no orders or contacts) in one
    statement: Django's delete() sends a signal per row, which the change counting answers
    with one UPDATE each (minutes at 200,000)."""
    from crm_scorecard.crm import models as m
    from crm_scorecard.crm.changes import tables_touch

    rows = m.Customer.objects.exclude(external_id__startswith="old-")
    rows._raw_delete(rows.db)
    tables_touch(m.Customer)


def _measure(path: Path, *, fast: bool) -> tuple[int, int, float, float]:
    from crm_scorecard.crm.imports import records_import

    wall, cpu = time.perf_counter(), time.process_time()
    report = records_import(entity="customers", path=path, fast=fast)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return report.imported + report.updated, report.rejected, wall, cpu


def _imports_compared(path: Path, baseline_rows: int) -> None:
    """Today's row-by-row importer on the first `baseline_rows` rows, then the batch
    importer on the whole file: each into an empty table (new) and again (update)."""

    sample = path.with_name("sample.csv")
    with path.open(encoding="utf-8") as source, sample.open("w", encoding="utf-8") as out:
        for number, line in enumerate(source):
            if number > baseline_rows:
                break
            out.write(line)
    rates: dict[tuple[str, str], float] = {}
    for label, file, fast in (("row by row (today)", sample, False), ("batch", path, True)):
        _imported_delete()
        for phase in ("new", "update"):
            rows, rejected, wall, cpu = _measure(file, fast=fast)
            rates[(label, phase)] = rows / wall
            print(
                f"import {label:>18} ({phase:>6}): {rows:>9,} customers in {wall:6.1f} s = "
                f"{rows / wall:>8,.0f} rows/s ({rows / cpu:>8,.0f} rows/s of CPU; rejected {rejected})"
            )
    # An update that changes every row (the name, part of an index), where the one above
    # re-imports the same file: both importers leave a row already as the file says alone.
    changed = path.with_name("changed.csv")
    with path.open(encoding="utf-8", newline="") as source:
        records = list(csv.reader(source))
    name_at = records[0].index("full_name")
    for record in records[1:]:
        record[name_at] += " Jr"
    with changed.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(records)
    rows, rejected, wall, cpu = _measure(changed, fast=True)
    print(
        f"import {'batch':>18} (every row changed): {rows:>9,} customers in {wall:6.1f} s = "
        f"{rows / wall:>8,.0f} rows/s ({rows / cpu:>8,.0f} rows/s of CPU; rejected {rejected})"
    )
    for phase in ("new", "update"):
        ratio = rates[("batch", phase)] / rates[("row by row (today)", phase)]
        print(f"  batch importer / today's importer ({phase}): {ratio:.1f}x")
    print(f"  load average {_load()}")
    _where_the_time_goes(path, rates)


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg()) + " (2 cores)"


def _where_the_time_goes(path: Path, rates: dict[tuple[str, str], float]) -> None:
    """The batch importer again without part of what the database does per row, restored
    after: on SQLite the change-counting row triggers of crm_customer (migration crm 0006,
    one UPDATE of crm_tableversion per row written), on PostgreSQL the trigram (GIN)
    indexes of crm_customer (its statement-level trigger runs once per statement). The
    difference is what that part costs an import. (The batch importer itself now writes
    SQLite batches without the row triggers, counting the batch once: there the difference
    left should be noise; before that change it was 25-41% at load 3.)"""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'crm_customer'"
            )
            label = "row triggers"
        else:
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid), pg_relation_size(c.oid) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = 'crm_customer'::regclass ORDER BY c.relname"
            )
            found = cursor.fetchall()
            print(f"  crm_customer's {len(found)} indexes (size at this many customers):")
            for name, definition, size in found:
                print(f"    {name:<42} {size / 2**20:6.1f} MiB  {definition.split(' USING ')[1]}")
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = "
                "'crm_customer'::regclass AND pg_get_indexdef(i.indexrelid) LIKE '%gin_trgm_ops%'"
            )
            label = "trigram indexes"
        parts = cursor.fetchall()
        if not parts:
            return
        for name, _ in parts:
            cursor.execute(
                f'DROP {"TRIGGER" if connection.vendor == "sqlite" else "INDEX"} "{name}"'
            )
    try:
        _imported_delete()
        for phase in ("new", "update"):
            rows, _, wall, cpu = _measure(path, fast=True)
            share = 1 - (rates[("batch", phase)] / (rows / wall))
            print(
                f"import {'batch, no ' + label:>18} ({phase:>6}): {rows:>9,} customers in "
                f"{wall:6.1f} s = {rows / wall:>8,.0f} rows/s ({rows / cpu:>8,.0f} rows/s of CPU); "
                f"the {len(parts)} {label} take {share:.0%} of the batch import's time"
            )
    finally:
        with connection.cursor() as cursor:
            for _, definition in parts:
                cursor.execute(definition)
    print(f"  load average {_load()}")


def _import_only(args: argparse.Namespace) -> None:
    from django.db import connection

    from crm_scorecard.accounts.services import department_ensure

    for name in ("Sales", "Service", "Field Sales"):
        department_ensure(name=name)
    print(
        f"database: {connection.vendor} {connection.settings_dict['NAME']}; "
        f"{args.customers:,} synthetic customers"
    )
    rng = random.Random(1)
    first = ["Ann", "Bob", "Cy", "Dee", "Eve", "Fay", "Gus", "Hana", "Ivo", "Jana", "Karl"]
    last = ["Able", "Baker", "Cole", "Dunn", "Esk", "Fox", "Gray", "Hale", "Ilic", "Jung"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(customer_columns())
            for i in range(args.customers):
                given, family = rng.choice(first), rng.choice(last)
                writer.writerow(
                    [
                        f"C{i:08d}",
                        f"{given} {family}",
                        f"{given}.{family}{i}@example.com".lower(),
                        f"+34 600 {i:07d}",
                        f"{i} Main St",
                        rng.choice(["Madrid", "Lyon", "Porto"]),
                        "Centre",
                        "Spain",
                        f"{28000 + i % 1000}",
                        date.fromordinal(711_858 + rng.randrange(20_000)).isoformat(),
                        rng.choice(["retail", "smb", "enterprise"]),
                        rng.choice(["web", "referral", "partner"]),
                        f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00",
                        rng.choice(["lead", "customer", "former"]),
                        rng.choice(["Sales", "Service", "Field Sales"]),
                    ]
                )
        _imports_compared(path, args.baseline_rows)
        _excel_compared(path, args.excel_rows)


def customer_columns() -> list[str]:
    """The customer columns both import files carry: every column the importer reads but
    the owner, in the importer's order."""
    from crm_scorecard.crm.imports import SPECS

    return [c for c in SPECS["customers"].columns if c != "owner"]


def _excel_compared(path: Path, rows: int) -> None:
    """Reading the first `rows` customers from a workbook: calamine against openpyxl."""
    from openpyxl import Workbook

    from crm_scorecard.crm.imports import _read_xlsx_openpyxl, read_table

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    with path.open(encoding="utf-8", newline="") as handle:
        for number, record in enumerate(csv.reader(handle)):
            if number > rows:
                break
            sheet.append(record)
    workbook = path.with_suffix(".xlsx")
    book.save(workbook)
    for label, read in (
        ("openpyxl (today)", lambda: _read_xlsx_openpyxl(workbook, lambda: workbook)),
        ("calamine", lambda: read_table(workbook)),
    ):
        began = time.perf_counter()
        count = sum(1 for _ in read().rows())
        seconds = time.perf_counter() - began
        print(f"excel read {label:>16}: {count:,} rows in {seconds:5.2f} s")


def _ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    with psycopg.connect(
        host=cfg["HOST"],
        port=cfg["PORT"] or 5432,
        user=cfg["USER"],
        password=cfg["PASSWORD"],
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')


if __name__ == "__main__":
    sys.exit(main())
