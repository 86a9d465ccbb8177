"""Customers written through the API go through the importer (`crm.imports.records_import`)
as a file of customers would, so the rules and the reasons for refusing a record are the
same; first each record is held to the caller's departments, which the importer (an
operator's tool) does not know about."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crm_scorecard.accounts.models import Level, User
from crm_scorecard.accounts.scope import Actor, departments_for
from crm_scorecard.crm.imports import ImportFileError, records_import
from crm_scorecard.crm.models import Customer
from crm_scorecard.crm.selectors import customers_visible
from crm_scorecard.errors import Invalid, NotAllowed
from crm_scorecard.metrics.api import refresh_mirror

COLUMNS = (
    "customer_id",
    "full_name",
    "department",
    "email",
    "phone",
    "street",
    "city",
    "region",
    "country",
    "postal_code",
    "birth_date",
    "segment",
    "acquisition_channel",
    "acquired_at",
    "status",
    "owner",
)
FIRST_ROW = 2  # the importer numbers rows as a file's: the header is row 1


def may_write_customers(user: Actor) -> bool:
    """Managers write the customers of their departments; executives any department's."""
    return isinstance(user, User) and (
        user.is_superuser or user.level in (Level.MANAGER, Level.EXECUTIVE)
    )


def customers_write(
    *, user: Actor, records: Sequence[dict[str, Any]], dry_run: bool = False
) -> dict[str, Any]:
    """Create or update customers (by `customer_id`) in the caller's departments. A record
    naming a department the caller cannot see, or the id of a customer outside them, is
    refused with the reason; the importer refuses the rest as it would a file's rows.
    Returns what was done: counts and each refused record (`index` in `records`) with its
    reasons, each naming the field."""
    if not may_write_customers(user):
        raise NotAllowed("Only managers and executives may write customers.")
    yours = {d.name.lower(): d.name for d in departments_for(user=user)}
    ids = [str(r.get("customer_id") or "") for r in records]
    # PostgreSQL cannot compare with a NUL either, so such ids are not even looked up.
    elsewhere = set(
        Customer.objects.filter(external_id__in=[i for i in ids if "\x00" not in i])
        .exclude(pk__in=customers_visible(user=user).values("pk"))
        .values_list("external_id", flat=True)
    )
    refused: dict[int, list[dict[str, str]]] = {}
    passed: list[int] = []
    for index, record in enumerate(records):
        problems = [
            {"field": column, "reason": "contains a NUL character (\\x00), which cannot be stored"}
            for column in COLUMNS
            if "\x00" in str(record.get(column) or "")
        ]
        if problems:  # the importer's words; nothing else about the record can be checked
            refused[index] = problems
            continue
        department = str(record.get("department") or "").strip()
        if department and department.lower() not in yours:
            names = ", ".join(sorted(yours.values())) or "none"
            problems.append(
                {
                    "field": "department",
                    "reason": f"no department named {department!r} among yours ({names})",
                }
            )
        if ids[index] in elsewhere:
            problems.append(
                {"field": "customer_id", "reason": f"{ids[index]!r} is not yours to write"}
            )
        if problems:
            refused[index] = problems
        else:
            passed.append(index)
    report: dict[str, Any] = {"imported": 0, "updated": 0, "rejected_rows": []}
    if passed:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for index in passed:
            writer.writerow(
                ["" if records[index].get(c) is None else records[index][c] for c in COLUMNS]
            )
        try:
            done = records_import(
                entity="customers",
                path=Path("api-customers.csv"),
                data=buffer.getvalue().encode("utf-8"),
                dry_run=dry_run,
            )
        except ImportFileError as exc:
            raise Invalid(str(exc)) from None
        report = done.as_dict()
        if not dry_run and (done.imported or done.updated):
            refresh_mirror()  # pages and metrics read the mirror: as the import command does
    for row in report["rejected_rows"]:
        index = passed[row["row"] - FIRST_ROW]
        refused.setdefault(index, []).extend(
            {"field": e["column"], "reason": e["reason"]} for e in row["errors"]
        )
    return {
        "dry_run": dry_run,
        "imported": report["imported"],
        "updated": report["updated"],
        "rejected": len(refused),
        "refused": [
            {"index": index, "customer_id": ids[index], "errors": refused[index]}
            for index in sorted(refused)
        ],
    }
