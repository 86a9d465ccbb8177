"""The columnar mirror the default metrics engine reads: copied once, then again table by
table only when that table changed, so the numbers always follow the app database."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest
from django.db import connection

from crm_scorecard.crm.models import Feedback
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine
from crm_scorecard.metrics.mirror import mirror_pin, mirror_sync
from crm_scorecard.metrics.semantic import event_order
from crm_scorecard.metrics.sources import TABLES

from .factories import (
    CustomerFactory,
    DepartmentFactory,
    InteractionFactory,
    OrderFactory,
)

# The mirror is read over DuckDB's own connection, which sees committed data only.
pytestmark = pytest.mark.django_db(transaction=True)

WHEN = datetime(2026, 1, 10, 9, tzinfo=UTC)


def calls_in_file(folder, column: str = "handle_seconds") -> list:
    pin = mirror_pin(folder)
    try:
        path = pin.path / "crm_interaction.parquet"
        return [r[0] for r in duckdb.sql(f"SELECT {column} FROM '{path}' ORDER BY id").fetchall()]
    finally:
        pin.release()


def test_mirror_copies_changed_tables_only(tmp_path):
    # Given one call of 100 s
    department = DepartmentFactory(name="Care")
    customer = CustomerFactory(department=department)
    call = InteractionFactory(
        customer=customer,
        department=department,
        channel="call",
        started_at=WHEN,
        handle_seconds=100,
    )
    folder = tmp_path / "mirror"
    # When the mirror is first synced, every table is copied; then nothing, as nothing changed
    assert mirror_sync(folder) == list(TABLES)
    assert mirror_sync(folder) == []
    assert calls_in_file(folder) == [100]
    # When the call is corrected in place (same rows, same ids), only its table is copied again
    call.handle_seconds = 300
    call.save()
    assert mirror_sync(folder) == ["crm_interaction"]
    assert calls_in_file(folder) == [300]
    # When another system adds a row behind the product's back, the new id gives it away
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_interaction (id, external_id, customer_id, department_id, channel, "
            "direction, started_at, topics, topic_count, note, handle_seconds) "
            "VALUES (%s, 'X-1', %s, %s, 'call', 'inbound', %s, '', 0, '', 50)",
            [call.pk + 100, customer.pk, department.pk, WHEN],
        )
    assert mirror_sync(folder) == ["crm_interaction"]
    assert calls_in_file(folder) == [300, 50]
    # When another system corrects a row in place (no new id), the database's triggers tell
    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_interaction SET handle_seconds = 400 WHERE id = %s", [call.pk])
    assert mirror_sync(folder) == ["crm_interaction"]
    assert calls_in_file(folder) == [400, 50]
    # and when it deletes a row that is not the newest
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM crm_interaction WHERE id = %s", [call.pk])
    assert mirror_sync(folder) == ["crm_interaction"]
    assert calls_in_file(folder) == [50]
    # And a forced refresh copies everything
    assert mirror_sync(folder, refresh=True) == list(TABLES)


def test_default_engine_reads_the_mirror_and_follows_changes(settings, tmp_path):
    settings.METRICS_MIRROR = str(tmp_path / "auto")
    department = DepartmentFactory(name="Care")
    customer = CustomerFactory(department=department)
    InteractionFactory(
        customer=customer,
        department=department,
        channel="call",
        started_at=WHEN,
        handle_seconds=100,
    )

    def average_handle_time() -> list:
        with Engine(connect("auto"), registry()) as engine:
            assert engine.conn.parquet is not None  # DuckDB over the mirror's files
            return [v for _, _, v in engine.compute("average_handle_time")]

    assert average_handle_time() == [100]
    # When a second call of 200 s is recorded, the next computation includes it: (100 + 200) / 2
    InteractionFactory(
        customer=customer,
        department=department,
        channel="call",
        started_at=WHEN,
        handle_seconds=200,
    )
    assert average_handle_time() == [150]


def test_a_reader_keeps_the_version_it_started_on_while_syncs_replace_it(settings, tmp_path):
    # Given a call of 100 s, copied into the mirror, and an engine reading that copy
    department = DepartmentFactory(name="Care")
    customer = CustomerFactory(department=department)
    call = InteractionFactory(
        customer=customer,
        department=department,
        channel="call",
        started_at=WHEN,
        handle_seconds=100,
    )
    folder = tmp_path / "mirror"
    settings.METRICS_MIRROR = str(folder)
    reader = Engine(connect("auto"), registry())
    first = reader.conn.parquet
    # When the call is corrected and the mirror synced twice while that engine still reads
    call.handle_seconds = 300
    call.save()
    assert mirror_sync(folder) == ["crm_interaction"]
    InteractionFactory(
        customer=customer,
        department=department,
        channel="call",
        started_at=WHEN,
        handle_seconds=500,
    )
    assert mirror_sync(folder) == ["crm_interaction"]
    # Then the engine goes on reading the files it started on, which no sync replaced or
    # deleted under it, while a new reader sees the latest copy: (300 + 500) / 2
    assert [v for _, _, v in reader.compute("average_handle_time")] == [100]
    assert first is not None and (first / "crm_interaction.parquet").is_file()
    assert calls_in_file(folder) == [300, 500]
    # And once the reader is done, the next sync deletes the versions nobody reads
    reader.close()
    call.handle_seconds = 400
    call.save()
    mirror_sync(folder)
    assert not first.exists()
    assert len(list(folder.glob("v-*"))) == 1


def test_event_tables_are_written_in_time_order(tmp_path):
    # Given calls, orders and feedback inserted out of time order (later ones first)
    department = DepartmentFactory(name="Care")
    customer = CustomerFactory(department=department)
    days = [20, 3, 11, 1, 27, 15]
    for day in days:
        InteractionFactory(customer=customer, started_at=WHEN.replace(day=day))
        OrderFactory(customer=customer, ordered_at=WHEN.replace(day=day))
        Feedback.objects.create(
            external_id=f"F{day}", customer=customer, submitted_at=WHEN.replace(day=day), rating=4
        )

    # When the mirror copies them
    mirror_sync(tmp_path)

    # Then each event table's rows are in the file in order of the event's own timestamp
    # (what lets a request for one month skip the row groups of the others), every row kept
    pin = mirror_pin(tmp_path)
    try:
        for table, column in event_order().items():
            path = pin.path / f"{table}.parquet"
            written = [r[0] for r in duckdb.sql(f"SELECT {column} FROM '{path}'").fetchall()]
            assert written == sorted(written), table
        for table, column in [
            ("crm_interaction", "started_at"),
            ("crm_order", "ordered_at"),
            ("crm_feedback", "submitted_at"),
        ]:
            path = pin.path / f"{table}.parquet"
            written = [r[0].day for r in duckdb.sql(f"SELECT {column} FROM '{path}'").fetchall()]
            assert written == sorted(days), table
    finally:
        pin.release()


def test_every_file_is_written_in_parquets_second_format_with_lz4(tmp_path):
    # Given calls and orders
    customer = CustomerFactory(department=DepartmentFactory(name="Care"))
    for day in (3, 1, 2):
        InteractionFactory(customer=customer, started_at=WHEN.replace(day=day))
        OrderFactory(customer=customer, ordered_at=WHEN.replace(day=day))

    # When the mirror copies them (and works out the company's contacts)
    mirror_sync(tmp_path)

    # Then every column of every file is compressed with LZ4, and the ids and times of the
    # tables and the contacts worked out are stored as differences (the second format's)
    pin = mirror_pin(tmp_path)
    try:
        files = {path.stem: str(path) for path in pin.path.glob("*.parquet")}
        assert {"crm_interaction", "crm_order", "derived_contacts"} <= set(files)
        for name, path in files.items():
            chunks = duckdb.sql(
                f"SELECT path_in_schema, compression, encodings FROM parquet_metadata('{path}')"
            ).fetchall()
            assert {compression for _, compression, _ in chunks} <= {"LZ4_RAW"}, name
        for name, column in [
            ("crm_interaction", "started_at"),
            ("crm_interaction", "id"),
            ("crm_order", "ordered_at"),
            ("derived_contacts", "ts"),
        ]:
            encodings = duckdb.sql(
                f"SELECT encodings FROM parquet_metadata('{files[name]}') "
                f"WHERE path_in_schema = '{column}'"
            ).fetchall()
            assert encodings == [("DELTA_BINARY_PACKED",)], (name, column)
    finally:
        pin.release()


def _derived_contacts(folder) -> tuple[list, int]:
    """The contacts the mirror's version holds worked out: (id, next contact's time,
    repeat) in the file's order, and the file's inode (the same when linked)."""
    pin = mirror_pin(folder)
    try:
        path = pin.path / "derived_contacts.parquet"
        rows = duckdb.sql(f"SELECT interaction, next_ts, repeat FROM '{path}'").fetchall()
        return rows, path.stat().st_ino
    finally:
        pin.release()


def test_a_version_holds_the_companys_contacts_worked_out_once(tmp_path):
    # Given a customer's calls on 10 Jan (back 3 days later), 13 Jan (back 8 days later)
    # and 21 Jan, one order, and another customer's call on 12 Jan
    department = DepartmentFactory(name="Care")
    customer, other = CustomerFactory(department=department), CustomerFactory()
    days = [10, 13, 21]
    calls = [
        InteractionFactory(customer=customer, started_at=datetime(2026, 1, d, 9, tzinfo=UTC))
        for d in days
    ]
    alone = InteractionFactory(customer=other, started_at=datetime(2026, 1, 12, 9, tzinfo=UTC))
    OrderFactory(customer=customer, ordered_at=WHEN)
    folder = tmp_path / "mirror"
    # When the mirror is first synced
    mirror_sync(folder)
    rows, inode = _derived_contacts(folder)
    # Then its version holds every contact in time order, each with the same customer's
    # next contact and whether it came within 7 days
    naive = [datetime(2026, 1, d, 9) for d in days]
    assert rows == [
        (calls[0].pk, naive[1], 1),
        (alone.pk, None, 0),
        (calls[1].pk, naive[2], 0),
        (calls[2].pk, None, 0),
    ]
    # When only the orders changed, the next version links the same file
    OrderFactory(customer=other, ordered_at=WHEN)
    assert mirror_sync(folder) == ["crm_order"]
    assert _derived_contacts(folder) == (rows, inode)
    # When the last call moves to 15 Jan, the contacts are worked out again: the second
    # call is now followed 2 days later
    calls[2].started_at = datetime(2026, 1, 15, 9, tzinfo=UTC)
    calls[2].save()
    assert mirror_sync(folder) == ["crm_interaction"]
    rows, _ = _derived_contacts(folder)
    assert rows[2] == (calls[1].pk, datetime(2026, 1, 15, 9), 1)
