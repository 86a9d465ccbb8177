"""Record that CRM tables changed, so copies of them (the metrics engine's columnar mirror)
know to refresh. Saves and deletes through the ORM are caught by signals; bulk writes
(imports, seed, COPY) call `tables_touch` themselves; writes by other systems' SQL are counted
by database triggers (migration crm 0006: on PostgreSQL in a sequence per table, on SQLite in
the same `TableVersion` row)."""

from __future__ import annotations

from typing import Any

from django.db import connection, models
from django.db.models import F
from django.db.models.signals import post_delete, post_save

from crm_scorecard.accounts.models import Department

from . import models as m

TRACKED: tuple[type[models.Model], ...] = (
    Department,
    m.Customer,
    m.Employee,
    m.Product,
    m.Order,
    m.OrderLine,
    m.Lead,
    m.Interaction,
    m.Feedback,
    m.Complaint,
    m.EngagementAnswer,
)


def tables_touch(*changed: type[models.Model]) -> None:
    """Count one more change to each model's table."""
    for model in changed:
        table = model._meta.db_table
        updated = m.TableVersion.objects.filter(table=table).update(version=F("version") + 1)
        if not updated:
            m.TableVersion.objects.get_or_create(table=table, defaults={"version": 1})


def table_versions(tables: list[str]) -> dict[str, str]:
    """Each table's write count with its row's random token: `token:count`, and on PostgreSQL
    the count of statements its trigger saw: `token:count:statements`."""
    found = {
        t: f"{token}:{v}"
        for t, v, token in m.TableVersion.objects.values_list("table", "version", "token")
    }
    for table in tables:
        if table not in found:
            row, _ = m.TableVersion.objects.get_or_create(table=table)
            found[table] = f"{row.token}:{row.version}"
    for table, statements in _trigger_counts().items():
        if table in found:
            found[table] += f":{statements}"
    return found


def _trigger_counts() -> dict[str, int]:
    """PostgreSQL: each table's trigger sequence, as far as it has been drawn (0 before)."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequencename, COALESCE(last_value, 0) FROM pg_sequences "
            "WHERE schemaname = current_schema() AND sequencename LIKE %s",
            [r"crm\_changes\_%"],
        )
        return {name.removeprefix("crm_changes_"): value for name, value in cursor.fetchall()}


def _on_change(sender: type[models.Model], **_: Any) -> None:
    tables_touch(sender)


def connect() -> None:
    for model in TRACKED:
        for signal in (post_save, post_delete):
            signal.connect(_on_change, sender=model, dispatch_uid=f"crm-change-{model.__name__}")
