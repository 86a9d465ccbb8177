"""The repeat-contact rate read live for some months: each contact knows whether the same
customer came back within 7 days, so a month's value reads that month's contacts and the
week after it, never the whole history, and gives the whole history's numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import ibis
import pytest

from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine
from crm_scorecard.metrics.live import live_connection, live_forget
from crm_scorecard.metrics.mirror import mirror_sync

from .factories import CustomerFactory, DepartmentFactory, InteractionFactory


def at(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _mirror(monkeypatch, tmp_path) -> None:
    """The database mirrored, read by the default engine over connections kept open."""
    folder = tmp_path / "mirror"
    mirror_sync(folder)
    monkeypatch.setenv("METRICS_ENGINE", "auto")
    monkeypatch.setenv("METRICS_MIRROR", str(folder))
    live_forget()


@pytest.mark.django_db(transaction=True)
def test_a_months_repeat_contacts_count_the_customers_who_came_back_after_it(monkeypatch, tmp_path):
    # Given one customer's contacts: 30 Jan (back on 3 Feb, 4 days later: a repeat),
    # 3 Feb (next on 20 Feb, 17 days later), 20 Feb 10:00 (next on 27 Feb 12:00, 7 days
    # and 2 hours later: not within 7 days), 27 Feb (back on 5 Mar, 6 days later: a
    # repeat) and 5 Mar (never back); a second customer's single contact on 31 Jan
    # (no one else's contact makes it a repeat)
    department = DepartmentFactory(name="Care")
    first, second = CustomerFactory(department=department), CustomerFactory(department=department)
    for when in [at(1, 30, 9), at(2, 3, 9), at(2, 20, 10), at(2, 27, 12), at(3, 5, 11)]:
        InteractionFactory(customer=first, started_at=when)
    InteractionFactory(customer=second, started_at=at(1, 31, 23))
    _mirror(monkeypatch, tmp_path)

    # When each month is asked for alone over the kept connection, as a page does
    with live_connection() as conn:
        narrow = Engine(conn, registry(), narrow=True)
        months = {
            month: narrow.compute("repeat_contact_rate", since=start, until=end)
            for month, start, end in [
                (1, date(2026, 1, 1), date(2026, 1, 31)),
                (2, date(2026, 2, 1), date(2026, 2, 28)),
                (3, date(2026, 3, 1), date(2026, 3, 31)),
            ]
        }
        # (each query compiled once for every month, its span left as parameters: None
        # would mean it is compiled again on every request)
        templates = [v for k, v in conn.snapshot.items() if len(k) > 1 and k[1] == "sql"]
    with Engine(connect("auto"), registry()) as whole:
        history = whole.compute("repeat_contact_rate")
    live_forget()

    # Then January: 1 repeat of 2 contacts; February: 1 of 3 (only 27 Feb came back in
    # time, on a day of March); March: 0 of 1 - each the whole history's value
    assert [(p.month, v) for p, _, v in months[1]] == [(1, pytest.approx(1 / 2))]
    assert [(p.month, v) for p, _, v in months[2]] == [(2, pytest.approx(1 / 3))]
    assert [(p.month, v) for p, _, v in months[3]] == [(3, 0.0)]
    assert [(p.month, v) for p, _, v in history] == [
        (1, pytest.approx(1 / 2)),
        (2, pytest.approx(1 / 3)),
        (3, 0.0),
    ]
    # And the months were computed for themselves (not picked out of the whole history)
    assert {request.span for key, request in narrow._series if key == "repeat_contact_rate"} == {
        (24312, 24312),
        (24313, 24313),
        (24314, 24314),
    }
    assert templates and None not in templates


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("offset", [0, 2**31], ids=["32-bit ids", "64-bit ids"])
def test_the_repeat_window_sorts_32_bit_ids_where_every_id_fits(monkeypatch, tmp_path, offset):
    # Given the contacts of the first test, the customers' and the contacts' ids shifted
    # by `offset` (past what 32 bits hold, for the second case); two of the first
    # customer's contacts at the same instant (ordered by their ids: the first is a repeat)
    department = DepartmentFactory(name="Care")
    first = CustomerFactory(id=offset + 7, department=department)
    second = CustomerFactory(id=offset + 8, department=department)
    times = [at(1, 30, 9), at(2, 3, 9), at(2, 3, 9), at(2, 20, 10), at(2, 27, 12), at(3, 5, 11)]
    for n, when in enumerate(times, start=1):
        InteractionFactory(id=offset + 100 + n, customer=first, started_at=when)
    InteractionFactory(id=offset + 200, customer=second, started_at=at(1, 31, 23))
    folder = tmp_path / "mirror"
    mirror_sync(folder)
    monkeypatch.setenv("METRICS_MIRROR", str(folder))

    # When the whole history is computed on DuckDB over the mirror, for the company (from
    # the contacts the mirror version holds worked out) and for the department (its own
    # contacts' window, run in the query)
    results, windows = [], []
    for departments in (None, {department.id}):
        with Engine(
            connect("auto"), registry(), materialise=True, departments=departments
        ) as engine:
            results.append(engine.compute("repeat_contact_rate"))
            fits = engine.conn.small_ids("crm_interaction", ("id", "customer_id"))
            windows.append(ibis.to_sql(engine._sources.get("contacts"), dialect="duckdb"))

    # Then January: 1 repeat of 2 contacts; February: 2 of 4 (3 Feb's first, then 27
    # Feb); March: 0 of 1, whichever ids, both ways
    for rows in results:
        assert [(p.month, v) for p, _, v in rows] == [
            (1, pytest.approx(1 / 2)),
            (2, pytest.approx(2 / 4)),
            (3, 0.0),
        ]
    company, scoped = windows
    assert "LEAD(" not in company and '"derived_contacts"' in company
    # And the window sorts 32-bit copies of the ids only where every id fits in 32 bits
    assert fits is (offset == 0)
    assert ('CAST("t0"."customer_id" AS INT)' in scoped) is (offset == 0)


@pytest.mark.django_db(transaction=True)
def test_a_scopes_live_repeat_contacts_are_those_within_the_scope(monkeypatch, tmp_path):
    # Given a customer who called Care on 30 Jan and Sales on 2 Feb (back in 3 days, but to
    # another department), and Care again on 20 Feb (never back)
    care, sales = DepartmentFactory(name="Care"), DepartmentFactory(name="Sales")
    customer = CustomerFactory(department=care)
    InteractionFactory(customer=customer, department=care, started_at=at(1, 30, 9))
    InteractionFactory(customer=customer, department=sales, started_at=at(2, 2, 9))
    InteractionFactory(customer=customer, department=care, started_at=at(2, 20, 9))
    _mirror(monkeypatch, tmp_path)

    # When January is read live company-wide, then within Care alone
    with live_connection() as conn:
        january = {"since": date(2026, 1, 1), "until": date(2026, 1, 31)}
        company = Engine(conn, registry(), narrow=True).compute("repeat_contact_rate", **january)
        scoped = Engine(conn, registry(), departments={care.pk}, narrow=True)
        in_care = scoped.compute("repeat_contact_rate", **january)
        february = scoped.compute(
            "repeat_contact_rate", since=date(2026, 2, 1), until=date(2026, 2, 28)
        )
    live_forget()

    # Then company-wide the January call is a repeat (1 of 1); within Care it is not (0 of
    # 1: the call back went to Sales), nor is February's (0 of 1)
    assert [(p.month, v) for p, _, v in company] == [(1, 1.0)]
    assert [(p.month, v) for p, _, v in in_care] == [(1, 0.0)]
    assert [(p.month, v) for p, _, v in february] == [(2, 0.0)]
