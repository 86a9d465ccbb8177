"""Record that CRM tables changed, so copies of them (the metrics engine's columnar mirror)
know to refresh. Saves and deletes through the ORM are caught by signals; bulk writes
(imports, seed, COPY) call `tables_touch` themselves."""

from __future__ import annotations

from typing import Any

from django.db import models
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
    """Each table's write count with its row's random token: `token:count`."""
    found = {
        t: f"{token}:{v}"
        for t, v, token in m.TableVersion.objects.values_list("table", "version", "token")
    }
    for table in tables:
        if table not in found:
            row, _ = m.TableVersion.objects.get_or_create(table=table)
            found[table] = f"{row.token}:{row.version}"
    return found


def _on_change(sender: type[models.Model], **_: Any) -> None:
    tables_touch(sender)


def connect() -> None:
    for model in TRACKED:
        for signal in (post_save, post_delete):
            signal.connect(_on_change, sender=model, dispatch_uid=f"crm-change-{model.__name__}")
