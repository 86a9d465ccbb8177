"""The live breakdown (what the indicator page and the API compute per request): only the
periods asked for are read, over a connection to the mirror's version kept open between
requests, each query compiled once. The numbers are those of the whole history, a new
mirror version is read at once, and what is kept is kept per access scope.

The tiny company of tests/metrics_data.py (January to March 2026): customers c1 (North)
and c2 (South) in M-Sales, c3 (North) in M-Service; revenue Jan c1 100, c2 80; Feb c1 300,
c3 70; Mar c1 20, c2 40."""

from __future__ import annotations

from contextlib import closing
from datetime import date

import pytest

from crm_scorecard.accounts.models import Level, User
from crm_scorecard.metrics import live
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine
from crm_scorecard.metrics.kinds import Aggregate, History, Retention, Stock
from crm_scorecard.metrics.live import live_connection, live_forget
from crm_scorecard.metrics.mirror import mirror_sync, mirror_version
from crm_scorecard.metrics.services import metric_series
from crm_scorecard.metrics.sources import UnknownColumn
from crm_scorecard.periods import period_index

from . import metrics_data

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
# (since, until): one month, two months, a range starting before the data, the last month
SPANS = [
    (FEB, date(2026, 2, 28)),
    (JAN, date(2026, 2, 28)),
    (date(2025, 12, 1), date(2026, 1, 31)),
    (MAR, date(2026, 3, 31)),
]
BREAKDOWNS = [None, "region", "department", "channel", "age_bracket"]


@pytest.fixture(scope="module")
def company(django_db_setup, django_db_blocker, tmp_path_factory):
    """The tiny company, committed (DuckDB reads the mirror, not the test's transaction),
    mirrored, with an executive and a manager of each department."""
    folder = tmp_path_factory.mktemp("mirror")
    with django_db_blocker.unblock():
        departments = metrics_data.build()
        users = {"boss": User.objects.create(username="bd-boss", level=Level.EXECUTIVE)}
        for name in ("sales", "service"):
            users[name] = User.objects.create(username=f"bd-{name}", level=Level.MANAGER)
            users[name].departments.set([departments[name]])
        mirror_sync(folder)
    yield {"folder": folder, "users": users, **departments}
    live_forget()
    with django_db_blocker.unblock():
        User.objects.filter(username__startswith="bd-").delete()
        metrics_data.clear()


@pytest.fixture
def mirrored(company, monkeypatch):
    """The default engine reading the company's mirror."""
    monkeypatch.setenv("METRICS_ENGINE", "auto")
    monkeypatch.setenv("METRICS_MIRROR", str(company["folder"]))
    return company


def _month(points):
    return [(p.period_start.month, p.dimension_value, p.value) for p in points]


@pytest.mark.django_db
@pytest.mark.parametrize("choice", ["app", "duckdb", "live"])
def test_a_breakdown_of_some_months_has_the_numbers_of_the_whole_history(mirrored, choice):
    # Given an engine computing each metric over the whole history, and one reading only
    # the months asked for (on the app database, DuckDB over it, or the live connection to
    # the mirror with its queries compiled once)
    keys = [m.key for m in registry() if m.kind != "manual"]
    whole = Engine(connect("auto" if choice == "live" else choice), registry())
    compared = narrowed_kinds = 0
    with live_connection() if choice == "live" else closing(connect(choice)) as conn:
        narrow = Engine(conn, registry(), narrow=True)
        assert (conn.snapshot is not None) == (choice == "live")
        for by in BREAKDOWNS:
            for key in keys:
                for since, until in SPANS:
                    # When both are asked for the same months
                    try:
                        want = [r for r in whole.compute(key, by=by) if since <= r[0] <= until]
                    except UnknownColumn:
                        with pytest.raises(UnknownColumn):
                            narrow.compute(key, by=by, since=since, until=until)
                        continue
                    got = narrow.compute(key, by=by, since=since, until=until)
                    # Then the periods, dimension values and numbers are the same
                    assert [r[:2] for r in got] == [r[:2] for r in want], (key, by, since)
                    assert [r[2] for r in got] == pytest.approx([r[2] for r in want], abs=1e-9), (
                        key,
                        by,
                        since,
                    )
                    compared += bool(want)
            narrowed_kinds = len({k for k, request in narrow._series if request.span})
    whole.close()
    assert compared >= 400
    assert narrowed_kinds >= 30  # the local kinds were computed for the months alone


