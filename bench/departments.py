"""Benchmark: what each department's own numbers cost against the company-only run.

Usage:
  .venv/bin/python bench/departments.py [--database-url URL] [--engine auto] [--runs 3]
                                        [--seed-customers N] [--tree-join]

The database at URL must hold a seeded company (`crm-scorecard seed`); with
--seed-customers the script seeds it first (replacing its CRM data). For the same data,
the same engine and the same step, it times the whole catalogue, monthly:

  company      overall values only: by = (None,)
  departments  overall values and one series per department subtree: by = (None, "department")

The engine works out what adds up (sums, counts, means, distinct customers...) on each
record's own department and adds it up the tree, the company's value included, so one query
answers both (`Engine.roll_up`); with --tree-join, the same two are also timed with every
record joined to each department above its own and the company's worked out on its own (as
before 2026-12-03), interleaved in the same runs.

Each figure is the compute step alone: a fresh engine in a process of its own (as
`crm-scorecard compute` runs), its sources built and every metric computed, values not
stored (storing is the same bulk insert for both and grows with the number of values, which
is printed). The columnar mirror is brought up to date once before any run, and is not in
any figure. The ratio is departments / company, each at its median over --runs runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import django
django.setup()
from crm_scorecard.metrics.services import engine_for
by = json.loads(sys.argv[1])
began = time.perf_counter()
values = 0
with engine_for(materialise=True) as engine:
    engine.roll_up = sys.argv[2] == "roll"
    keys = [m.key for m in engine.registry if m.kind != "manual"]
    for dimension in by:
        engine.prefetch(keys, by=dimension)
    for key in keys:
        for dimension in by:
            values += len(engine.compute(key, by=dimension))
print(json.dumps({"seconds": time.perf_counter() - began, "values": values}))
"""


def run_child(by: list[str | None], env: dict[str, str], how: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(by), how],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--engine", default=os.environ.get("METRICS_ENGINE", "auto"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed-customers", type=int)
    parser.add_argument(
        "--tree-join", action="store_true", help="also time the tree join, in the same runs"
    )
    args = parser.parse_args()
    env = dict(os.environ, METRICS_ENGINE=args.engine)
    env.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    cli = [os.path.join(os.path.dirname(sys.executable), "crm-scorecard")]
    if args.seed_customers:
        subprocess.run(
            [
                *cli,
                "seed",
                "--customers",
                str(args.seed_customers),
                "--months",
                "24",
                "--seed",
                "1",
                "--replace",
                "--no-progress",
            ],
            env=env,
            check=True,
        )
    if args.engine == "auto":
        began = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); "
                "from crm_scorecard.metrics.mirror import mirror_sync; mirror_sync()",
            ],
            env=env,
            check=True,
        )
        print(f"mirror brought up to date in {time.perf_counter() - began:.1f} s (not timed below)")
    configs: dict[str, tuple[list[str | None], str]] = {
        "company": ([None], "roll"),
        "departments": ([None, "department"], "roll"),
    }
    if args.tree_join:
        configs["company (join)"] = ([None], "join")
        configs["departments (join)"] = ([None, "department"], "join")
    figures: dict[str, list[float]] = {name: [] for name in configs}
    counts: dict[str, int] = {}
    for _ in range(args.runs):
        for name, (by, how) in configs.items():  # interleaved, so all see the same machine
            result = run_child(by, env, how)
            figures[name].append(result["seconds"])
            counts[name] = int(result["values"])
    print(
        f"engine {args.engine}, whole catalogue, monthly, {args.runs} runs each (min / median / max s):"
    )
    for name, seconds in figures.items():
        print(
            f"  {name:<18} {min(seconds):6.2f} / {statistics.median(seconds):6.2f} / "
            f"{max(seconds):6.2f}   {counts[name]:>9,} values"
        )
    for suffix in ("", " (join)") if args.tree_join else ("",):
        ratio = statistics.median(figures[f"departments{suffix}"]) / statistics.median(
            figures[f"company{suffix}"]
        )
        print(f"  departments / company{suffix} (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
