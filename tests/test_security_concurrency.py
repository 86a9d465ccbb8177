"""Writes acknowledged while the metrics engine reads the app database, its columnar mirror
is refreshed and an import runs, all at once in one process (as one `serve` worker, or a
`compute` next to it): every acknowledged write is in the database with its last value,
and no request fails.

The default SQLite database is the case that lost writes: DuckDB's SQLite scanner in the
same process as Python's sqlite3 does not see that process's locks on the file, so opening
the file through it reset the WAL index under committed transactions."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test import Client

from crm_scorecard.accounts.models import Level
from crm_scorecard.crm.imports import records_import
from crm_scorecard.metrics.connect import connect
from crm_scorecard.metrics.definitions import registry
from crm_scorecard.metrics.engine import Engine
from crm_scorecard.metrics.mirror import mirror_sync
from crm_scorecard.scorecards import files
from crm_scorecard.scorecards.models import Indicator, ManualValue
from crm_scorecard.scorecards.services import scorecard_import

from .factories import CustomerFactory, DepartmentFactory, InteractionFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 10
WRITES_EACH = 52  # 520 acknowledged writes in all
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]


def _card(indicators: int) -> dict:
    return {
        "name": "Load card",
        "perspectives": [
            {
                "name": "Customer",
                "goals": [
                    {
                        "name": "Entered by hand",
                        "indicators": [
                            {"name": f"Manual {i}", "baseline": 0, "target": 100}
                            for i in range(indicators)
                        ],
                    }
                ],
            }
        ],
    }


def _customers_csv(path: Path, rows: int) -> Path:
    lines = ["customer_id,full_name,email,department"]
    lines += [f"L{i:05d},Load {i},load{i}@example.com,Sales" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Background:
    """Runs `work` in a loop on its own thread (and its own database connection) until
    stopped; keeps the first error."""

    def __init__(self, name: str, work: Callable[[], None]) -> None:
        self.name, self.work, self.rounds = name, work, 0
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name=name)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.work()
                self.rounds += 1
                self.stop.wait(0.2)  # leave the writers room: a load, not a flood
        except Exception as exc:  # the test reports it
            self.errors.append(f"{self.name}: {type(exc).__name__}: {exc}")
        finally:
            connections.close_all()


def test_acknowledged_writes_survive_mirror_refresh_compute_and_import(tmp_path, settings):
    # Given a department's manager, a scorecard with one manual indicator per writer,
    # some calls for the metrics to read, and a customers file to import again and again
    sales = DepartmentFactory(name="Sales")
    manager = UserFactory(username="manager", level=Level.MANAGER, departments=[sales])
    scorecard_import(card=files.parse(_card(WRITERS)), department=sales)
    indicators = list(Indicator.objects.order_by("pk").values_list("pk", flat=True))
    customer = CustomerFactory(department=sales)
    for seconds in (100, 200, 300):
        InteractionFactory(
            customer=customer,
            department=sales,
            channel="call",
            started_at=datetime(2025, 3, 2, 9, tzinfo=UTC),
            handle_seconds=seconds,
        )
    csv_file = _customers_csv(tmp_path / "customers.csv", 100)
    settings.METRICS_MIRROR = str(tmp_path / "columnar")
    assert connection.vendor != "sqlite" or Path(connection.settings_dict["NAME"]).is_file()

    # When writers enter values through the API while, on other threads, the mirror is
    # refreshed, the default and the DuckDB engines compute, an import runs and pages are read
    acknowledged: dict[tuple[int, str], float] = {}
    answered = [0]
    failures: list[str] = []
    lock = threading.Lock()

    def writer(number: int) -> None:
        client = Client()
        client.force_login(manager)
        pk = indicators[number]
        try:
            for i in range(WRITES_EACH):
                month = MONTHS[i % len(MONTHS)]
                value = float(number * 1000 + i)
                response = client.put(
                    f"/api/indicators/{pk}/values/{month}",
                    json.dumps({"value": value}),
                    content_type="application/json",
                )
                with lock:
                    if response.status_code == 200:
                        acknowledged[(pk, month)] = value
                        answered[0] += 1
                    else:
                        failures.append(f"PUT {pk} {month}: {response.status_code}")
        except Exception as exc:
            with lock:
                failures.append(f"writer {number}: {type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    def browse() -> None:
        client = Client()
        client.force_login(manager)
        response = client.get("/api/scorecards")
        if response.status_code != 200:
            raise AssertionError(f"GET /api/scorecards: {response.status_code}")

    def compute(choice: str) -> Callable[[], None]:
        def run() -> None:
            with Engine(connect(choice), registry()) as engine:
                assert [v for _, _, v in engine.compute("average_handle_time")] == [200]

        return run

    background = [
        Background("mirror refresh", lambda: mirror_sync(refresh=True) and None),
        Background("compute auto", compute("auto")),
        Background("compute duckdb", compute("duckdb")),
        Background("import", lambda: records_import(entity="customers", path=csv_file) and None),
        Background("browse", browse),
    ]
    for job in background:
        job.thread.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    for job in background:
        job.stop.set()
    for job in background:
        job.thread.join(timeout=120)

    # Then no request failed, every background job ran and none failed
    errors = failures + [e for job in background for e in job.errors]
    assert errors == [], errors[:10]
    assert all(job.rounds > 0 for job in background), {j.name: j.rounds for j in background}
    # And every acknowledged write is in the database with the last value acknowledged for it
    assert answered[0] == WRITERS * WRITES_EACH >= 500
    assert len(acknowledged) == WRITERS * len(MONTHS)
    stored = {
        (pk, f"{day.year:04d}-{day.month:02d}"): value
        for pk, day, value in ManualValue.objects.values_list("indicator", "period_start", "value")
    }
    assert stored == acknowledged
