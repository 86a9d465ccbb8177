"""Benchmark: how fast and how well the customer value models fit (`crm-scorecard customers
value`), on synthetic customers drawn from the models themselves.

Usage:
  .venv/bin/python bench/clv.py [--customers 1000000] [--seed 0]

N customers (default 1,000,000) are drawn from known BG/NBD parameters (each first seen at a
uniform time over 78 weeks, so ages T run from 1 to 78 weeks, counted in whole days as
the orders give them) and their repeat purchases'
mean amounts from known Gamma-Gamma parameters. The script prints how long each fit took
(the computation alone, as `clv.services.models_fit` runs it between reading the orders and
writing the predictions), the recovered parameters against the true ones, and how long the
per-customer predictions took (p_alive, expected purchases over 52 weeks and the discounted
expected value week by week). The machine's core count and the library versions go with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import scipy

from crm_scorecard.clv import estimation

TRUE_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # CDNOW's, as published
TRUE_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.customers
    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}"
    )
    started = time.perf_counter()
    x, t_x, T = estimation.simulate(n, **TRUE_BGNBD, T_max=78, seed=args.seed)
    # Ages and recencies in whole days, as the orders give them.
    T, t_x = np.floor(T * 7) / 7, np.floor(t_x * 7) / 7
    m = estimation.simulate_spend(x, **TRUE_GG, seed=args.seed)
    print(
        f"drew {n:,} customers in {time.perf_counter() - started:.1f} s: "
        f"{int(np.sum(x > 0)):,} repeat buyers, {int(x.sum()):,} repeat purchases"
    )

    started = time.perf_counter()
    bgnbd = estimation.bgnbd_fit(x, t_x, T)
    bg_seconds = time.perf_counter() - started
    started = time.perf_counter()
    gg = estimation.gamma_gamma_fit(x, m)
    gg_seconds = time.perf_counter() - started
    print(
        f"\nfit: BG/NBD {bg_seconds:.2f} s, Gamma-Gamma {gg_seconds:.2f} s, together {bg_seconds + gg_seconds:.2f} s"
    )
    print(f"{'parameter':<10} {'true':>9} {'fitted':>9} {'error':>8}")
    for name, true in TRUE_BGNBD.items():
        got = getattr(bgnbd, name)
        print(f"{name:<10} {true:>9.3f} {got:>9.3f} {100 * (got - true) / true:>+7.2f}%")
    for name, true in TRUE_GG.items():
        got = getattr(gg, name)
        print(f"{name:<10} {true:>9.3f} {got:>9.3f} {100 * (got - true) / true:>+7.2f}%")

    started = time.perf_counter()
    alive = estimation.p_alive(bgnbd, x, t_x, T)
    spend = estimation.expected_spend(gg, x, m)
    value = estimation.expected_value(
        bgnbd, spend, horizon_weeks=52, annual_rate=0.10, x=x, t_x=t_x, T=T
    )
    print(
        f"\npredictions (p_alive, spend, 52-week discounted value): "
        f"{time.perf_counter() - started:.1f} s; mean p_alive {alive.mean():.3f}, "
        f"mean expected value {value.mean():.2f}"
    )


if __name__ == "__main__":
    main()