@pytest.mark.django_db
def test_a_month_by_region_reads_one_compiled_query_for_every_month(mirrored):
    # Given the executive, and the mirror's connection kept open
    live_forget()
    boss = mirrored["users"]["boss"]

    def revenue(month: date, until: date) -> list:
        return _month(
            metric_series(key="revenue", user=boss, by="region", since=month, until=until)
        )

    # When revenue by region is asked for January, then February and March
    assert revenue(JAN, date(2026, 1, 31)) == [(1, "North", 100), (1, "South", 80)]
    conn = live._idle[mirror_version(mirrored["folder"])][0]
    compiled = {k for k in conn.snapshot if k[1] == "sql"}
    # Then each month has its own numbers (South sold nothing in February: a real 0)
    assert revenue(FEB, date(2026, 2, 28)) == [(2, "North", 370), (2, "South", 0)]
    assert revenue(MAR, date(2026, 3, 31)) == [(3, "North", 20), (3, "South", 40)]
    # And the same connection served them with the queries compiled for January
    assert live._idle[mirror_version(mirrored["folder"])] == [conn]
    assert {k for k in conn.snapshot if k[1] == "sql"} == compiled


@pytest.mark.django_db
def test_a_month_by_department_adds_up_that_months_parts_alone(mirrored):
    # Given the live connection, and two metrics added up the department tree from each
    # customer's own department: revenue, and repeat customers (c1 in February, c1 and
    # c2 in March, all M-Sales'; M-Service's one customer, c3, bought once, in February)
    live_forget()

    def month(key: str, since: date, until: date) -> tuple[list, set]:
        # (a request: an engine of its own on the connection kept for the version)
        with live_connection() as conn:
            engine = Engine(conn, registry(), narrow=True)
            rows = engine.compute(key, by="department", since=since, until=until)
            read = {request.span for k, request in engine._parts if k == key}
        return [(r[0].month, r[1], r[2]) for r in rows], read

    jan, feb, mar = (period_index(d, "month") for d in (JAN, FEB, MAR))
    # When March's revenue is asked for first
    rows, read = month("revenue", MAR, date(2026, 3, 31))
    # Then M-Service has a real 0 in March: the departments are those of the whole
    # history, worked out (from its parts) once for the version
    assert rows == [(3, "M-Sales", 60), (3, "M-Service", 0)]
    assert read == {(mar, mar), None}
    # And a request for February adds up February's parts alone
    rows, read = month("revenue", FEB, date(2026, 2, 28))
    assert rows == [(2, "M-Sales", 300), (2, "M-Service", 70)]
    assert read == {(feb, feb)}
    # And so do the repeat customers: M-Service never has one, so it has no row, as in
    # the whole history's breakdown
    assert month("repeat_customers", JAN, date(2026, 1, 31)) == (
        [(1, "M-Sales", 0)],
        {(jan, jan), None},
    )
    assert month("repeat_customers", MAR, date(2026, 3, 31)) == (
        [(3, "M-Sales", 2)],
        {(mar, mar)},
    )
    whole = Engine(connect("auto"), registry())
    assert [
        (r[0].month, r[1], r[2]) for r in whole.compute("repeat_customers", by="department")
    ] == [
        (1, "M-Sales", 0),
        (2, "M-Sales", 1),
        (3, "M-Sales", 2),
    ]
    whole.close()


@pytest.mark.django_db
def test_a_months_ratio_or_stock_reads_one_source_in_one_query(mirrored, monkeypatch):
    # Given the live connection, warm (each metric asked for January once)
    live_forget()
    boss = mirrored["users"]["boss"]
    for key in ("visits_per_customer", "nps", "overdue_complaints"):
        metric_series(key=key, user=boss, by="region", since=JAN, until=date(2026, 1, 31))
    ran = []
    execute = Engine.execute

    def counted(self, expr, request=None):
        ran.append(expr)
        return execute(self, expr, request)

    monkeypatch.setattr(Engine, "execute", counted)

    def february(key: str) -> list:
        ran.clear()
        return _month(
            metric_series(key=key, user=boss, by="region", since=FEB, until=date(2026, 2, 28))
        )

    # When February is asked for
    # Then visits per customer is c1's two visits (North) over one visiting customer, from
    # one query for both the visits and the visiting customers
    assert february("visits_per_customer") == [(2, "North", 2.0)]
    assert len(ran) == 1
    # And the net promoter score is c1's one promoter (9) over one answer in North, South
    # answered nothing in February (no data, not 0): promoters, detractors and answers in
    # one query
    assert february("nps") == [(2, "North", 100.0), (2, "South", None)]
    assert len(ran) == 1
    # And the overdue complaints at the end of February, none (c2's, South, was overdue
    # at the end of January), read the openings and the endings in one query
    assert february("overdue_complaints") == [(2, "North", 0), (2, "South", 0)]
    assert len(ran) == 1
    # (from the complaints with their service level worked out once for the mirror version)
    [conn] = live._idle[mirror_version(mirrored["folder"])]
    assert ("resident", "complaints", "month") in conn.snapshot


