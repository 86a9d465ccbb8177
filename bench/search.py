"""Benchmark: customer search latency as agents type, against the search it replaced.

Usage: .venv/bin/python bench/search.py [--database-url URL] [--queries 200] [--rounds 3]
       [--department "Customer Service"] [--seed-customers N]

Reads an existing database (default: PostgreSQL `crm_scorecard_bench`, filled by
bench/seed_import.py) and writes nothing but two users (`bench-search-exec`, company-wide,
and `bench-search-agent`, an agent of --department and the departments below it). With
--seed-customers N and a database holding no customers, it first seeds N customers with one
month of activity (the search reads customers only).

The queries are 1 to 4 characters, drawn with a fixed seed from customers picked at random:
the start of a full name, of a surname, of an email or of a phone's digits, or a piece from
inside any of them. Each query runs as both users through `customer_search_page` (the best
20 and the count of all matches) and through the search it replaced (kept below as
`baseline_search`, which answered nothing below 2 characters and counted nothing), in
alternating order so both see the same load. Per-query times are the best of --rounds runs,
and the figures are p50/p95/p99 over the queries. The load average is printed with them:
the figures move with whatever else the machine is doing. Figures at 1,000,000 customers,
before and after each change to the search, are in README.md, "Benchmarks".
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any

KINDS = ("name", "surname", "email", "phone", "name-inside", "email-inside", "phone-inside")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/crm_scorecard_bench"
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--department", default="Customer Service")
    parser.add_argument("--seed-customers", type=int, default=0)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--count-cap", type=int, default=0, help="count up to this many (default: the product's)"
    )
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    import django

    django.setup()
    from django.db import connection

    from crm_scorecard.accounts.models import Department, Level, User
    from crm_scorecard.crm import selectors
    from crm_scorecard.crm.models import Customer
    from crm_scorecard.crm.selectors import customer_search_page

    if args.count_cap:
        selectors.SEARCH_COUNT_CAP = args.count_cap

    if args.seed_customers:
        from django.core.management import call_command

        from crm_scorecard.crm.seed import SeedPlan, crm_seed

        call_command("migrate", verbosity=0)
    if args.seed_customers and not Customer.objects.exists():
        plan = SeedPlan(customers=args.seed_customers, months=1, seed=1, end=date(2026, 10, 1))
        crm_seed(plan=plan, chunk=5000)

    executive, _ = User.objects.get_or_create(
        username="bench-search-exec", defaults={"level": Level.EXECUTIVE}
    )
    agent, _ = User.objects.get_or_create(
        username="bench-search-agent", defaults={"level": Level.AGENT}
    )
    agent.departments.set([Department.objects.get(name=args.department)])
    total = Customer.objects.count()
    seen = selectors.customers_visible(user=agent).count()
    print(
        f"database: {connection.vendor} {connection.settings_dict['NAME']}; {total:,} customers; "
        f"the agent of {args.department!r} sees {seen:,}"
    )
    queries = draw_queries(Customer, count=args.queries, seed=args.seed)
    by_length = {n: sum(len(q) == n for q, _ in queries) for n in range(1, 5)}
    print(
        f"queries: {len(queries)} (by length {by_length}), seed {args.seed}; "
        f"matches counted up to {selectors.SEARCH_COUNT_CAP:,}"
    )

    def run(label: str, user: Any) -> None:
        searches: dict[str, Callable[[str], object]] = {
            "new": lambda text: customer_search_page(user=user, query=text),
        }
        if not args.skip_baseline:
            searches["baseline"] = lambda text: baseline_search(user=user, query=text)
        for search in searches.values():  # warm the caches once
            for text, _ in queries[:20]:
                search(text)
        timings: dict[str, list[tuple[float, str, str]]] = {name: [] for name in searches}
        load = os.getloadavg()
        for i, (text, kind) in enumerate(queries):
            order = list(searches) if i % 2 == 0 else list(reversed(searches))
            best = dict.fromkeys(order, float("inf"))
            for _ in range(args.rounds):
                for name in order:
                    began = time.perf_counter()
                    searches[name](text)
                    best[name] = min(best[name], (time.perf_counter() - began) * 1000)
            for name in order:
                timings[name].append((best[name], text, kind))
        after = os.getloadavg()
        for name, rows in timings.items():
            print(f"{label:<14} {name:<8} {summary([t for t, _, _ in rows])}")
            for n in range(1, 5):
                some = [t for t, text, _ in rows if len(text) == n]
                if some:
                    print(f"{'':<14} {'':<8}   {n} char{'s' if n > 1 else ' '}: {summary(some)}")
            slow = sorted(rows, reverse=True)[:3]
            print(
                f"{'':<14} {'':<8}   slowest: "
                + ", ".join(f"{text!r} ({kind}) {t:.0f} ms" for t, text, kind in slow)
            )
        print(
            f"{'':<14} load average before {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
            f"after {after[0]:.1f} {after[1]:.1f} {after[2]:.1f} (2 cores)"
        )

    run("company-wide", executive)
    run("department", agent)


def summary(timings: list[float]) -> str:
    ordered = sorted(timings)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]

    return (
        f"p50 {statistics.median(ordered):7.1f} ms, p95 {pct(0.95):7.1f} ms, "
        f"p99 {pct(0.99):7.1f} ms, max {ordered[-1]:7.1f} ms over {len(ordered)}"
    )


def draw_queries(customer_model: Any, *, count: int, seed: int) -> list[tuple[str, str]]:
    """`count` (text, kind) pairs, the same for the same seed and the same customers."""
    rng = random.Random(seed)
    ids = customer_model.objects.order_by("pk").values_list("pk", flat=True)
    low, high = ids.first(), ids.last()
    picked = sorted(rng.randint(low, high) for _ in range(count * 2))
    rows = list(
        customer_model.objects.filter(pk__in=picked)
        .order_by("pk")
        .values_list("full_name", "email", "phone")
    )
    queries: list[tuple[str, str]] = []
    for name, email, phone in rows:
        if len(queries) == count:
            break
        kind = rng.choice(KINDS)
        length = rng.randint(1, 4)
        digits = re.sub(r"\D", "", phone)
        source = {
            "name": name,
            "surname": name.split()[-1],
            "email": email,
            "phone": digits,
        }.get(kind.removesuffix("-inside"), "")
        if not source:
            continue
        if kind.endswith("-inside"):
            start = rng.randint(1, max(1, len(source) - length))
            text = source[start : start + length]
        else:
            text = source[:length]
        text = text.strip()
        if text:
            queries.append((text, kind))
    return queries


def baseline_search(*, user: Any, query: str, limit: int = 20) -> list[object]:
    """The customer search before issue 18, as it was: contains on name, email and phone,
    id prefix, in name order, nothing below 2 characters, no count."""
    from django.db.models import Q

    from crm_scorecard.crm.selectors import customers_visible

    text = query.strip()
    if len(text) < 2 or "\x00" in text:
        return []
    match = (
        Q(full_name__icontains=text)
        | Q(email__icontains=text)
        | Q(phone__contains=text)
        | Q(external_id__istartswith=text)
    )
    qs = customers_visible(user=user).filter(match).select_related("department")
    return list(qs.order_by("full_name", "pk")[:limit])


if __name__ == "__main__":
    main()
