"""Benchmark: concurrent users loading scorecard pages.

Usage: .venv/bin/python bench/web.py [--database-url URL] [--users 20] [--requests 400]
                                    [--breakdown N] [--metric revenue] [--by region]
                                    [--period 2026-06] [--vary MONTHS] [--skip-pages]

Uses a seeded database (default: the PostgreSQL bench database filled by
bench/seed_import.py or bench/metrics.py --seed-customers). Computes the KPIs and installs
the templates if they are missing, serves the app on 127.0.0.1 with `crm-scorecard serve`
(gunicorn, its default workers and threads), and has N threads load the home page and
scorecard pages as signed-in managers over one kept-alive connection each (as a browser
does), with no warm-up: the first load of each page in each worker process (an empty
evaluation cache) is counted too. Prints p50/p95/p99 latency. Traffic stays on the loopback
address and the loop is bounded.

With --breakdown N it then times the live breakdown of one metric by one dimension for one
period (what the indicator page and the API do per request): N requests one after another
to `GET /api/metrics/{metric}?by=...&since=...&until=...` over one kept-alive connection, as
a signed-in executive (company-wide) and as the Sales manager (Sales' subtree), each after
one untimed first request; prints p50/p95/max and the load average. The columnar mirror is
brought up to date first (a request never copies anything into it). --skip-pages leaves the
page test out.

--vary MONTHS makes each request ask something else than the one before, so that nothing a
server might keep of one answer serves the next: the requests cycle through the MONTHS months
ending with --period and every metric and dimension given (--metric and --by take several,
comma-separated: `--metric revenue,orders --by region,channel`). Each user first asks each
(metric, dimension) once, untimed (the server keeps per mirror version, per access scope, the
compiled queries and each breakdown's periods and dimension values, never a result); those
first requests are printed apart.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/crm_scorecard_bench"
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: serve's)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: serve's)")
    parser.add_argument("--breakdown", type=int, default=0, help="breakdown requests per user")
    parser.add_argument("--metric", default="revenue", help="several, comma-separated, with --vary")
    parser.add_argument("--by", default="region", help="several, comma-separated, with --vary")
    parser.add_argument("--period", default="2026-06", help="YYYY-MM (with --vary: the last month)")
    parser.add_argument(
        "--vary", type=int, default=0, help="cycle through this many months (see above)"
    )
    parser.add_argument("--skip-pages", action="store_true")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_scorecard.settings.local")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.cache import cache
    from django.core.management import call_command

    from crm_scorecard.accounts.models import Level, User
    from crm_scorecard.crm.seed import departments_ensure
    from crm_scorecard.metrics.models import KpiValue
    from crm_scorecard.metrics.services import kpi_compute
    from crm_scorecard.scorecards.models import Scorecard
    from crm_scorecard.scorecards.templates import template_install, template_names

    call_command("migrate", verbosity=0)
    depts = departments_ensure()
    if not args.skip_pages and not KpiValue.objects.exists():
        began = time.perf_counter()
        kpi_compute()
        print(f"computed KPIs in {time.perf_counter() - began:.0f} s")
    for name in template_names():
        if not Scorecard.objects.filter(department=depts["Sales"], template=name).exists():
            template_install(name=name, department=depts["Sales"])
    user, _ = User.objects.get_or_create(
        username="bench-manager", defaults={"level": Level.MANAGER}
    )
    user.departments.set([depts["Sales"]])
    executive, _ = User.objects.get_or_create(
        username="bench-executive", defaults={"level": Level.EXECUTIVE}
    )

    def signed_in(who: User) -> str:
        session = SessionStore()
        session[SESSION_KEY] = str(who.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = who.get_session_auth_hash()
        session.create()
        return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"

    cookie = signed_in(user)
    if args.breakdown:
        from crm_scorecard.metrics.mirror import mirror_sync

        began = time.perf_counter()
        mirror_sync()
        print(f"columnar mirror brought up to date in {time.perf_counter() - began:.1f} s")
    pages = ["/"] + [
        f"/scorecards/{pk}/"
        for pk in Scorecard.objects.filter(department=depts["Sales"]).values_list("pk", flat=True)
    ]

    cache.clear()  # the cache outlives the server: start cold, as promised above
    command = [
        str(Path(sys.executable).parent / "crm-scorecard"),
        "serve",
        "--port",
        str(args.port),
    ]
    for option in ("workers", "threads"):
        if getattr(args, option):
            command += [f"--{option}", str(getattr(args, option))]
    server = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(300):  # gunicorn took over 10 s to answer on a loaded machine
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        if args.breakdown:
            breakdown(args, {"executive": signed_in(executive), "Sales manager": cookie})
        if args.skip_pages:
            return 0
        timings: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        per_user = max(1, args.requests // args.users)

        def user_loop(n: int) -> None:
            # Each user keeps one connection open, as a browser does.
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
            for i in range(per_user):
                path = pages[(n + i) % len(pages)]
                began = time.perf_counter()
                try:
                    conn.request("GET", path, headers={"Cookie": cookie})
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                    if not ok:
                        with lock:
                            errors.append(f"{path}: {response.status}")
                except (OSError, http.client.HTTPException) as exc:
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
                    with lock:
                        errors.append(f"{path}: {exc}")
                elapsed = (time.perf_counter() - began) * 1000
                if ok:
                    with lock:
                        timings.append(elapsed)
            conn.close()

        began, client_cpu = time.perf_counter(), time.process_time()
        threads = [threading.Thread(target=user_loop, args=(n,)) for n in range(args.users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
        client_cpu = time.process_time() - client_cpu
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    timings.sort()

    def pct(q: float) -> float:
        return timings[min(len(timings) - 1, int(len(timings) * q))]

    print(
        f"{args.users} users, {len(timings)} pages ({len(pages)} distinct) in {wall:.1f} s "
        f"= {len(timings) / wall:.1f} pages/s; errors {len(errors)}; the client itself used "
        f"{client_cpu:.1f} s of CPU on the same machine"
    )
    print(
        f"latency p50 {statistics.median(timings):.0f} ms, p95 {pct(0.95):.0f} ms, p99 {pct(0.99):.0f} ms"
    )
    return 0


def breakdown(args: argparse.Namespace, cookies: dict[str, str]) -> None:
    """The live breakdown of one metric by one dimension for one period, through the API,
    one request after another per signed-in user; prints p50/p95/max. With --vary, each
    request asks another month, metric or dimension than the one before."""
    asks = breakdown_requests(args)
    first_of = list(dict.fromkeys((metric, by) for metric, by, _ in asks))
    for who, cookie in cookies.items():
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
        get = functools.partial(_get, conn, cookie)
        firsts = {}
        for metric, by in first_of:  # untimed: one first request per (metric, dimension)
            month = next(m for k, b, m in asks if (k, b) == (metric, by))
            firsts[(metric, by)] = get(breakdown_path(metric, by, month))
        timings: list[float] = []
        each: dict[tuple[str, str], list[float]] = {}
        points = 0
        for i in range(args.breakdown):
            metric, by, month = asks[i % len(asks)] if args.vary else asks[0]
            elapsed, count = get(breakdown_path(metric, by, month))
            timings.append(elapsed)
            each.setdefault((metric, by), []).append(elapsed)
            points += count
        conn.close()
        timings.sort()
        p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
        first = ", ".join(f"{k} by {b} {ms:.0f} ms" for (k, b), (ms, _) in firsts.items())
        if args.vary:
            months = sorted({m for *_, m in asks})
            what = (
                f"{args.metric} by {args.by}, cycling through {len(asks)} requests "
                f"({months[0]} to {months[-1]})"
            )
        else:
            what = f"{args.metric} by {args.by} for {args.period}"
        print(
            f"live breakdown, {what} through the API as the {who} ({points / len(timings):.0f} "
            f"points a request): {len(timings)} requests one after another, p50 "
            f"{statistics.median(timings):.0f} ms, p95 {p95:.0f} ms, max {timings[-1]:.0f} ms "
            f"(first request {first}, not counted); target p95 < 100 ms; load average "
            f"{Path('/proc/loadavg').read_text().split()[0]}"
        )
        if len(each) > 1:  # which of the metrics cycled through the slow requests are
            slowest = sorted(each.items(), key=lambda kv: -statistics.median(kv[1]))
            print(
                "  per metric, p50 / max ms: "
                + ", ".join(
                    f"{k} by {b} {statistics.median(t):.0f} / {max(t):.0f}" for (k, b), t in slowest
                )
            )


def _get(conn: http.client.HTTPConnection, cookie: str, path: str) -> tuple[float, int]:
    """One request over the kept-alive connection: (milliseconds, points in the answer)."""
    began = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie, "Accept": "application/json"})
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - began) * 1000
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {body[:200]!r}")
    return elapsed, int(json.loads(body)["count"])


def breakdown_requests(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(metric, dimension, YYYY-MM) of each request, in turn: the months outermost, so each
    request asks another month than the one before (and another metric or dimension when
    several are given)."""
    year, month = (int(x) for x in args.period.split("-"))
    last = year * 12 + month - 1
    months = [
        f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(last - max(args.vary, 1) + 1, last + 1)
    ]
    metrics, bys = args.metric.split(","), args.by.split(",")
    return [(k, b, m) for k in metrics for b in bys for m in months]


def breakdown_path(metric: str, by: str, period: str) -> str:
    import calendar

    year, month = (int(x) for x in period.split("-"))
    last = calendar.monthrange(year, month)[1]
    return (
        f"/api/metrics/{metric}?grain=month&by={by}"
        f"&since={period}-01&until={period}-{last:02d}&limit=500"
    )


if __name__ == "__main__":
    sys.exit(main())