@pytest.mark.django_db
def test_a_months_query_is_built_once_for_every_month(mirrored, monkeypatch):
    # Given the live connection, warm: each metric by region asked for January once
    live_forget()
    boss = mirrored["users"]["boss"]
    keys = ("revenue", "nps", "cross_sell_rate", "retention_rate", "overdue_complaints")
    for key in keys:
        metric_series(key=key, user=boss, by="region", since=JAN, until=date(2026, 1, 31))
    built = []
    for kind, name in [
        (Aggregate, "_rows"),
        (Aggregate, "_batch"),
        (History, "_counted"),
        (Retention, "_counted"),
        (Stock, "_open_rows"),
    ]:
        original = getattr(kind, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            built.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(kind, name, staticmethod(spy) if name == "_batch" else spy)

    def month(key: str, since: date, until: date) -> list:
        return _month(metric_series(key=key, user=boss, by="region", since=since, until=until))

    # When February and March are asked for
    got = {
        (key, since.month): month(key, since, until)
        for key in keys
        for since, until in [(FEB, date(2026, 2, 28)), (MAR, date(2026, 3, 31))]
    }
    # Then no query was built again: each month ran January's with its own months
    assert built == []
    # And each month has its own numbers: revenue (South sold nothing in February), the
    # net promoter score (South answered nothing then: no data), no complaint overdue at
    # the end of February; the rates as the whole history has them
    assert got[("revenue", 2)] == [(2, "North", 370), (2, "South", 0)]
    assert got[("revenue", 3)] == [(3, "North", 20), (3, "South", 40)]
    assert got[("nps", 2)] == [(2, "North", 100.0), (2, "South", None)]
    assert got[("overdue_complaints", 2)] == [(2, "North", 0), (2, "South", 0)]
    with closing(connect("auto")) as conn:
        whole = Engine(conn, registry())
        for key in ("cross_sell_rate", "retention_rate"):
            rows = whole.compute(key, by="region")
            for m in (2, 3):
                assert got[(key, m)] == [(p.month, d, v) for p, d, v in rows if p.month == m], key


@pytest.mark.django_db
def test_what_is_kept_for_one_department_is_never_shown_to_another(mirrored):
    # Given the executive's breakdown computed first on the kept connection (the whole
    # company's periods, January to March, and regions, North and South)
    live_forget()
    users = mirrored["users"]

    def revenue(who: str, month: date, until: date) -> list:
        rows = metric_series(key="revenue", user=users[who], by="region", since=month, until=until)
        return _month(rows)

    assert revenue("boss", JAN, date(2026, 1, 31)) == [(1, "North", 100), (1, "South", 80)]
    # When M-Service's manager asks for January and February on the same connection
    # Then M-Service's own periods and regions answer: its only sale is c3's in February
    # (North), so January is not covered, and South (M-Sales' customer c2) never appears
    assert revenue("service", JAN, date(2026, 1, 31)) == []
    assert revenue("service", FEB, date(2026, 2, 28)) == [(2, "North", 70)]
    # And M-Sales' manager sees M-Sales' numbers alone (c3's 70 in February is not there)
    assert revenue("sales", FEB, date(2026, 2, 28)) == [(2, "North", 300), (2, "South", 0)]
    assert revenue("boss", FEB, date(2026, 2, 28)) == [(2, "North", 370), (2, "South", 0)]
    # (one connection did it all, from the order lines of every department kept in a table)
    [conn] = live._idle[mirror_version(mirrored["folder"])]
    assert ("resident", "order_lines", "month") in conn.snapshot


@pytest.mark.django_db
def test_a_request_arriving_while_the_kept_connection_is_lent_reads_as_before(mirrored):
    # Given the one connection a process keeps per version, lent to a request
    live_forget()
    boss = mirrored["users"]["boss"]
    version = mirror_version(mirrored["folder"])
    with live_connection() as first:
        assert first.snapshot is not None
        # When another request comes meanwhile
        with live_connection() as second:
            # Then it gets a connection of its own, keeping nothing (no tables, no queries)
            assert second is not first and second.snapshot is None
        rows = metric_series(key="revenue", user=boss, by="region", since=FEB, until=FEB)
        assert _month(rows) == [(2, "North", 370), (2, "South", 0)]
    # And only the first is kept for the next request
    assert live._idle[version] == [first]
    # And one that fails is closed, not lent again, and the next request gets a kept one
    with pytest.raises(ZeroDivisionError), live_connection() as failing:
        assert failing is first
        _ = 1 / 0
    assert version not in live._idle
    with live_connection() as after:
        assert after is not first and after.snapshot is not None
    assert live._idle[version] == [after]


@pytest.mark.django_db
@pytest.mark.parametrize("grain", ["day", "week", "quarter", "year"])
def test_some_periods_at_every_grain_have_the_numbers_of_the_whole_history(mirrored, grain):
    # Given the whole history, and the live connection reading only the periods asked for
    # (DuckDB is told the periods' first and last instants too, which must be the grain's)
    keys = ["revenue", "orders", "calls", "lead_conversion_rate", "average_handle_time", "csat"]
    spans = [
        (date(2026, 1, 10), date(2026, 1, 10)),  # MO1's day; a Saturday in its week
        (date(2026, 1, 19), date(2026, 2, 5)),
        (date(2026, 2, 1), date(2026, 3, 31)),
    ]
    whole = Engine(connect("auto"), registry())
    compared = 0
    with live_connection() as conn:
        narrow = Engine(conn, registry(), narrow=True)
        for key in keys:
            for by in (None, "region"):
                for since, until in spans:
                    # When both are asked for the same periods
                    try:
                        history = whole.compute(key, grain=grain, by=by)
                    except UnknownColumn:  # (leads have no region: refused either way)
                        with pytest.raises(UnknownColumn):
                            narrow.compute(key, grain=grain, by=by, since=since, until=until)
                        continue
                    got = narrow.compute(key, grain=grain, by=by, since=since, until=until)
                    want = [
                        r
                        for r in history
                        if r[0] <= until and (r[0] >= since or _holds(r[0], since, grain))
                    ]
                    # Then they agree
                    assert got == want, (key, grain, by, since)
                    compared += bool(want)
    whole.close()
    assert compared >= 20


def _holds(start: date, day: date, grain: str) -> bool:
    """Whether the period starting on `start` at `grain` holds `day`."""
    from crm_scorecard.periods import period_index

    return period_index(start, grain) == period_index(day, grain)


@pytest.mark.django_db
def test_what_a_connection_keeps_is_bounded_and_its_tables_stay(mirrored):
    # Given the kept connection after one request, with its order lines' table, and as much
    # kept besides as a process serving many scopes and breakdowns gathers
    live_forget()
    boss = mirrored["users"]["boss"]
    metric_series(key="revenue", user=boss, by="region", since=JAN, until=JAN)
    [conn] = live._idle[mirror_version(mirrored["folder"])]
    table = conn.snapshot[("resident", "order_lines", "month")]
    conn.snapshot.update({(None, "filler", i): i for i in range(4097)})
    # When the next request comes
    rows = metric_series(key="revenue", user=boss, by="region", since=FEB, until=FEB)
    # Then it answers right, what was kept is dropped but for the table, which stays
    assert _month(rows) == [(2, "North", 370), (2, "South", 0)]
    assert conn.snapshot[("resident", "order_lines", "month")] is table
    assert len(conn.snapshot) < 50


@pytest.mark.django_db
def test_histories_keep_what_each_customer_did_first_once_per_version_and_scope(mirrored):
    # Given the kept connection, and the tiny company's histories: c1 (North) buys premium
    # first in February and accessories first in March, after devices in January; c3
    # (North, M-Service) buys for the first time in February
    live_forget()
    users = mirrored["users"]

    def history(key: str, who: str, month: date, until: date) -> list:
        rows = metric_series(key=key, user=users[who], by="region", since=month, until=until)
        return _month(rows)

    # When the executive asks for cross-selling in March and upselling in February
    assert history("cross_sell_customers", "boss", MAR, date(2026, 3, 31)) == [(3, "North", 1)]
    assert history("upsell_customers", "boss", FEB, date(2026, 2, 28)) == [(2, "North", 1)]
    [conn] = live._idle[mirror_version(mirrored["folder"])]
    tables = {k: v for k, v in conn.snapshot.items() if k[1] == "whole history"}
    # Then what each customer did first is kept in tables, for the whole company (and the
    # first premium and first per category purchases that came after a first purchase)
    assert {k[2] for k in tables} == {
        "firsts",
        "first premium",
        "first per category",
        "upsells",
        "cross-sells",
    }
    assert {k[0] for k in tables} == {None}

    # When M-Service's manager asks for new customers in February, and the executive for
    # cross-selling in February
    assert history("new_customers", "service", FEB, date(2026, 2, 28)) == [(2, "North", 1)]
    assert history("cross_sell_customers", "boss", FEB, date(2026, 2, 28)) == [(2, "North", 0)]
    # Then M-Service's firsts are its own table, and the executive's were not built again
    scoped = {k for k in conn.snapshot if k[1] == "whole history" and k[0] is not None}
    assert [k[2] for k in scoped] == ["firsts"]
    assert all(conn.snapshot[k] is table for k, table in tables.items())
